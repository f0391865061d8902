"""Plan checks: a plan is a bead hierarchy in JSON (an epic plus items with deps and
estimates); it must be a valid, acyclic, parallelizable DAG.

Usage::

    from node0_ops.evals.plans import check_plan
    check_plan('{"epic": {...}, "items": [...]}', min_items=4).passed
"""

from node0_ops.evals.answers import parse_json_answer
from node0_ops.evals.cli_spec import ENUMS
from node0_ops.evals.results import CheckResult


_ITEM_KEYS = ("items", "children", "beads", "issues", "tasks", "steps")
_DEP_KEYS = ("deps", "depends_on", "needs", "blocked_by", "dependencies")
_EST_KEYS = ("estimate_minutes", "estimated_minutes", "estimate", "minutes")


def normalize_plan(obj) -> tuple[dict | None, list[dict]]:
    """Split a plan into (root epic or None, child items).

    Accepted shapes: a list of items; ``{"epic": {...}, "items": [...]}``; an epic object
    with ``children``/``items``/``beads``/``issues``/``tasks``/``steps``. Items are dicts
    with ``id``, ``title``, optional ``type``, deps (``deps``/``depends_on``/``needs``/
    ``blocked_by``: ids this item is blocked by), estimate (``estimate_minutes``/
    ``estimate``) and ``parent``.

    Raises:
        ValueError: when the object has none of these shapes.
    """
    if isinstance(obj, list):
        return None, obj
    if not isinstance(obj, dict):
        raise ValueError(f"plan must be a JSON object or list, got {type(obj).__name__}")
    key = next((k for k in _ITEM_KEYS if isinstance(obj.get(k), list)), None)
    root = obj.get("epic") or obj.get("root")
    if key is None:
        if isinstance(root, dict):
            inner = next((k for k in _ITEM_KEYS if isinstance(root.get(k), list)), None)
            if inner:
                return {k: v for k, v in root.items() if k != inner}, root[inner]
        raise ValueError(f"plan has no item list (expected one of {', '.join(_ITEM_KEYS)})")
    if not isinstance(root, dict) and "id" in obj:
        root = {k: v for k, v in obj.items() if k != key}
    return (root if isinstance(root, dict) else None), obj[key]


def _deps_of(item: dict) -> list[str]:
    for k in _DEP_KEYS:
        v = item.get(k)
        if v:
            return [v] if isinstance(v, str) else [str(x) for x in v]
    return []


def _estimate_of(item: dict):
    for k in _EST_KEYS:
        if k in item:
            return item[k]
    return None


def dag_layers(ids: list[str], deps: dict[str, list[str]]) -> list[list[str]] | None:
    """Longest-path layering of a DAG (Kahn's algorithm); None when there is a cycle.

    Items in one layer never depend on each other, so the largest layer is a lower bound
    on the DAG's width (how much work can run in parallel).
    """
    indeg = {i: 0 for i in ids}
    users: dict[str, list[str]] = {i: [] for i in ids}
    for i in ids:
        for d in deps.get(i, []):
            if d in indeg:
                indeg[i] += 1
                users[d].append(i)
    layer = [i for i in ids if indeg[i] == 0]
    layers, seen = [], 0
    while layer:
        layers.append(layer)
        seen += len(layer)
        nxt = []
        for i in layer:
            for u in users[i]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    nxt.append(u)
        layer = nxt
    return layers if seen == len(ids) else None


def check_plan(answer, *, min_items: int = 3, max_items: int = 40, min_width: int = 2,
               require_estimates: bool = True, require_epic: bool = False,
               must_cover: list[str] | None = None) -> CheckResult:
    """Check a plan given as a bead hierarchy in JSON.

    Sub-checks (score = fraction passed; passed = all): parses; item count in
    [min_items, max_items]; ids present and unique; titles present; types valid bd issue
    types when given; deps refer to existing items (not themselves); parents exist;
    acyclic; widest layer >= ``min_width`` (parallelizable work); estimates positive
    numbers when required; root epic present when required; every ``must_cover``
    keyword appears in some item title/description.
    """
    obj, err = parse_json_answer(answer) if isinstance(answer, str) else (answer, None)
    if obj is None:
        return CheckResult(False, 0.0, [f"plan: {err}"])
    try:
        root, items = normalize_plan(obj)
    except ValueError as exc:
        return CheckResult(False, 0.0, [str(exc)])
    checks: dict[str, list[str]] = {}

    def sub(name: str, errs: list[str]) -> None:
        checks[name] = errs

    items = [it for it in items if isinstance(it, dict)]
    sub("count", [] if min_items <= len(items) <= max_items else
        [f"plan has {len(items)} items, expected {min_items}-{max_items}"])
    ids = [str(it.get("id", "")).strip() for it in items]
    dup = sorted({i for i in ids if ids.count(i) > 1 and i})
    sub("ids", ([f"{ids.count('')} item(s) without id"] if "" in ids else []) + ([f"duplicate ids: {', '.join(dup)}"] if dup else []))
    root_id = str(root.get("id")) if root and root.get("id") else None
    if root_id and root_id in ids:
        checks["ids"].append(f"root id {root_id} reused by an item")
    sub("titles", [f"item {i or '?'} has no title" for i, it in zip(ids, items) if not str(it.get("title", "")).strip()])
    valid_types = set(ENUMS["issue_type"])
    sub("types", [f"item {i}: unknown issue type {it.get('type') or it.get('issue_type')!r}" for i, it in zip(ids, items)
                  if (it.get("type") or it.get("issue_type")) and (it.get("type") or it.get("issue_type")) not in valid_types])
    known = set(ids)
    deps = {i: _deps_of(it) for i, it in zip(ids, items)}
    dep_errs = []
    for i, ds in deps.items():
        for d in ds:
            if d == i:
                dep_errs.append(f"item {i} depends on itself")
            elif d not in known:
                dep_errs.append(f"item {i} depends on unknown id {d!r}")
    sub("deps", dep_errs)
    parents = [(i, str(it["parent"])) for i, it in zip(ids, items) if it.get("parent")]
    sub("parents", [f"item {i}: parent {p!r} does not exist" for i, p in parents if p not in known and p != root_id])
    layers = dag_layers([i for i in ids if i], deps)
    sub("acyclic", [] if layers is not None else ["dependency cycle among items"])
    width = max((len(layer) for layer in layers), default=0) if layers else 0
    sub("parallel", [] if width >= min_width else [f"no parallel work: widest layer has {width} item(s), need {min_width}"])
    if require_estimates:
        bad = [i for i, it in zip(ids, items)
               if not isinstance(_estimate_of(it), (int, float)) or isinstance(_estimate_of(it), bool) or _estimate_of(it) <= 0]
        sub("estimates", [f"items without a positive estimate (minutes): {', '.join(bad)}"] if bad else [])
    if require_epic:
        rtype = (root or {}).get("type") or (root or {}).get("issue_type")
        sub("epic", [] if root and rtype in (None, "epic") and str(root.get("title", "")).strip() else
            ["plan needs a root epic with a title"])
    if must_cover:
        texts = " ".join(f"{it.get('title', '')} {it.get('description', '')}" for it in items).lower()
        sub("coverage", [f"no item covers {kw!r}" for kw in must_cover if kw.lower() not in texts])
    errors = [e for errs in checks.values() for e in errs]
    score = sum(1 for errs in checks.values() if not errs) / len(checks)
    return CheckResult(not errors, round(score, 4), errors,
                       {"n_items": len(items), "width": width, "depth": len(layers or []),
                        "failed_checks": [k for k, v in checks.items() if v]})
