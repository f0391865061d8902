"""Where gastown-finetune reads and writes.

State directory (everything the system writes: lineage DuckDB, artifacts,
Dagster home with sqlite storage):
    ``--state-dir`` flag  >  ``GASTOWN_FT_HOME``  >  ``~/.local/state/gastown-finetune``

Town root (what the corpus is built from), following Gas Town's convention:
    ``--town`` flag  >  ``GT_ROOT``  >  the embedded sample town, copied once
    into ``<state>/town`` so deploys and edits never touch package data.

Usage::

    from node0_ops.paths import state_dir, town_root, lineage_db_path
    db = lineage_db_path()            # <state>/lineage.duckdb
"""

import os
import shutil
from pathlib import Path

STATE_ENV = "GASTOWN_FT_HOME"
TOWN_ENV = "GT_ROOT"
EMBEDDED_TOWN = Path(__file__).resolve().parent / "sample_town"


def state_dir(override: str | os.PathLike | None = None) -> Path:
    """Return (and create) the state directory.

    Args:
        override: explicit path (the CLI's ``--state-dir``); wins over the env var.
    """
    raw = override or os.environ.get(STATE_ENV) or Path.home() / ".local/state/gastown-finetune"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def lineage_db_path(state: str | os.PathLike | None = None) -> Path:
    """Path of the DuckDB lineage/registry database inside the state directory."""
    return state_dir(state) / "lineage.duckdb"


def artifacts_dir(kind: str, state: str | os.PathLike | None = None) -> Path:
    """``<state>/artifacts/<kind>``, created. ``kind`` is e.g. ``corpus``, ``adapters``, ``exports``."""
    path = state_dir(state) / "artifacts" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """Shared, state-independent cache ``$GTFT_CACHE/<kind>`` (default ``~/.cache/gastown-finetune``).

    Holds derived, reproducible files (converted base models) so that fresh state dirs,
    e.g. one per test, do not redo a 16 s GGUF conversion.
    """
    root = Path(os.environ.get("GTFT_CACHE") or Path.home() / ".cache/gastown-finetune").expanduser()
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def dagster_home(state: str | os.PathLike | None = None) -> Path:
    """``<state>/dagster_home`` with a ``dagster.yaml`` that keeps run history in sqlite there."""
    home = state_dir(state) / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(
            "storage:\n  sqlite:\n    base_dir: " + str(home / "storage") + "\n"
            "telemetry:\n  enabled: false\n"
            "concurrency:\n  pools:\n    default_limit: 1\n"
        )
    return home


def town_root(override: str | os.PathLike | None = None, state: str | os.PathLike | None = None) -> Path:
    """Resolve the Gas Town root.

    Raises:
        FileNotFoundError: when an explicit town (flag or ``GT_ROOT``) does not exist;
            the message says how to point at a real town or fall back to the sample.
    """
    raw = override or os.environ.get(TOWN_ENV)
    if raw:
        path = Path(raw).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(
                f"town root {path} does not exist: set GT_ROOT (or --town) to your Gas Town "
                f"directory (the one holding CLAUDE.md and settings/), or unset it to use the embedded sample town"
            )
        return path
    copy = state_dir(state) / "town"
    if not copy.exists():
        shutil.copytree(EMBEDDED_TOWN, copy)
    return copy


RESOURCES_FILE = "resources.yaml"


def resource_settings(state: str | os.PathLike | None = None) -> dict:
    """Raw mapping of ``<state>/resources.yaml`` (trainer/exporter/evaluator/scrubber settings; {} when absent).

    Raises:
        ValueError: the file is not valid YAML or not a mapping (the message names the file).
    """
    import yaml

    path = state_dir(state) / RESOURCES_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping of resource name -> fields, got {type(data).__name__}")
    return data


def state_thresholds(state: str | os.PathLike | None = None) -> str | None:
    """The eval thresholds file the state's ``resources.yaml`` names (``evaluator.thresholds_yaml``), or None."""
    evaluator = resource_settings(state).get("evaluator") or {}
    return (evaluator.get("thresholds_yaml") or None) if isinstance(evaluator, dict) else None


REAL_DATA_ENV = "GTFT_REAL_DATA"
# Real Gas Town / Beads material the main job adds to the corpus when it is present (MIT; read in
# place, never copied): the patrol/triage formulas (decision rules) and the beads records of the
# three JSONL dialects (titles, types, priorities, labels and hierarchies for command tasks).
REAL_DATA_EXTRAS = ("gastown/internal/formula/formulas", "gastown/.beads/backup", "beads/issues.jsonl",
                    "beads@beads-sync/.beads/issues.jsonl", "gastown@4ae4598c/.beads/issues.jsonl")


def real_data_root() -> Path | None:
    """``$GTFT_REAL_DATA`` or ``<checkout>/../shared/gastown-real`` when that folder exists, else None."""
    raw = os.environ.get(REAL_DATA_ENV)
    path = Path(raw).expanduser() if raw else Path(__file__).resolve().parents[2] / "shared" / "gastown-real"
    return path.resolve() if path.is_dir() else None


def real_data_extras(root: Path | None = None) -> list[Path]:
    """The :data:`REAL_DATA_EXTRAS` that exist under ``root`` (default :func:`real_data_root`); [] without one."""
    root = root or real_data_root()
    return [root / rel for rel in REAL_DATA_EXTRAS if (root / rel).exists()] if root else []
