"""Which shell commands the terminal agent may run.

A command is allowed only when every simple command in it (``&&``/``|``/``;`` parts and the
insides of ``$(...)``, split by :func:`node0_ops.evals.shell.split_commands`) passes:

1. no forbidden pattern (:func:`node0_ops.evals.checks.find_forbidden`: ``pkill``, ``killall``,
   ``kill -9``, tmux kill/send-keys, every force push, ``--no-verify`` / ``commit -n`` /
   ``core.hooksPath``, ``rm -rf`` outside the work tree, raw SQL on beads, ``sudo``, package installs);
2. no raw-shell stand-in for ``gt``/``bd`` (:func:`node0_ops.evals.checks.find_raw_shell`: reading
   ``.beads`` files, ``tmux capture-pane``, ``mail``...);
3. no agent-only destructive git (decided here, not covered by the eval checks): ``git reset --hard``,
   ``git clean -f``, ``git branch -D``, ``git push --delete`` / ``:branch``, ``git stash clear|drop``,
   ``git checkout -- .`` / ``git restore .``, ``git config --global``;
4. no output redirection into files (``>``/``>>`` other than ``/dev/null``);
5. the program is ``gt``, ``bd``, ``git``, a read-only tool (:data:`READ_ONLY`, with ``find``
   without ``-delete``/``-exec`` and ``sed`` without ``-i``) or in ``extra_allowed`` (``--allow``).

Usage::

    policy = CommandPolicy(work_tree="/home/me/gt/gastown/polecats/toast")
    d = policy.check("git push --force origin main")
    d.allowed, d.rules, d.message     # False, ['force_push'], 'refused: force_push: ...'
"""

import os
import posixpath
from dataclasses import dataclass, field

from node0_ops.evals.checks import find_forbidden, find_raw_shell
from node0_ops.evals.conventions import git_sub, short_cluster_has
from node0_ops.evals.shell import split_commands

TOOLS = ("gt", "bd", "git")
READ_ONLY = ("ls", "cat", "head", "tail", "grep", "egrep", "fgrep", "rg", "wc", "pwd", "echo", "printf", "find",
             "tree", "stat", "file", "du", "df", "date", "whoami", "id", "hostname", "uname", "which", "type",
             "diff", "cmp", "sort", "uniq", "cut", "tr", "jq", "sed", "basename", "dirname", "realpath",
             "readlink", "true", "false", "test", "[", "cd", "nl", "column", "comm", "md5sum", "sha256sum")
_FIND_WRITES = {"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprintf", "-fls", "-fprint0"}
AGENT_RULES = {
    "git_reset_hard": "git reset --hard throws away work; commit or stash first",
    "git_clean_force": "git clean -f deletes untracked files; remove specific files instead",
    "git_branch_delete": "force-deleting branches loses commits; gt polecat nuke cleans polecat branches",
    "git_push_delete": "deleting remote branches is the refinery's job",
    "git_stash_drop": "dropping stashes loses work",
    "git_discard_all": "discarding every change in the tree loses work; restore specific files",
    "git_config_global": "the agent must not change global git configuration",
    "redirect_write": "writing files with > / >> is not allowed for the agent; use the role's tools",
    "find_writes": "find with -delete/-exec can change files; use plain find",
    "sed_in_place": "sed -i edits files; the agent only reads with sed",
    "not_allowed": "not on the agent's allowlist (gt, bd, git and read-only tools)",
    "unparsable": "the command could not be parsed as shell",
}


@dataclass
class Decision:
    """Outcome for one command: ``allowed``, the broken ``rules`` and their messages (``reasons``)."""

    command: str
    allowed: bool
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """``allowed`` or ``refused: rule: reason; ...`` (shown to the user and fed back to the model)."""
        if self.allowed:
            return "allowed"
        return "refused: " + "; ".join(f"{r}: {m}" for r, m in zip(self.rules, self.reasons))


def _git_rules(words: list[str]) -> list[str]:
    sub, args, _ = git_sub(words)
    out = []
    if sub == "reset" and "--hard" in args:
        out.append("git_reset_hard")
    if sub == "clean" and ("--force" in args or any(short_cluster_has(a, "f") for a in args)):
        out.append("git_clean_force")
    if sub == "branch" and ("-D" in args or ("--delete" in args and "--force" in args)):
        out.append("git_branch_delete")
    if sub == "push" and ("--delete" in args or "-d" in args or any(a.startswith(":") and len(a) > 1 for a in args)):
        out.append("git_push_delete")
    if sub == "stash" and args[:1] in (["drop"], ["clear"]):
        out.append("git_stash_drop")
    if (sub in ("checkout", "restore") and any(a in (".", "--", ":/") for a in args)
            and (sub == "restore" or "--" in args)):
        out.append("git_discard_all")
    if sub == "config" and ("--global" in args or "--system" in args):
        out.append("git_config_global")
    return out


class CommandPolicy:
    """Allow/refuse shell commands for the agent (module docstring).

    Args:
        work_tree: the agent's work tree (absolute); ``rm -rf`` is allowed only under it.
        extra_allowed: more programs to allow (e.g. ``("npm", "make", "go", "pytest")``).
    """

    def __init__(self, work_tree: str | os.PathLike | None = None, extra_allowed: tuple[str, ...] | list[str] = ()):
        self.work_tree = posixpath.normpath(str(work_tree)) if work_tree else None
        self.allowed_programs = frozenset(TOOLS + READ_ONLY + tuple(extra_allowed))

    def check(self, command: str) -> Decision:
        """Decide one command line (may hold several simple commands)."""
        rules: list[tuple[str, str]] = []

        def add(rule: str, message: str) -> None:
            if rule not in {r for r, _ in rules}:
                rules.append((rule, message))

        try:
            segments = split_commands(command)
        except Exception as exc:  # the splitter raises on unbalanced quotes and the like
            return Decision(command, False, ["unparsable"], [f"{AGENT_RULES['unparsable']} ({exc})"])
        for v in find_forbidden(segments, work_tree=self.work_tree):
            add(v.rule, v.message)
        for v in find_raw_shell(segments):
            if not (v.rule == "process_kill" and rules):  # already refused as pkill/killall/kill -9
                add(v.rule, f"use gt/bd instead: {v.message}")
        for seg in segments:
            words = seg.words
            if not words:
                continue
            prog = os.path.basename(words[0])
            if prog == "git":
                for rule in _git_rules(words):
                    add(rule, AGENT_RULES[rule])
            if prog == "find" and _FIND_WRITES & set(words[1:]):
                add("find_writes", AGENT_RULES["find_writes"])
            if prog == "sed" and any(w == "--in-place" or w.startswith("--in-place=") or short_cluster_has(w, "i")
                                     for w in words[1:]):
                add("sed_in_place", AGENT_RULES["sed_in_place"])
            for op, target in seg.redirects:
                if op.strip("&0123456789") in (">", ">>", ">|") and target not in ("/dev/null", "&1", "&2", "1", "2"):
                    add("redirect_write", f"{AGENT_RULES['redirect_write']} ({op} {target})")
            if prog not in self.allowed_programs and not rules:
                add("not_allowed", f"`{prog}` is {AGENT_RULES['not_allowed']}; ask the overseer or start the agent "
                                   f"with --allow {prog}")
        return Decision(command, not rules, [r for r, _ in rules], [m for _, m in rules])
