"""Command specs for ``bd`` (beads) and ``gt`` (Gas Town), used by the command validator.

Sources (facts only; no text copied):
- ``bd``: beads ``docs/CLI_REFERENCE.md`` (generated from ``bd help --all``, snapshot
  ``fbcee6c6``): every command path, its cobra usage line, aliases and flags with pflag
  value types. Enum value sets come from ``internal/types/types.go`` as summarised in
  ``shared/docs/gastown-formats.md`` §2.1 and from the flags' help texts.
- ``gt``: ``shared/docs/gastown-formats.md`` §3.2 (command groups, key subcommands, flags
  of sling/done/prime), gastown ``docs/reference.md``, role templates and the cobra
  ``init()`` blocks of ``internal/cmd/{mail,sling,done,nudge,polecat}.go``. The ``gt``
  surface is larger than what is documented: commands marked *open* (flag list not known
  completely) accept unknown flags with a warning instead of an error.

Table format (compact, one entry per command path)::

    "dep add": ("[issue-id] [depends-on-id]", "blocked-by= depends-on= t/type=dep_type")

- usage: cobra usage without the command path; ``<x>`` required, ``[x]`` optional,
  ``...`` variadic; flag-looking parts (``--of <canonical>``) are ignored.
- flags: space separated ``[short/]long[=TYPE]``. No ``=`` means bool; ``=`` alone is a
  string; ``=int``, ``=float``, ``=duration``, ``=strings`` (comma list, repeatable),
  ``=array`` (repeatable string), or ``=<enum name>`` from :data:`ENUMS`/:data:`VALUE_CHECKS`.
  A trailing ``+`` marks an *open* command (flags not all known).
- optional third item: aliases of the last path element.

Usage::

    from node0_ops.evals.cli_spec import lookup, ENUMS
    spec = lookup("bd", ("dep", "add"))
    spec.flags["blocked-by"].vtype   # 'string'
"""

import re
from dataclasses import dataclass, field

# --- value sets ---------------------------------------------------------------------------

STATUSES = ("open", "in_progress", "blocked", "deferred", "closed", "pinned", "hooked")
ISSUE_TYPES_BUILTIN = ("bug", "feature", "task", "epic", "chore", "decision", "message", "molecule",
                       "gate", "spike", "story", "milestone", "event")
ISSUE_TYPES_GASTOWN = ("agent", "role", "rig", "convoy", "slot", "queue", "merge-request")
ISSUE_TYPE_ALIASES = ("enhancement", "feat", "dec", "adr")
FILTER_TYPE_ALIASES = ("mr", "mol")
DEP_TYPES = ("blocks", "parent-child", "conditional-blocks", "waits-for", "related", "discovered-from",
             "replies-to", "relates-to", "duplicates", "supersedes", "authored-by", "assigned-to",
             "approved-by", "attests", "tracks", "until", "caused-by", "validates", "delegated-from")
WISP_TYPES = ("heartbeat", "ping", "patrol", "gc_report", "recovery", "error", "escalation")

ENUMS: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "issue_type": ISSUE_TYPES_BUILTIN + ISSUE_TYPES_GASTOWN + ISSUE_TYPE_ALIASES,
    "dep_type": DEP_TYPES,
    "wisp_type": WISP_TYPES,
    "mol_type": ("swarm", "patrol", "work"),
    "waits_for_gate": ("all-children", "any-children"),
    "dep_direction": ("down", "up"),
    "tree_direction": ("down", "up", "both"),
    "ready_sort": ("priority", "hybrid", "oldest"),
    "list_sort": ("priority", "created", "updated", "closed", "status", "id", "title", "type", "assignee"),
    "formula_type": ("workflow", "expansion", "aspect", "convoy"),
    "cook_mode": ("compile", "runtime"),
    "gate_type": ("human", "timer", "gh:run", "gh:pr"),
    "gate_check_type": ("gh", "gh:run", "gh:pr", "timer", "bead", "all"),
    "dolt_auto_commit": ("off", "on", "batch"),
    # gt
    "done_status": ("COMPLETED", "ESCALATED", "DEFERRED"),
    "cleanup_status": ("clean", "uncommitted", "unpushed", "stash", "unknown"),
    "severity": ("critical", "high", "medium", "low"),
    "nudge_mode": ("wait-idle", "queue", "immediate"),
    "nudge_priority": ("normal", "urgent"),
    "mail_type": ("task", "scavenge", "notification", "reply"),
    "merge_strategy": ("direct", "mr", "local"),
}
# Enums compared case-insensitively (gt upper-cases these before checking).
CASE_INSENSITIVE = frozenset({"done_status", "severity"})

_PRIORITY_RE = re.compile(r"^(?:[0-4]|[Pp][0-4])$")


def _check_priority(value: str) -> str | None:
    if _PRIORITY_RE.match(value):
        return None
    return f"priority must be 0-4 or P0-P4 (0 = highest), got {value!r}"


def _check_comma_enum(value: str, allowed: tuple[str, ...], what: str, extra: tuple[str, ...] = ()) -> str | None:
    bad = [v for v in value.split(",") if v.strip() not in allowed + extra]
    if bad:
        return f"{what} {', '.join(map(repr, bad))} not one of {', '.join(allowed + extra)}"
    return None


