"""Adapter stack from the bead: which task adapters a node0 agent loads for the work slung to it.

When work is slung to a ``node0-<role>`` agent, the hook/nudge text carries the bead id. The
agent reads the bead (``bd show <id> --json`` when ``bd`` is on PATH, else the town's
``.beads/*.jsonl`` files, ``gastown-formats.md`` §2) and maps its ``issue_type`` and labels to
task names; the adapters of those tasks that the model can load make the live stack.

Mapping (first found: ``<town>/settings/node0-adapters.yaml``, ``<state>/adapter_map.yaml``,
else :data:`DEFAULT_MAP`)::

    types:  {bug: [code-review, git-workflow], feature: [git-workflow], epic: [planning]}
    labels: {review: [code-review], merge: [git-workflow]}

Usage::

    bead = read_bead("gt-abc12", town_root=town)
    pick = select_adapters(bead, load_map(town_root=town), available={"task-code-review": "code-review"})
    pick.adapters, pick.why
"""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAP = {"types": {"bug": ["code-review", "git-workflow"], "feature": ["git-workflow"], "task": ["git-workflow"],
                         "epic": ["planning"], "chore": ["git-workflow"]},
               "labels": {"review": ["code-review"], "code-review": ["code-review"], "merge": ["git-workflow"],
                          "planning": ["planning"]}}
MAP_FILES = ("node0-adapters.yaml", "node0-adapters.yml", "node0-adapters.json")
# bead ids: prefix-hash, optionally with .child suffixes (gt-abc12, hq-cv-a1b2, wa-f2h8.1)
BEAD_ID = re.compile(r"\b[a-z][a-z0-9]{1,7}(?:-[a-z0-9]{2,})+(?:\.\d+)*\b")


@dataclass
class AdapterPick:
    """Chosen adapter names (in mapping order), the tasks asked for and one line saying why."""

    bead_id: str
    tasks: list[str] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    why: str = ""

    def to_dict(self) -> dict:
        return {"bead_id": self.bead_id, "tasks": self.tasks, "adapters": self.adapters, "why": self.why}


def load_map(*, town_root: str | Path | None = None, state: str | Path | None = None) -> dict:
    """The bead -> task mapping (see module docstring for the lookup order).

    Raises:
        ValueError: naming the file when it is not ``{types: {...}, labels: {...}}`` of lists.
    """
    import yaml

    candidates = [Path(town_root) / "settings" / n for n in MAP_FILES] if town_root else []
    candidates += [Path(state) / n for n in ("adapter_map.yaml", "adapter_map.yml", "adapter_map.json")] if state else []
    for path in candidates:
        if path.is_file():
            data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
            data = data or {}
            if not isinstance(data, dict) or set(data) - {"types", "labels"} or not all(
                    isinstance(v, dict) and all(isinstance(t, list) for t in v.values()) for v in data.values()):
                raise ValueError(f"{path}: adapter map must be {{types: {{TYPE: [task, ...]}}, labels: {{LABEL: [task, ...]}}}}")
            return {"types": data.get("types") or {}, "labels": data.get("labels") or {}, "source": str(path)}
    return {**DEFAULT_MAP, "source": "default"}


