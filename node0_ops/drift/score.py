"""Drift score per role: the share of a role's convention material that changed.

Formula (this project's own; weights follow the corpus lineage ``examples.record_ids ->
records.path``)::

    drift_r = sum_{f in D} w_r(f) / sum_{f in F} w_r(f)          (0 when the denominator is 0)

    F        watched files (:mod:`.watch`) in the role's baseline corpus version or on disk now
    D        files of F whose sha256 differs between the baseline and now (changed, added,
             removed), minus files flagged as reversions (held for review, :mod:`.reversion`)
    w_r(f)   = max(n_r(f), n~_r(f)) + u * [no role has an example from f]
    n_r(f)   examples of role r in the baseline corpus version with a record read from f
             (0 for added files)
    n~_r(f)  examples of role r the formatter derives from f's content *now*, f collected and
             formatted alone (:func:`estimate_counts`; computed for files in D that exist,
             equal to n_r(f) for unchanged files, 0 for removed ones)
    u        ``DriftConfig.unattributed_weight`` (default 0): weight, for every role, of a
             file no example comes from (settings, overlays today)

Taking the max makes a change count both for what the model learned from the old content
and for what it would learn from the new. A CLAUDE.md whose examples are all ``crew``
examples moves only ``crew``; a new ``mol-witness-*`` formula moves ``witness``; with
``u = 0`` a settings edit moves no role (it is still recorded as a ``skipped`` decision).
``drift_r`` is in [0, 1]; a role fires when ``drift_r >= DriftConfig.threshold``.

Usage::

    changes = diff_hashes(baseline, current)                 # {path: changed|added|removed}
    now = estimate_counts([p for p, s in changes.items() if s != "removed"], town_root)
    weights = role_weights(base_counts, now, set(baseline) | set(current), unattributed_weight=0.0)
    scores = drift_scores(weights, changes)                  # {role: RoleDrift}
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from node0_ops.corpus.schema import ROLES


@dataclass
class RoleDrift:
    """Drift of one role.

    Attributes:
        role: Gas Town role.
        score: ``drift_r`` in [0, 1].
        changed_weight / total_weight: numerator and denominator of the formula (examples).
        files: ``[{path, status, weight}]`` of the changed files with ``weight > 0``, heaviest first.
    """

    role: str
    score: float
    changed_weight: float
    total_weight: float
    files: list[dict] = field(default_factory=list)


def diff_hashes(baseline: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """``{path: "changed" | "added" | "removed"}`` for every path whose sha256 differs."""
    out = {}
    for path in sorted(set(baseline) | set(current)):
        old, new = baseline.get(path), current.get(path)
        if old == new:
            continue
        out[path] = "added" if old is None else "removed" if new is None else "changed"
    return out


def estimate_counts(paths: Sequence[str], town_root: str | os.PathLike) -> dict[str, dict[str, int]]:
    """``{path: {role: n}}``: examples the corpus formatter derives from each file alone, now.

    Each file is collected (:func:`node0_ops.corpus.collect.collect_paths`) and formatted
    (:func:`node0_ops.corpus.format_sft.build_examples`) on its raw content; bad files are
    quarantined by the collector and count 0. Missing paths are left out.
    """
    from node0_ops.corpus.collect import collect_paths
    from node0_ops.corpus.format_sft import build_examples

    files = [Path(p) for p in paths if Path(p).is_file()]
    if not files:
        return {}
    result = collect_paths(files, town_root=Path(town_root))
    path_of = {r.record_id: r.provenance.path for r in result.records}
    out: dict[str, dict[str, int]] = {str(p): {} for p in files}
    for ex in build_examples(result.records):
        for path in {path_of[i] for i in ex.record_ids if i in path_of}:
            out.setdefault(path, {})
            out[path][ex.role] = out[path].get(ex.role, 0) + 1
    return out


def role_weights(base_counts: Mapping[str, Mapping[str, int]], now_counts: Mapping[str, Mapping[str, int]],
                 paths: Iterable[str], unattributed_weight: float = 0.0,
                 roles: Sequence[str] = ROLES) -> dict[str, dict[str, float]]:
    """``w_r(f)`` for every role and path (see the module formula).

    Args:
        base_counts: ``{path: {role: n_r(f)}}`` (:func:`node0_ops.drift.baseline.example_counts`).
        now_counts: ``{path: {role: n~_r(f)}}`` for the changed files that exist (:func:`estimate_counts`).
        paths: the watched files F.
        unattributed_weight: ``u``.
    """
    out: dict[str, dict[str, float]] = {r: {} for r in roles}
    for path in sorted(set(paths)):
        base, now = base_counts.get(path) or {}, now_counts.get(path) or {}
        per_role = {r: float(max(base.get(r, 0), now.get(r, 0))) for r in roles}
        none = not any(base.values()) and not any(now.values())
        for r in roles:
            out[r][path] = per_role[r] + (float(unattributed_weight) if none else 0.0)
    return out


def drift_scores(weights: Mapping[str, Mapping[str, float]], changes: Mapping[str, str],
                 exclude: Iterable[str] = ()) -> dict[str, RoleDrift]:
    """``RoleDrift`` per role from :func:`role_weights` and :func:`diff_hashes`.

    Args:
        exclude: paths left out of D (flagged reversions); they stay in F.
    """
    skip = set(exclude)
    out = {}
    for role, w in weights.items():
        total = sum(w.values())
        files = [{"path": p, "status": s, "weight": w.get(p, 0.0)} for p, s in changes.items()
                 if p not in skip and w.get(p, 0.0) > 0]
        changed = sum(f["weight"] for f in files)
        files.sort(key=lambda f: (-f["weight"], f["path"]))
        out[role] = RoleDrift(role, (changed / total) if total > 0 else 0.0, changed, total, files)
    return out