def _check_int_range(lo: int, hi: int, what: str):
    def check(value: str) -> str | None:
        try:
            n = int(value)
        except ValueError:
            return f"{what} must be an integer {lo}-{hi}, got {value!r}"
        return None if lo <= n <= hi else f"{what} must be {lo}-{hi}, got {n}"
    return check


# Value checks beyond plain enums: name -> fn(value) -> error message or None.
VALUE_CHECKS = {
    "priority": _check_priority,
    "int_priority": _check_int_range(0, 4, "priority"),
    "status_filter": lambda v: _check_comma_enum(v, STATUSES, "status", ("all",)),
    "type_filter": lambda v: _check_comma_enum(v, ENUMS["issue_type"], "type", FILTER_TYPE_ALIASES),
}
_BASIC_TYPES = ("bool", "string", "int", "float", "duration", "strings", "array")
_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


def check_value(vtype: str, value: str) -> str | None:
    """Check one flag value against its type.

    Args:
        vtype: a basic type (``int``, ``float``, ``duration``, ``string``, ``strings``, ``array``,
            ``bool``), an enum name from :data:`ENUMS`, or a name from :data:`VALUE_CHECKS`.
        value: the raw string from the command line.

    Returns:
        None when valid, else a human-readable reason (no flag name; the caller adds it).
    """
    if vtype in ("string", "strings", "array"):
        return None
    if vtype == "bool":
        return None if value.lower() in ("true", "false", "1", "0", "t", "f") else f"expects true/false, got {value!r}"
    if vtype == "int":
        return None if re.fullmatch(r"[+-]?\d+", value) else f"expects an integer, got {value!r}"
    if vtype == "float":
        try:
            float(value)
            return None
        except ValueError:
            return f"expects a number, got {value!r}"
    if vtype == "duration":
        return None if _DURATION_RE.match(value) else f"expects a Go duration like 30m or 1h, got {value!r}"
    if vtype in VALUE_CHECKS:
        return VALUE_CHECKS[vtype](value)
    if vtype in ENUMS:
        allowed = ENUMS[vtype]
        if vtype in CASE_INSENSITIVE:
            ok = value.lower() in {a.lower() for a in allowed}
        else:
            ok = value in allowed
        return None if ok else f"{value!r} is not one of {'|'.join(allowed)}"
    raise KeyError(f"unknown flag value type {vtype!r} in the command spec table")


# --- bd (from beads docs/CLI_REFERENCE.md) -----------------------------------------------

