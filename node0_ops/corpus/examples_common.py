"""Helpers shared by the SFT example generators (``examples_*.py``).

Role cards (short system prompts), actor/path -> role mapping, OpenAI-shape
message builders and ``gt``/``bd``/``git`` command classification.

Usage::

    from node0_ops.corpus.examples_common import role_card, actor_role, bash_call
    msgs = [system(role_card("polecat", "gastown")), user("Claim gt-abc"),
            assistant("Claiming it.", [bash_call("bd update gt-abc --claim", "c1")])]

Formats: roles, actors and session layout follow ``shared/docs/gastown-formats.md``
§2.2 (actors), §3.1 (roles), §3.4 (town layout); the message shape is the OpenAI
chat format with ``tool_calls`` (``{"id","type":"function","function":{"name","arguments"}}``).
"""

import json
import re
import shlex

from node0_ops.corpus.schema import ROLES

# One line per role: what it owns (from internal/config/roles/*.toml and the role templates).
ROLE_DUTIES = {
    "mayor": "the town coordinator: you plan work, file and dispatch beads (`gt sling`), track convoys and answer escalations",
    "deacon": "the town patrol daemon: you run mol-deacon-patrol cycles, check agent health and dispatch dogs",
    "boot": "the deacon's watchdog: you triage whether the deacon is alive and wake or restart it through gt commands",
    "witness": "the rig's polecat supervisor: you run mol-witness-patrol, nudge stuck polecats and escalate problems",
    "refinery": "the rig's merge queue processor: you run mol-refinery-patrol, rebase, gate and merge MRs to the default branch",
    "polecat": "an ephemeral rig worker: you work the bead on your hook on your polecat branch and finish with `gt done`",
    "crew": "a long-lived rig engineer working in a full clone on tasks from the overseer",
    "dog": "a deacon helper: you run the maintenance formula on your hook (backups, reaping, doctor checks) and report back",
}


def role_card(role: str, rig: str | None = None) -> str:
    """Short system prompt for ``role`` (one of :data:`ROLES`) in ``rig``.

    Not the 15K ``gt prime`` output: three sentences naming the role, its rig and
    the one rule every role shares (use gt/bd, never raw process or database tools).

    Raises:
        ValueError: ``role`` is not in :data:`ROLES`.
    """
    if role not in ROLES:
        raise ValueError(f"role_card: role={role!r} is not one of {ROLES}")
    where = f" in rig `{rig}`" if rig else ""
    return (
        f"You are the Gas Town {role}{where}: {ROLE_DUTIES[role]}. "
        "Work through `gt` and `bd` commands and follow the town conventions; "
        "never kill sessions with pkill/tmux or edit the beads database by hand."
    )


_ACTOR_RE = re.compile(r"^(?P<rig>[\w.-]+)/(?P<kind>polecats|crew)/(?P<name>[\w.-]+)$")
_RIG_ROLE_RE = re.compile(r"^(?P<rig>[\w.-]+)/(?P<role>witness|refinery)/?$")


def actor_role(actor: str | None) -> tuple[str | None, str | None]:
    """Map a beads/gt actor string to ``(role, rig)``; ``(None, None)`` when unknown.

    Examples: ``gastown/polecats/furiosa`` -> (polecat, gastown); ``gastown/witness``
    -> (witness, gastown); ``mayor`` / ``mayor/`` -> (mayor, None); ``deacon-boot`` /
    ``deacon/boot`` -> (boot, None); ``deacon/dogs/alpha`` / ``dog`` -> (dog, None).
    Human actors (``stevey``, emails) give (None, None).
    """
    a = (actor or "").strip()
    if not a:
        return None, None
    m = _ACTOR_RE.match(a)
    if m:
        return ("polecat" if m["kind"] == "polecats" else "crew"), m["rig"]
    m = _RIG_ROLE_RE.match(a)
    if m:
        return m["role"], m["rig"]
    low = a.lower().rstrip("/")
    if low in ("deacon/boot", "deacon-boot", "boot", "hq-boot"):
        return "boot", None
    if low in ("dog", "dogs") or low.startswith(("deacon/dogs/", "hq-dog-")):
        return "dog", None
    if low in ("mayor", "hq-mayor", "deacon", "hq-deacon"):
        return low.removeprefix("hq-"), None
    return None, None


def role_from_path(path: str | None) -> tuple[str | None, str | None]:
    """Guess ``(role, rig)`` from a town path or a session cwd (town layout, formats doc §3.4).

    ``.../<rig>/polecats/<name>/...`` -> polecat; ``.../<rig>/crew/<name>`` -> crew;
    ``.../<rig>/witness`` -> witness; ``.../<rig>/refinery/rig`` -> refinery;
    ``.../deacon/dogs/<name>`` -> dog; ``.../deacon/boot`` -> boot; ``.../deacon`` -> deacon;
    ``.../mayor`` (town level) -> mayor; ``roles/<role>.md.tmpl`` / ``directives/<role>.md``
    -> that role. Returns ``(None, None)`` when nothing matches.
    """
    parts = [p for p in re.split(r"[\\/]+", path or "") if p]
    stem = re.sub(r"(\.md)?\.tmpl$|\.md$|\.toml$", "", parts[-1]) if parts else ""
    if len(parts) >= 2 and parts[-2] in ("roles", "directives") and stem in ROLES:
        return stem, None
    for i, p in enumerate(parts):
        rig = parts[i - 1] if i else None
        if p == "polecats" and i + 1 < len(parts):
            return "polecat", rig
        if p == "crew" and i + 1 < len(parts):
            return "crew", rig
        if p in ("witness", "refinery") and rig not in (None, "roles", "templates"):
            return p, rig
        if p == "deacon":
            if i + 1 < len(parts) and parts[i + 1] == "dogs":
                return "dog", None
            if i + 1 < len(parts) and parts[i + 1] == "boot":
                return "boot", None
            if i + 1 == len(parts):
                return "deacon", None
    if parts and parts[-1] == "mayor":
        return "mayor", None
    return None, None