def _from_jsonl(bead_id: str, town_root: Path) -> dict | None:
    for path in sorted(town_root.rglob(".beads/*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if bead_id in line:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("id") == bead_id:
                        return rec
    return None


def read_bead(bead_id: str, *, town_root: str | Path | None = None, bd: str | None = "auto") -> dict | None:
    """The bead record (``id``, ``issue_type``, ``labels``, ...) or None when it is not found.

    ``bd show <id> --json`` (run in the town) when ``bd`` is on PATH, else the town's JSONL files.
    """
    exe = shutil.which("bd") if bd == "auto" else bd
    if exe:
        try:
            proc = subprocess.run([exe, "show", bead_id, "--json"], cwd=str(town_root) if town_root else None,
                                  capture_output=True, text=True, timeout=30)
            if proc.returncode == 0 and proc.stdout.strip():
                data = json.loads(proc.stdout)
                data = data[0] if isinstance(data, list) and data else data
                if isinstance(data, dict) and data.get("id"):
                    return data
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    return _from_jsonl(bead_id, Path(town_root)) if town_root else None


def select_adapters(bead: dict, mapping: dict, available: dict[str, str]) -> AdapterPick:
    """Task adapters for ``bead``.

    Args:
        bead: bead record (``issue_type`` or ``type``, ``labels``).
        mapping: :func:`load_map` result.
        available: adapter name -> its task, for the adapters the served model can load.

    Returns:
        :class:`AdapterPick`; ``adapters`` keeps mapping order, one adapter per task.
    """
    kind = bead.get("issue_type") or bead.get("type") or ""
    labels = [str(x) for x in (bead.get("labels") or [])]
    tasks: list[str] = []
    for t in list(mapping.get("types", {}).get(kind, [])) + [t for lab in labels for t in mapping.get("labels", {}).get(lab, [])]:
        if t not in tasks:
            tasks.append(t)
    by_task: dict[str, str] = {}
    for name, task in available.items():
        by_task.setdefault(task, name)
    chosen = [by_task[t] for t in tasks if t in by_task]
    missing = [t for t in tasks if t not in by_task]
    why = (f"bead {bead.get('id')} is a {kind or 'bead'}" + (f" labelled {', '.join(labels)}" if labels else "")
           + f" -> tasks {', '.join(tasks) or 'none'} ({mapping.get('source', 'default')} map)"
           + (f"; no adapter for {', '.join(missing)}" if missing else ""))
    return AdapterPick(str(bead.get("id")), tasks, chosen, why)


def bead_ids(text: str) -> list[str]:
    """Bead-id-looking words of ``text`` in order (the caller checks they exist)."""
    seen: list[str] = []
    for m in BEAD_ID.finditer(text or ""):
        if m.group(0) not in seen:
            seen.append(m.group(0))
    return seen


def stack_picker(spec, *, town_root: str | Path | None, state: str | Path | None = None,
                 tasks: dict[str, str] | None = None, bd: str | None = "auto"):
    """``text -> (stack, why) | None`` for :class:`node0_ops.serve.agent.TerminalAgent`.

    Args:
        spec: the served :class:`node0_ops.serve.models.ModelSpec` (its loadable adapters).
        tasks: adapter name -> task (default: the registry's ``adapters.task``, else the name
            without a ``task-`` prefix).

    The stack keeps the default stack's non-task adapters and adds the chosen task adapters
    (scale from the spec); None when the text names no known bead.
    """
    if tasks is None:
        tasks = {}
        try:
            from node0_ops.registry.schema import registry_db
            from node0_ops.registry.store import list_adapters

            tasks = {a["name"]: a["task"] for a in list_adapters(registry_db(state)) if a.get("task")}
        except Exception:  # noqa: BLE001 - no registry: names only
            tasks = {}
    available = {a.name: tasks.get(a.name) or a.name.removeprefix("task-") for a in spec.adapters}
    task_names = set(available)
    mapping = load_map(town_root=town_root, state=state)
    scale = {a.name: a.scale for a in spec.adapters}

    def pick(text: str):
        for bid in bead_ids(text):
            bead = read_bead(bid, town_root=town_root, bd=bd)
            if bead is None:
                continue
            chosen = select_adapters(bead, mapping, available)
            keep = [(n, s) for n, s in spec.default_stack if n not in task_names or n in chosen.adapters]
            have = {n for n, _ in keep}
            stack = keep + [(n, scale.get(n, 1.0)) for n in chosen.adapters if n not in have]
            order = [a.name for a in spec.adapters]
            return tuple(sorted(stack, key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))), chosen.why
        return None

    return pick