BD_TABLE: dict[str, tuple] = {
    'assign': ('<id> <name>', ''),
    'children': ('<parent-id>', 'pretty'),  # --pretty: used in the reference's examples
    'close': ('[id...]', 'claim-next continue f/force no-auto r/reason= reason-file= session= suggest-next', ('done',)),
    'comment': ('<id> [text...]', 'file= stdin'),
    'comments': ('[issue-id]', 'local-time'),
    'comments add': ('[issue-id] [text]', 'a/author= f/file='),
    'comments list': ('', ''),
    'create': ('[title]', (
        'acceptance= append-notes= a/assignee= body-file= context= defer= deps=strings '
        'd/description= design= design-file= dry-run due= ephemeral e/estimate=int '
        'event-actor= event-category= event-payload= event-target= external-ref= '
        'f/file= force graph= id= l/labels=strings metadata= mol-type=mol_type '
        'no-history no-inherit-labels notes= parent= p/priority=priority repo= silent '
        'skills= spec-id= stdin title= t/type=issue_type validate waits-for= '
        'waits-for-gate=waits_for_gate wisp-type=wisp_type '
        'rig= prefix= '), ('new',)),  # --rig/--prefix: routing flags used in Gas Town's role templates
    'create-form': ('', 'parent='),
    'delete': ('[issue-id...]', 'cascade dry-run f/force from-file='),  # ids or --from-file (rule)
    'edit': ('[id]', 'acceptance description design notes title'),
    'gate': ('', ''),
    'gate add-waiter': ('<gate-id> <waiter>', ''),
    'gate check': ('', 'dry-run e/escalate l/limit=int t/type=gate_check_type'),
    'gate create': ('', 'await-id= blocks= r/reason= timeout= t/type=gate_type'),
    'gate discover': ('', 'b/branch= n/dry-run l/limit=int a/max-age=duration'),
    'gate list': ('', 'a/all n/limit=int'),
    'gate resolve': ('<gate-id>', 'r/reason='),
    'gate show': ('<gate-id>', ''),
    'label': ('', ''),
    'label add': ('[issue-id...] [label]', ''),
    'label list': ('[issue-id]', ''),
    'label list-all': ('', ''),
    'label propagate': ('[parent-id] [label]', ''),
    'label remove': ('[issue-id...] [label]', ''),
    'link': ('<id1> <id2>', 't/type=dep_type'),
    'list': ('', (
        'all a/assignee= closed-after= closed-before= created-after= created-before= '
        'defer-after= defer-before= deferred desc-contains= due-after= due-before= '
        'empty-description exclude-label=strings exclude-type=strings flat format= '
        'has-metadata-key= id= include-gates include-infra include-templates '
        'l/label=strings label-any=strings label-pattern= label-regex= n/limit=int '
        'long metadata-field=array mol-type=mol_type no-assignee no-labels no-pager '
        'no-parent no-pinned notes-contains= overdue parent= pinned pretty '
        'p/priority=priority priority-max=priority priority-min=priority ready '
        'r/reverse skip-labels sort=list_sort spec= s/status=status_filter title= '
        'title-contains= tree t/type=type_filter updated-after= updated-before= '
        'w/watch wisp-type=wisp_type ')),
    'merge-slot': ('', ''),
    'merge-slot acquire': ('', 'holder= wait'),
    'merge-slot check': ('', ''),
    'merge-slot create': ('', ''),
    'merge-slot release': ('', 'holder='),
    'note': ('<id> [text...]', 'file= stdin'),
    'priority': ('<id> <n>', ''),
    'promote': ('<wisp-id>', 'r/reason='),
    'q': ('[title]', 'l/labels=strings p/priority=priority t/type=issue_type'),
    'query': ('[expression]', 'a/all n/limit=int long parse-only r/reverse sort='),
    'reopen': ('[id...]', 'r/reason='),
    'search': ('[query]', (
        'a/assignee= closed-after= closed-before= created-after= created-before= '
        'desc-contains= empty-description external-contains= has-metadata-key= '
        'l/label=strings label-any=strings n/limit=int long metadata-field=array '
        'no-assignee no-labels notes-contains= priority-max=priority '
        'priority-min=priority query= r/reverse sort=list_sort s/status=status_filter '
        't/type=type_filter updated-after= updated-before= ')),
    'set-state': ('<issue-id> <dimension>=<value>', 'reason='),
    'show': ('[id...] [--id=<id>...] [--current]', (
        'as-of= children current id=array include-comments include-dependents '
        'local-time long refs short thread w/watch '), ('view',)),
    'state': ('<issue-id> <dimension>', ''),
    'state list': ('<issue-id>', ''),
    'tag': ('<id> <label>', ''),
    'todo': ('', ''),
    'todo add': ('<title>', 'd/description= p/priority=priority'),
    'todo done': ('<id> [<id>...]', 'reason='),
    'todo list': ('', 'all'),
    'update': ('[id...]', (
        'acceptance= add-label=strings allow-empty-description append-notes= '
        'a/assignee= await-id= body-file= claim defer= d/description= design= '
        'design-file= due= ephemeral e/estimate=int external-ref= history metadata= '
        'no-history notes= parent= persistent p/priority=priority remove-label=strings '
        'session= set-labels=strings set-metadata=array spec-id= s/status=status stdin '
        'title= t/type=issue_type unset-metadata=array ')),
    'count': ('', (
        'a/assignee= by-assignee by-label by-priority by-status by-type closed-after= '
        'closed-before= created-after= created-before= desc-contains= '
        'empty-description id= l/label=strings label-any=strings no-assignee no-labels '
        'notes-contains= p/priority=priority priority-max=priority '
        'priority-min=priority s/status=status_filter title= title-contains= '
        't/type=type_filter updated-after= updated-before= ')),
    'diff': ('<from-ref> <to-ref>', ''),
    'find-duplicates': ('', 'n/limit=int method= model= s/status=status_filter threshold=float', ('find-dups',)),
    'history': ('<id>', 'limit=int'),
    'lint': ('[issue-id...]', 's/status=status_filter t/type=type_filter'),
    'stale': ('', 'd/days=int n/limit=int s/status=status_filter'),
    'status': ('', 'all assigned no-activity', ('stats',)),
    'statuses': ('', ''),
    'types': ('', ''),
    'dep': ('[issue-id]', 'b/blocks= no-cycle-check'),
    'dep add': ('[issue-id] [depends-on-id]', 'blocked-by= depends-on= file= no-cycle-check t/type=dep_type'),
    'dep cycles': ('', ''),
    'dep list': ('[issue-id...]', 'direction=dep_direction t/type=dep_type'),
    'dep relate': ('<id1> <id2>', ''),
    'dep remove': ('[issue-id] [depends-on-id]', '', ('rm',)),
    'dep tree': ('[issue-id]', (
        'direction=tree_direction format= d/max-depth=int depth=int reverse show-all-paths '
        'status=status ')),
    'dep unrelate': ('<id1> <id2>', ''),
    'relate': ('<id1> <id2>', ''),  # top-level forms shown in the dep relate/unrelate examples
    'unrelate': ('<id1> <id2>', ''),
    'duplicate': ('<id> --of <canonical>', 'of='),
    'duplicates': ('', 'auto-merge dry-run'),
    'epic': ('', ''),
    'epic close-eligible': ('', 'dry-run'),
    'epic status': ('', 'eligible-only'),
    'graph': ('[issue-id]', 'all box compact dot html'),
    'graph check': ('', ''),
    'supersede': ('<id> --with <new>', 'with='),
    'swarm': ('', ''),
    'swarm create': ('[epic-id]', 'coordinator= force'),
    'swarm list': ('', ''),
    'swarm status': ('[epic-or-swarm-id]', ''),
    'swarm validate': ('[epic-id]', 'verbose'),
    'backup': ('', ''),
    'backup init': ('<path>', '', ('add',)),
    'backup remove': ('', '', ('rm',)),
    'backup restore': ('[path]', 'force'),
    'backup status': ('', ''),
    'backup sync': ('', ''),
    'branch': ('[name]', ''),
    'export': ('', 'all include-infra include-memories o/output= scrub'),
    'federation': ('', ''),
    'import': ('[file|-]', 'dedup dry-run i/input='),
    'restore': ('<issue-id>', 'json'),
    'vc': ('', ''),
    'vc commit': ('', 'm/message= stdin'),
    'vc merge': ('<branch>', 'strategy='),
    'vc status': ('', ''),
    'bootstrap': ('', 'dry-run non-interactive y/yes'),
    'config': ('', ''),
    'config apply': ('', 'dry-run'),
    'config drift': ('', ''),
    'config get': ('<key>', ''),
    'config list': ('', ''),
    'config set': ('<key> <value>', 'force-git-tracked'),
    'config set-many': ('<key=value>...', 'force-git-tracked'),
    'config show': ('', 'source='),
    'config unset': ('<key>', ''),
    'config validate': ('', ''),
    'context': ('', ''),
    'dolt': ('', ''),
    'dolt clean-databases': ('', 'dry-run'),
    'dolt commit': ('', 'm/message='),
    'dolt killall': ('', ''),
    'dolt pull': ('', 'remote='),
    'dolt push': ('', 'force remote='),
    'dolt remote': ('', ''),
    'dolt remote add': ('<name> <url>', ''),
    'dolt remote list': ('', ''),
    'dolt remote remove': ('<name>', 'force'),
    'dolt set': ('<key> <value>', 'update-config'),
    'dolt show': ('', ''),
    'dolt start': ('', ''),
    'dolt status': ('', ''),
    'dolt stop': ('', 'force'),
    'dolt test': ('', ''),
    'forget': ('<key>', ''),
    'hooks': ('', ''),
    'hooks install': ('', 'beads chain force shared'),
    'hooks list': ('', ''),
    'hooks run': ('<hook-name> [args...]', ''),
    'hooks uninstall': ('', ''),
    'human': ('', ''),
    'human dismiss': ('<issue-id>', 'reason='),
    'human list': ('', 's/status='),
    'human respond': ('<issue-id>', 'r/response='),
    'human stats': ('', ''),
    'info': ('', 'json schema thanks whats-new'),
    'init': ('', (
        'agents-file= agents-profile= agents-template= backend= contributor database= '
        'debug destroy-token= discard-remote external force from-jsonl non-interactive '
        'p/prefix= proxied-server proxied-server-config-path= '
        'proxied-server-external-host= proxied-server-external-keep-alive=duration '
        'proxied-server-external-port=int proxied-server-external-socket-path= '
        'proxied-server-external-tls proxied-server-external-tls-cert-path= '
        'proxied-server-external-tls-key-path= proxied-server-external-user= '
        'proxied-server-log-path= proxied-server-root-path= q/quiet reinit-local '
        'remote= role= server server-host= server-port=int server-socket= server-user= '
        'setup-exclude shared-server skip-agents skip-hooks stealth team ')),
    'kv': ('', ''),
    'kv clear': ('<key>', ''),
    'kv get': ('<key>', ''),
    'kv list': ('', ''),
    'kv set': ('<key> <value>', ''),
    'memories': ('[search]', ''),
    'onboard': ('', ''),
    'prime': ('', 'export full hook-json mcp memories-only stealth'),
    'quickstart': ('', ''),
    'recall': ('<key>', ''),
    'remember': ('"<insight>"', 'key='),
    'setup': ('[recipe]', 'add= check global list o/output= print project remove stealth'),
    'where': ('', ''),
    'batch': ('', 'dry-run f/file= m/message='),
    'compact': ('', (  # flags beyond the flag list are from the reference's own examples
        'days=int dry-run f/force dolt analyze apply auto all stats id= summary= json')),
    'doctor': ('[path]', (
        'agent check= check-health clean deep dry-run fix fix-child-parent force source= '
        'i/interactive migration= orchestrator orchestrator-duplicates-threshold=int '
        'o/output= perf server v/verbose y/yes ')),
    'flatten': ('', 'dry-run f/force'),
    'gc': ('', 'dry-run f/force older-than=int skip-decay skip-dolt'),
    'migrate': ('', 'dry-run inspect json update-repo-id yes'),
    'migrate hooks': ('[path]', 'apply dry-run json yes'),
    'migrate issues': ('', (
        'dry-run from= id=strings ids-file= include= label=strings priority=int '
        'status= strict to= type= within-from-only yes ')),
    'migrate schema': ('', 'json'),
    'migrate sync': ('<branch>', 'dry-run json'),
    'ping': ('', ''),
    'preflight': ('', 'check fix json skip-lint'),
    'prune': ('', 'dry-run f/force older-than= pattern='),
    'purge': ('', 'dry-run f/force older-than= pattern='),
    'rename-prefix': ('<new-prefix>', 'dry-run repair'),
    'rules': ('', ''),
    'rules audit': ('', 'path= threshold=float'),
    'rules compact': ('', 'auto dry-run group=strings path='),
    'sql': ('<query>', 'csv'),
    'upgrade': ('', ''),
    'upgrade ack': ('', ''),
    'upgrade review': ('', ''),
    'upgrade status': ('', ''),
    'worktree': ('', ''),
    'worktree create': ('<name> [--branch=<branch>]', 'branch='),
    'worktree info': ('', ''),
    'worktree list': ('', ''),
    'worktree remove': ('<name>', 'force'),
    'admin': ('', ''),
    'admin cleanup': ('', 'cascade dry-run ephemeral f/force older-than=int'),
    'admin compact': ('', (
        'actor= all analyze apply auto batch-size=int dolt dry-run force id= json '
        'limit=int stats summary= tier=int workers=int ')),
    'admin reset': ('', 'force'),
    'jira': ('', ''),
    'jira pull': ('[refs...]', 'dry-run'),
    'jira push': ('[bead-ids...]', 'dry-run'),
    'jira status': ('', ''),
    'jira sync': ('', (
        'create-only dry-run issues= parent= prefer-jira prefer-local project=strings '
        'pull push state= ')),
    'linear': ('', ''),
    'linear pull': ('[refs...]', 'dry-run relations'),
    'linear push': ('[bead-ids...]', 'dry-run'),
    'linear status': ('', ''),
    'linear sync': ('', (
        'create-only dry-run exclude-type=strings include-ephemeral issues= milestones '
        'no-wait parent= prefer-linear prefer-local pull pull-if-stale push relations '
        'state= team=strings threshold=duration type=strings update-refs ')),
    'linear teams': ('', ''),
    'repo': ('', ''),
    'repo add': ('<path>', 'json'),
    'repo list': ('', 'json'),
    'repo remove': ('<path>', 'json'),
    'repo sync': ('', 'json verbose'),
    'ado': ('', ''),
    'ado projects': ('', ''),
    'ado pull': ('[refs...]', 'dry-run'),
    'ado push': ('[bead-ids...]', 'dry-run'),
    'ado status': ('', ''),
    'ado sync': ('', (
        'area-path= bootstrap-match dry-run issues= iteration-path= no-create parent= '
        'prefer-ado prefer-local prefer-newer project=strings pull-only push-only '
        'reconcile states= types= ')),
    'audit': ('', ''),
    'audit label': ('<entry-id>', 'label= reason='),
    'audit record': ('', 'error= exit-code=int issue-id= kind= model= prompt= response= stdin tool-name='),
    'blocked': ('', 'parent='),
    'completion': ('', ''),
    'completion bash': ('', 'no-descriptions'),
    'completion fish': ('', 'no-descriptions'),
    'completion powershell': ('', 'no-descriptions'),
    'completion zsh': ('', 'no-descriptions'),
    'cook': ('<formula-file>', 'dry-run force mode=cook_mode persist prefix= search-path=strings var=array'),
    'defer': ('[id...]', 'until='),
    'formula': ('', ''),
    'formula convert': ('[formula-name|path]', 'all delete stdout'),  # name or --all (rule)
    'formula list': ('', 'type=formula_type'),
    'formula show': ('<formula-name>', ''),
    'github': ('', ''),
    'github pull': ('[refs...]', 'dry-run'),
    'github push': ('[bead-ids...]', 'dry-run'),
    'github repos': ('', ''),
    'github status': ('', ''),
    'github sync': ('', (
        'dry-run issues= parent= prefer-github prefer-local prefer-newer pull-only '
        'push-only ')),
    'gitlab': ('', ''),
    'gitlab projects': ('', ''),
    'gitlab pull': ('[refs...]', 'dry-run'),
    'gitlab push': ('[bead-ids...]', 'dry-run'),
    'gitlab status': ('', ''),
    'gitlab sync': ('', (
        'assignee= dry-run exclude-type= issues= label= milestone= no-ephemeral '
        'parent= prefer-gitlab prefer-local prefer-newer project= pull-only push-only '
        'type= ')),
    'help': ('[command]', 'all doc= h/help list'),
    'init-safety': ('', ''),
    'mail': ('[subcommand] [args...]', '+'),  # delegates to gt mail
    'mol': ('', '', ('protomolecule',)),
    'mol bond': ('<A> <B>', 'as= dry-run ephemeral pour ref= type= var=array', ('fart',)),
    'mol burn': ('<molecule-id> [molecule-id...]', 'dry-run force'),
    'mol current': ('[molecule-id]', 'for= limit=int range='),
    'mol distill': ('<epic-id> [formula-name]', 'dry-run output= var=array'),
    'mol last-activity': ('<molecule-id>', ''),
    'mol pour': ('<proto-id>', 'assignee= attach=strings attach-type= dry-run var=array'),
    'mol progress': ('[molecule-id]', ''),
    'mol ready': ('--gated', 'gated'),
    'mol seed': ('<formula-name>', 'var=array'),
    'mol show': ('<molecule-id>', 'p/parallel'),
    'mol squash': ('<molecule-id>', 'dry-run keep-children summary='),
    'mol stale': ('', 'all blocking unassigned'),
    'mol wisp': ('[proto-id]', 'dry-run root-only var=array'),
    'mol wisp create': ('<proto-id>', 'dry-run root-only var=array'),
    'mol wisp gc': ('', 'age= all closed dry-run exclude-type=strings f/force'),
    'mol wisp list': ('', 'all type='),
    'notion': ('', ''),
    'notion connect': ('', 'url='),
    'notion init': ('', 'parent= title='),
    'notion pull': ('[refs...]', 'dry-run'),
    'notion push': ('[bead-ids...]', 'dry-run'),
    'notion status': ('', ''),
    'notion sync': ('', 'create-only dry-run issues= parent= prefer-local prefer-notion pull push state='),
    'orphans': ('', 'details f/fix l/label=strings label-any=strings'),
    'ready': ('', (
        'a/assignee= claim exclude-label=strings exclude-type=strings explain gated '
        'has-metadata-key= include-deferred include-ephemeral l/label=strings '
        'label-any=strings n/limit=int metadata-field=array mol= mol-type=mol_type '
        'parent= plain pretty p/priority=priority s/sort=ready_sort t/type=type_filter '
        'u/unassigned ')),
    'rename': ('<old-id> <new-id>', ''),
    'ship': ('<capability>', 'dry-run force'),
    'undefer': ('[id...]', ''),
    'version': ('', ''),
}