# ---- OpenAI-shape messages -------------------------------------------------

def system(text: str) -> dict:
    """``{"role": "system", "content": text}``."""
    return {"role": "system", "content": text}


def user(text: str) -> dict:
    """``{"role": "user", "content": text}``."""
    return {"role": "user", "content": text}


def assistant(text: str = "", tool_calls: list[dict] | None = None) -> dict:
    """Assistant message; ``tool_calls`` (OpenAI shape) only when given."""
    msg = {"role": "assistant", "content": text}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def tool(call_id: str, content: str) -> dict:
    """Tool result message answering call ``call_id``."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def tool_call(call_id: str, name: str, args: dict) -> dict:
    """One OpenAI tool call; ``arguments`` is a JSON string as the API requires."""
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}


def bash_call(command: str, call_id: str) -> dict:
    """A Claude Code ``Bash`` tool call running ``command``."""
    return tool_call(call_id, "Bash", {"command": command})


def call_command(call: dict) -> str | None:
    """The shell command of a tool call (``Bash`` with ``{"command": ...}``), else None."""
    fn = call.get("function") or {}
    try:
        args = json.loads(fn.get("arguments") or "{}")
    except json.JSONDecodeError:
        return None
    cmd = args.get("command") if isinstance(args, dict) else None
    return cmd if isinstance(cmd, str) else None


def render_action(msg: dict) -> str:
    """Render an assistant message (text + tool calls) as one string for DPO chosen/rejected.

    Commands are shown as ``bash`` fenced blocks; other tools as ``name(arguments)``.
    """
    out = [msg.get("content") or ""]
    for call in msg.get("tool_calls") or []:
        cmd = call_command(call)
        if cmd is not None:
            out.append(f"```bash\n{cmd}\n```")
        else:
            fn = call.get("function") or {}
            out.append(f"{fn.get('name')}({fn.get('arguments')})")
    return "\n".join(p for p in out if p).strip()


# ---- command classification -----------------------------------------------

def split_command(cmd: str) -> list[list[str]]:
    """Split a shell line into simple commands (on ``&&``, ``||``, ``;``, ``|``), each shlex-split.

    Unparseable input (unbalanced quotes) falls back to whitespace splitting.
    """
    try:
        lex = shlex.shlex(cmd, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:
        tokens = cmd.split()
    out, cur = [], []
    for t in tokens:
        if t and set(t) <= set(";&|"):
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


_TASK_BY_PREFIX = [
    (("gt", "formula"), "formula"), (("bd", "cook"), "formula"), (("bd", "formula"), "formula"),
    (("bd", "mol"), "formula"), (("gt", "mol"), "formula"),
    (("gt", "patrol"), "patrol-decision"), (("gt", "nudge"), "patrol-decision"),
    (("gt", "peek"), "patrol-decision"), (("gt", "polecat"), "patrol-decision"),
    (("gt", "escalate"), "patrol-decision"), (("gt", "deacon"), "patrol-decision"),
    (("gt", "witness"), "patrol-decision"), (("gt", "dog"), "patrol-decision"),
    (("gt", "session"), "patrol-decision"), (("gt", "boot"), "patrol-decision"),
    (("gt", "sling"), "planning"), (("gt", "convoy"), "planning"),
    (("gh", "pr", "review"), "code-review"), (("gt", "mq"), "git-workflow"),
    (("gt", "done"), "git-workflow"), (("git",), "git-workflow"), (("gh",), "git-workflow"),
    (("bd",), "bead-management"), (("gt", "bead"), "bead-management"),
]


def command_task(cmd: str) -> str | None:
    """The TASKS entry a shell command belongs to, or None for generic commands (ls, go test)."""
    for argv in split_command(cmd):
        argv = [a for a in argv if "=" not in a or a.startswith("-")]  # drop VAR=x prefixes
        for prefix, task in _TASK_BY_PREFIX:
            if tuple(argv[: len(prefix)]) == prefix:
                return task
    return None


DEFAULT_TASK = {"mayor": "planning", "deacon": "patrol-decision", "boot": "patrol-decision",
                "witness": "patrol-decision", "refinery": "git-workflow", "polecat": "git-workflow",
                "crew": "git-workflow", "dog": "patrol-decision"}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a ``[... N chars cut]`` marker."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} chars cut]"


def first_paragraph(text: str, limit: int = 600) -> str:
    """First non-empty, non-heading paragraph of markdown ``text`` (at most ``limit`` chars, cut on a word)."""
    for para in re.split(r"\n\s*\n", (text or "").strip()):
        p = para.strip()
        if p and not p.startswith("#"):
            p = re.sub(r"\s+", " ", p)
            if len(p) > limit:
                p = p[:limit].rsplit(" ", 1)[0] + " ..."
            return p
    return ""
