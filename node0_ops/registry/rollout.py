"""Progressive rollout of node0 models across Gas Town roles.

Roles open in stages, lowest risk first: patrol helpers (deacon, boot), then witness, then
polecat, then crew. Mayor is blocked (it coordinates the whole town). A role that no stage
lists (refinery and dog by default) stays closed until the config puts it in a stage.

Config file (YAML or JSON, first found wins):

1. the ``path`` argument (CLI ``--rollout FILE``)
2. ``<town>/settings/node0-rollout.yaml|yml|json``
3. ``<state>/rollout.yaml|yml|json``
4. built-in default: stage 1

Shape::

    stage: 2                       # stages 1..stage are open
    stages:                        # optional; default below
      - [deacon, boot]
      - [witness]
      - [polecat]
      - [crew]
    blocked: [mayor]               # never open without an override

Usage::

    from node0_ops.registry.rollout import load_rollout
    plan = load_rollout(town_root=town, state=state)
    ok, why = plan.allows("polecat")
"""

import json
from pathlib import Path

from node0_ops.registry.rollout_config import DEFAULT_BLOCKED, DEFAULT_STAGES, RolloutConfig  # noqa: F401 (re-export)

FILE_NAMES = ("node0-rollout.yaml", "node0-rollout.yml", "node0-rollout.json")
STATE_NAMES = ("rollout.yaml", "rollout.yml", "rollout.json")


def _read(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: rollout config must be a mapping with `stage` (and optionally `stages`, `blocked`)")
    unknown = set(data) - {"stage", "stages", "blocked"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: stage, stages, blocked")
    return data


def find_rollout_file(town_root: str | Path | None = None, state: str | Path | None = None) -> Path | None:
    """First existing rollout file in the town's ``settings/``, then the state dir."""
    candidates = []
    if town_root:
        candidates += [Path(town_root) / "settings" / n for n in FILE_NAMES]
    if state:
        candidates += [Path(state) / n for n in STATE_NAMES]
    return next((c for c in candidates if c.is_file()), None)


def load_rollout(path: str | Path | None = None, *, town_root: str | Path | None = None,
                 state: str | Path | None = None) -> RolloutConfig:
    """Load the rollout config (see module docstring for the lookup order).

    Raises:
        ValueError: naming the file when it is malformed or names unknown roles.
        FileNotFoundError: an explicit ``path`` that does not exist.
    """
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"rollout config {path} does not exist")
    found = Path(path) if path is not None else find_rollout_file(town_root, state)
    if found is None:
        return RolloutConfig()
    data = _read(found)
    kwargs = {"source": str(found)}
    if "stage" in data:
        kwargs["stage"] = data["stage"]
    if "stages" in data:
        kwargs["stages"] = [list(g) if isinstance(g, (list, tuple)) else g for g in data["stages"]]
    if "blocked" in data:
        kwargs["blocked"] = list(data["blocked"] or [])
    return RolloutConfig(**kwargs)