# --- gt -----------------------------------------------------------------------------------
# Top-level commands from the cobra groups (gastown-formats.md §3.2) plus a few seen in the
# role templates (stop, agent, context). Each is open unless an entry in GT_TABLE says more.
GT_TOP_LEVEL = (
    "assign bead cat changelog cleanup close compact convoy done formula handoff hook mol mountain mq "
    "orphans prune-branches ready release resume scheduler sling synthesis trail unsling wl "
    "agents boot callbacks deacon dog mayor polecat refinery role session signal witness "
    "broadcast dnd escalate mail notify nudge peek "
    "daemon dolt down estop maintain quota reaper shutdown start thaw up "
    "crew git-init init install namepool rig worktree "
    "account config directive disable enable hooks issue plugin shell theme uninstall "
    "activity audit checkpoint costs dashboard doctor feed heartbeat info log metrics patrol prime "
    "repair seance stale status thanks upgrade version vitals whoami "
    "agent-log commit cycle forget health krc memories nudge-poller proxy-subcmds remember show "
    "status-line tap town warrant stop agent context"
).split()
GT_TOP_ALIASES = {"bd": "bead", "work": "hook", "molecule": "mol", "mr": "mq", "unhook": "unsling"}

GT_TABLE: dict[str, tuple] = {
    "sling": ("<bead-or-formula> [target]", (
        "s/subject= m/message= a/args= stdin on= var=array formula= agent= account= crew= create "
        "force no-convoy convoy= owned merge=merge_strategy no-merge base-branch= branch= pr=int "
        "n/dry-run hook-raw-bead no-boot max-concurrent=int ralph review-only json")),
    "done": ("", (
        "issue= p/priority=int_priority status=done_status reason= cleanup-status=cleanup_status "
        "resume pre-verified target= skip-verify skip-verify-reason= no-code defer-until= "
        "allow-reverts allow-throwaway-paths bead= no-merge")),
    "prime": ("", "hook dry-run state json explain"),
    "mail": ("", ""),
    "mail send": ("[address]", (
        "s/subject= m/message= body= stdin priority=int_priority urgent type=mail_type reply-to= "
        "n/notify pinned wisp permanent self cc=array human")),
    "mail inbox": ("[address]", "json u/unread a/all identity= address="),
    "mail read": ("<message-id>", "json", ("show",)),
    "mail peek": ("", ""),
    "mail delete": ("<message-id> [message-id...]", ""),
    "mail archive": ("[message-id...]", "stale n/dry-run"),
    "mail mark-read": ("<message-id> [message-id...]", "", ("ack",)),
    "mail mark-unread": ("<message-id> [message-id...]", ""),
    "mail check": ("", "inject json identity= address="),
    "mail thread": ("<thread-id>", "json"),
    "mail reply": ("<message-id> [message]", "s/subject= m/message= body="),
    "mail claim": ("[queue-name]", ""),
    "mail release": ("<message-id>", ""),
    "mail clear": ("[target]", "all archive"),
    "mail search": ("<query>", "from= subject body archive json"),
    "mail announces": ("[channel]", "json"),
    "mail drain": ("[args...]", "identity= max-age= +"),
    "mail hook": ("[args...]", "+"),
    "mail queue": ("[args...]", "+"),
    "mail directory": ("[args...]", "+"),
    "mail group": ("[args...]", "+"),
    "mail channel": ("[args...]", "+"),
    "nudge": ("<target> [message]", (
        "m/message= f/force stdin if-fresh mode=nudge_mode priority=nudge_priority queue direct")),
    "nudge drain": ("", "q/quiet"),
    "escalate": ("[topic...]", "s/severity=severity m/message= reason= json dry-run +"),
    "handoff": ("[bead-or-role]", "s/subject= m/message= c/collect n/dry-run w/watch y/yes shutdown cycle reason= +"),
    "polecat": ("", ""),
    "polecat list": ("[rig]", "json all +"),
    "polecat add": ("[args...]", "+"),
    "polecat remove": ("[polecat...]", "f/force all"),
    "polecat status": ("<polecat>", "json"),
    "polecat nuke": ("[polecat...]", "all dry-run f/force"),
    "polecat gc": ("[rig]", "dry-run"),
    "polecat stale": ("[rig]", "json threshold=int +"),
    "polecat prune": ("[args...]", "+"),
    "polecat git-state": ("<polecat>", "json"),
    "polecat check-recovery": ("<polecat>", "json reconcile-cleanup"),
    "polecat pool-init": ("[args...]", "+"),
    "polecat identity": ("[args...]", "+"),
    "hook": ("[bead]", "+"),
    "hook status": ("[args...]", "+"),
    "hook show": ("[args...]", "+"),
    "hook attach": ("<bead> [args...]", "+"),
    "hook detach": ("[args...]", "+"),
    "hook clear": ("[args...]", "+"),
    "unsling": ("[bead]", "+"),
    "convoy": ("", ""),
    "convoy create": ("<name> [issues...]", "notify= owned merge=merge_strategy from-epic= +"),
    "convoy add": ("<convoy-id> <issue> [issue...]", "+"),
    "convoy status": ("[convoy-id]", "json +"),
    "convoy list": ("", "all status= json +"),
    "convoy check": ("[convoy-id]", "+"),
    "convoy stranded": ("", "json +"),
    "convoy close": ("[convoy-id]", "force reason= +"),
    "convoy land": ("[args...]", "+"),
    "convoy stage": ("[args...]", "+"),
    "convoy launch": ("[args...]", "+"),
    "convoy watch": ("[args...]", "+"),
    "convoy unwatch": ("[args...]", "+"),
    "mq": ("", ""),
    "mq submit": ("", "issue= worker= branch= +"),
    "mq list": ("[rig]", "json +"),
    "mq next": ("[rig]", "+"),
    "mq status": ("<id>", "json +"),
    "mq retry": ("<id>", "+"),
    "mq reject": ("<id>", "reason= +"),
    "mq close": ("<id>", "reason= +"),
    "mq post-merge": ("[rig] [mr-bead-id]", "skip-branch-delete +"),
    "mq integration": ("", ""),
    "mq integration create": ("<epic-id>", "branch= base-branch= +"),
    "mq integration status": ("<epic-id>", "json +"),
    "mq integration land": ("<epic-id>", "dry-run force skip-tests +"),
    "patrol": ("", ""),
    "patrol new": ("", "+"),
    "patrol report": ("", "summary= +"),
    "patrol scan": ("", "notify +"),
    "patrol digest": ("", "yesterday dry-run +"),
    "peek": ("<agent>", "lines=int +"),
    "formula": ("", ""),
    "formula list": ("", "json +"),
    "formula show": ("<name>", "json +"),
    "formula run": ("<name> [args...]", "+"),
    "formula create": ("[args...]", "+"),
    "formula overlay": ("[args...]", "+"),
}
# Groups whose subcommand list is not fully known: unknown words pass as arguments (warning).
GT_OPEN_GROUPS = ("mol", "crew", "config", "deacon", "rig", "dog", "witness", "refinery", "mayor",
                  "session", "dolt", "daemon", "tap", "wl", "boot", "agent", "plugin", "hooks", "account")
