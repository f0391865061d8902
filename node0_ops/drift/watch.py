"""Which files are *convention material*, and their sha256 now.

Watched (``shared/docs/gastown-formats.md`` §1.2, §1.3, §3.1, §3.3, §3.4), relative to the town:

==============  =====================================================================
kind            paths
==============  =====================================================================
instructions    every ``CLAUDE.md`` / ``AGENTS.md`` (any case) in the town tree
formula         ``.beads/formulas/``, ``<rig>/.beads/formulas/``,
                ``<rig>/mayor/rig/.beads/formulas/``: ``*.formula.toml`` / ``*.formula.json``
overlay         ``formula-overlays/*.toml``, ``<rig>/formula-overlays/*.toml``
settings        ``settings/config.json``, ``<rig>/settings/config.json``
directive       ``directives/*.md``, ``<rig>/directives/*.md`` (role directives)
extra           files under ``DriftConfig.extra_paths``
==============  =====================================================================

Dotfiles (``.installed.json``) are bookkeeping, not conventions, and are not watched. The
walk prunes :data:`node0_ops.corpus.sources.SKIP_DIRS` and ``.claude/projects`` (transcripts).
A ``<rig>`` is any first-level folder that is not hidden and not a town folder
(:data:`~node0_ops.corpus.sources.TOWN_DIRS`); the rule is structural so a removed rig's
files still count as removed. When ``GT_ROOT`` is unset the town is the embedded sample
town's copy in the state dir (:func:`node0_ops.paths.town_root`), so it is watched the same way.

Paths are absolute like the collector's (``Path(town).expanduser().absolute()``), so they
compare directly with ``corpus_versions.source_hashes``.

Usage::

    hashes = scan(town_root)                           # {abs path: sha256}
    watch_kind("/gt/webapp/CLAUDE.md", town_root)      # -> "instructions"
"""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from node0_ops.corpus.readers import sha256_file
from node0_ops.corpus.sources import SKIP_DIRS, TOWN_DIRS

INSTRUCTION_FILES = frozenset({"claude.md", "agents.md"})
FORMULA_SUFFIXES = (".formula.toml", ".formula.json")


def town_path(town_root: str | os.PathLike) -> Path:
    """The town root as the collector writes it (absolute, user expanded, symlinks kept)."""
    return Path(town_root).expanduser().absolute()


def _is_rig(name: str) -> bool:
    return bool(name) and not name.startswith(".") and name not in TOWN_DIRS


def watch_kind(path: str | os.PathLike, town_root: str | os.PathLike,
               extra_paths: Iterable[str] = ()) -> str | None:
    """Kind of convention material ``path`` is (see the module table), or None.

    Args:
        path: absolute path (or relative to the town).
        town_root: the town.
        extra_paths: ``DriftConfig.extra_paths`` (relative to the town, or absolute).
    """
    town = town_path(town_root)
    p = Path(path)
    p = p if p.is_absolute() else town / p
    try:
        parts = p.relative_to(town).parts
    except ValueError:
        parts = None
    for extra in extra_paths:
        base = Path(extra).expanduser()
        base = base if base.is_absolute() else town / base
        if p == base or base in p.parents:
            return "extra"
    if not parts:
        return None
    name = parts[-1]
    if name.startswith("."):
        return None
    if ".claude" in parts and "projects" in parts:
        return None
    if name.lower() in INSTRUCTION_FILES:
        return "instructions"
    folder = parts[:-1]
    rig_level = len(folder) >= 1 and _is_rig(folder[0])
    if name.endswith(FORMULA_SUFFIXES):
        if folder == (".beads", "formulas"):
            return "formula"
        if rig_level and folder[1:] in ((".beads", "formulas"), ("mayor", "rig", ".beads", "formulas")):
            return "formula"
    if name.endswith(".toml") and (folder == ("formula-overlays",) or (rig_level and folder[1:] == ("formula-overlays",))):
        return "overlay"
    if name == "config.json" and (folder == ("settings",) or (rig_level and folder[1:] == ("settings",))):
        return "settings"
    if name.endswith(".md") and (folder == ("directives",) or (rig_level and folder[1:] == ("directives",))):
        return "directive"
    return None


def _walk(town: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(town):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not (d == "projects" and here.name == ".claude"))
        for fname in sorted(filenames):
            yield here / fname


def scan(town_root: str | os.PathLike, extra_paths: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every watched file now.

    Returns:
        ``{absolute path: sha256 hex}``, sorted by path. Unreadable files are left out
        (they count as removed until readable again).

    Raises:
        FileNotFoundError: the town root is not a folder.
    """
    town = town_path(town_root)
    if not town.is_dir():
        raise FileNotFoundError(f"town root {town} is not a directory: set GT_ROOT to your Gas Town "
                                "(the folder holding CLAUDE.md, settings/ and the rigs)")
    extra = list(extra_paths)
    candidates = [p for p in _walk(town) if watch_kind(p, town) is not None]
    for e in extra:
        base = Path(e).expanduser()
        base = base if base.is_absolute() else town / base
        if base.is_file():
            candidates.append(base)
        elif base.is_dir():
            candidates += [p for p in _walk(base) if not p.name.startswith(".")]
    out: dict[str, str] = {}
    for p in sorted(set(candidates)):
        try:
            if p.is_file():
                out[str(p)] = sha256_file(p)[0]
        except OSError:
            continue
    return out


def watched_subset(hashes: Mapping[str, str], town_root: str | os.PathLike,
                   extra_paths: Iterable[str] = ()) -> dict[str, str]:
    """The watched entries of a ``{path: sha256}`` map (e.g. a corpus version's ``source_hashes``)."""
    extra = list(extra_paths)
    return {p: s for p, s in sorted(hashes.items()) if watch_kind(p, town_root, extra) is not None}


def relative(path: str, town_root: str | os.PathLike) -> str:
    """``path`` relative to the town when inside it (for tags and reports), else as is."""
    try:
        return Path(path).relative_to(town_path(town_root)).as_posix()
    except ValueError:
        return path