GT_GLOBAL_FLAGS = "h/help"

BD_GLOBAL_FLAGS = (
    "actor= db= C/directory= dolt-auto-commit=dolt_auto_commit global ignore-schema-skew json "
    "profile q/quiet readonly sandbox v/verbose h/help")


# --- spec objects -------------------------------------------------------------------------

@dataclass(frozen=True)
class FlagSpec:
    """One flag of a command.

    Attributes:
        long: long name without dashes (``priority``).
        short: one-letter short name or None (``p``).
        vtype: value type (see :func:`check_value`); ``bool`` flags take no separate value.
    """

    long: str
    short: str | None
    vtype: str

    @property
    def takes_value(self) -> bool:
        return self.vtype != "bool"

    @property
    def repeatable(self) -> bool:
        return self.vtype in ("strings", "array")


@dataclass(frozen=True)
class Positional:
    """One positional argument from a cobra usage line (``<id>`` required, ``[id...]`` optional variadic)."""

    name: str
    required: bool
    variadic: bool


@dataclass
class CommandSpec:
    """A command path of ``bd`` or ``gt`` with its flags, positionals and children.

    Attributes:
        tool: ``bd`` or ``gt``.  path: e.g. ``("dep", "add")``; ``()`` for the tool root.
        positionals: parsed from the usage line.  flags: long name -> :class:`FlagSpec`.
        open: the flag list is known to be incomplete; unknown flags are warnings, not errors.
        open_group: the subcommand list is incomplete; unknown words are arguments.
        children: subcommand name -> spec.  child_aliases: alias -> canonical child name.
    """

    tool: str
    path: tuple[str, ...]
    usage: str = ""
    positionals: tuple[Positional, ...] = ()
    flags: dict[str, FlagSpec] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    open: bool = False
    open_group: bool = False
    children: dict[str, "CommandSpec"] = field(default_factory=dict)
    child_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.positionals if p.required)

    @property
    def max_args(self) -> int | None:
        if any(p.variadic for p in self.positionals):
            return None
        return len(self.positionals)

    @property
    def requires_subcommand(self) -> bool:
        """A pure group (``bd gate``, ``gt mail``): running it bare only prints help."""
        return bool(self.children) and not self.positionals and not self.open_group and not self.flags

    def child(self, word: str) -> "CommandSpec | None":
        name = self.child_aliases.get(word, word)
        return self.children.get(name)

    def flag(self, long: str) -> FlagSpec | None:
        return self.flags.get(long)

    def short_flag(self, short: str) -> FlagSpec | None:
        for spec in self.flags.values():
            if spec.short == short:
                return spec
        return None


_FLAG_TOKEN = re.compile(r"^(?:([A-Za-z])/)?([a-z0-9][a-z0-9-]*)(?:=([a-z_]*))?$")


def parse_flag_table(text: str) -> tuple[dict[str, FlagSpec], bool]:
    """Parse a compact flag string (module docstring) into specs; returns ``(flags, open)``.

    Raises:
        ValueError: on a malformed token or unknown value type (a bug in the table).
    """
    flags: dict[str, FlagSpec] = {}
    is_open = False
    for tok in text.split():
        if tok == "+":
            is_open = True
            continue
        m = _FLAG_TOKEN.match(tok)
        if not m:
            raise ValueError(f"bad flag token {tok!r} in command spec table")
        short, long, vtype = m.groups()
        if vtype is None:
            vtype = "bool"
        elif vtype == "":
            vtype = "string"
        if vtype not in _BASIC_TYPES and vtype not in ENUMS and vtype not in VALUE_CHECKS:
            raise ValueError(f"flag {tok!r}: unknown value type {vtype!r}")
        flags[long] = FlagSpec(long, short, vtype)
    return flags, is_open


_USAGE_TOKEN = re.compile(r'\[[^\]]*\](?:\.\.\.)?|<[^>]*>(?:=<[^>]*>)?(?:\.\.\.)?|"[^"]*"|\S+')


def parse_usage(usage: str) -> tuple[Positional, ...]:
    """Positionals of a cobra usage line (``"<id> [text...]"``); flag-like parts are skipped."""
    out: list[Positional] = []
    skip_next_value = False
    for tok in _USAGE_TOKEN.findall(usage):
        if tok.lstrip("[").startswith("-"):
            skip_next_value = not tok.startswith("[") and "=" not in tok
            continue
        if skip_next_value and tok.startswith("<"):
            skip_next_value = False
            continue
        skip_next_value = False
        tok = tok.strip('"')
        variadic = tok.endswith("...") or tok.rstrip("]").endswith("...")
        required = not tok.startswith("[")
        name = tok.strip("[]<>.").replace("<", "").replace(">", "")
        out.append(Positional(name or "arg", required, variadic))
    return tuple(out)


def _make(tool: str, path: tuple[str, ...], entry: tuple) -> CommandSpec:
    usage, flag_text = entry[0], entry[1]
    aliases = tuple(entry[2]) if len(entry) > 2 else ()
    flags, is_open = parse_flag_table(flag_text)
    return CommandSpec(tool, path, usage, parse_usage(usage), flags, aliases, is_open)


def _attach(root: CommandSpec, spec: CommandSpec) -> None:
    parent = root
    for word in spec.path[:-1]:
        nxt = parent.children.get(word)
        if nxt is None:  # implicit group (not listed in the table)
            nxt = CommandSpec(root.tool, parent.path + (word,))
            parent.children[word] = nxt
        parent = nxt
    old = parent.children.get(spec.path[-1])
    if old is not None:
        spec.children, spec.child_aliases = old.children, old.child_aliases
    parent.children[spec.path[-1]] = spec
    for alias in spec.aliases:
        parent.child_aliases[alias] = spec.path[-1]


def _build_bd() -> CommandSpec:
    flags, _ = parse_flag_table(BD_GLOBAL_FLAGS)
    root = CommandSpec("bd", (), flags=flags)
    for name in sorted(BD_TABLE, key=lambda n: len(n.split())):
        _attach(root, _make("bd", tuple(name.split()), BD_TABLE[name]))
    return root


def _build_gt() -> CommandSpec:
    flags, _ = parse_flag_table(GT_GLOBAL_FLAGS)
    root = CommandSpec("gt", (), flags=flags)
    for name in GT_TOP_LEVEL:
        if name not in GT_TABLE:
            spec = _make("gt", (name,), ("[args...]", "+"))
            spec.open_group = name in GT_OPEN_GROUPS
            _attach(root, spec)
    for name in sorted(GT_TABLE, key=lambda n: len(n.split())):
        _attach(root, _make("gt", tuple(name.split()), GT_TABLE[name]))
    for alias, target in GT_TOP_ALIASES.items():
        root.child_aliases[alias] = target
    return root


SPECS: dict[str, CommandSpec] = {"bd": _build_bd(), "gt": _build_gt()}


def lookup(tool: str, path: tuple[str, ...] | str) -> CommandSpec | None:
    """The spec for ``tool`` + command path (tuple or space-separated string), or None."""
    if isinstance(path, str):
        path = tuple(path.split())
    spec = SPECS.get(tool)
    for word in path:
        if spec is None:
            return None
        spec = spec.child(word)
    return spec
