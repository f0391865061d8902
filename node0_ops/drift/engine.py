"""One tick of the convention-drift sensor, without Dagster: scan -> reversions -> drift -> decisions.

Per tick (``evaluate_drift``):

1. If the watched hashes equal the cursor's last seen map, nothing changed: no decision.
   Without any corpus version there is nothing to drift from: no decision either.
2. Reversions (:mod:`.reversion`) against the cursor's last seen map (first tick: the latest
   corpus version's) and the history (``file_versions`` + the cursor's): each reverted file
   is flagged for review and left out of the drift numerator while its content stays so.
3. For every role, drift against its baseline (:mod:`.baseline`, :mod:`.score`). Roles at or
   above ``DriftConfig.threshold`` get a :class:`RetrainRequest` whose ``run_key`` hashes the
   role, its baseline corpus version and the changed file set (path + new sha256) that
   carries weight for it, so a restart (or a lost cursor) yields the same key and Dagster
   never launches the run twice. Roles with a drift below the threshold are ``skipped``.
4. The new cursor holds the hashes seen, the versions seen per file (last 10) and the
   flagged reversions.

Usage::

    cursor = DriftCursor.loads(context_cursor)
    tick = evaluate_drift(db, town_root, scan(town_root), cursor, DriftConfig())
    tick.requests      # [RetrainRequest(role, run_key, score, tags, ...)]
    tick.decisions     # [Decision(...)] for node0_ops.drift.decisions.record_decisions
    tick.cursor.dumps()
"""

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from node0_ops.corpus.schema import ROLES, stable_id
from node0_ops.corpus.store import file_history, latest_corpus_version
from node0_ops.drift.baseline import (Baseline, baseline_hashes, example_counts, role_baselines,
                                     role_example_totals)
from node0_ops.drift.decisions import Decision
from node0_ops.drift.reversion import Reversion, find_reverted, merge_history
from node0_ops.drift.score import RoleDrift, diff_hashes, drift_scores, estimate_counts, role_weights
from node0_ops.drift.sensor_config import DriftConfig
from node0_ops.drift.watch import relative
from node0_ops.lineage.db import LineageDB

SENSOR = "convention_drift"
MAX_HISTORY = 10
CURSOR_VERSION = 1


@dataclass
class DriftCursor:
    """The drift sensor's memory (JSON in the Dagster cursor).

    Attributes:
        seen: ``{path: sha256}`` of the last tick.
        history: ``{path: [sha256, ...]}`` distinct versions seen, oldest first (last 10).
        flagged: ``{path: sha256}`` reversions under review (excluded from drift while unchanged).
    """

    seen: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)
    flagged: dict[str, str] = field(default_factory=dict)
    initialized: bool = False

    def dumps(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "seen": self.seen, "history": self.history,
                           "flagged": self.flagged}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> "DriftCursor":
        """Parse a cursor; None/empty/unreadable/other-version gives a fresh one (full re-check)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            return cls()
        return cls(dict(data.get("seen") or {}), {k: list(v) for k, v in (data.get("history") or {}).items()},
                   dict(data.get("flagged") or {}), initialized=True)


@dataclass
class RetrainRequest:
    """A role to retrain: what the sensor turns into one Dagster RunRequest."""

    role: str
    run_key: str
    score: float
    files: list[str]
    baseline: Baseline
    tags: dict[str, str]


@dataclass
class DriftTick:
    """Outcome of one tick."""

    changed: bool
    scores: dict[str, RoleDrift]
    requests: list[RetrainRequest]
    decisions: list[Decision]
    reversions: dict[str, Reversion]
    cursor: DriftCursor
    summary: str


def files_tag(paths: Sequence[str], max_n: int) -> str:
    """``a, b, c (+2 more)`` for a run tag."""
    head = ", ".join(paths[:max_n])
    return head + (f" (+{len(paths) - max_n} more)" if len(paths) > max_n else "")


def _next_cursor(cursor: DriftCursor, current: Mapping[str, str], flagged: dict[str, str]) -> DriftCursor:
    history = {k: list(v) for k, v in cursor.history.items()}
    for path, sha in current.items():
        hist = history.setdefault(path, [])
        if sha not in hist:
            hist.append(sha)
        del hist[:-MAX_HISTORY]
    return DriftCursor(dict(current), history, flagged, initialized=True)


def evaluate_drift(db: LineageDB, town_root: str | os.PathLike, current: Mapping[str, str], cursor: DriftCursor,
                   config: DriftConfig, roles: Sequence[str] = ROLES) -> DriftTick:
    """Evaluate one tick (see the module doc).

    Args:
        db: lineage DB (corpus tables; registry ``models`` read when present).
        current: watched ``{path: sha256}`` now (:func:`node0_ops.drift.watch.scan`).
        cursor: the previous tick's :class:`DriftCursor` (fresh on the first tick).
    """
    current = dict(sorted(current.items()))
    if cursor.initialized and cursor.seen == current:
        return DriftTick(False, {}, [], [], {}, cursor, "no watched file changed since the last tick")

    latest = latest_corpus_version(db)
    if latest is None:   # nothing was trained on anything yet: the first corpus build is the operator's job
        return DriftTick(False, {}, [], [], {}, cursor, "no corpus version yet: materialize corpus_version first")
    baselines = role_baselines(db, roles)
    by_version: dict[str | None, dict] = {}
    estimates: dict[str, dict[str, int]] = {}

    def version_data(version: str | None) -> dict:
        if version not in by_version:
            hashes = baseline_hashes(db, version, town_root, config.extra_paths)
            changes = diff_hashes(hashes, current)
            todo = [p for p, s in changes.items() if s != "removed" and p not in estimates]
            estimates.update(estimate_counts(todo, town_root))
            counts = example_counts(db, version)
            paths = set(hashes) | set(current)
            by_version[version] = {
                "hashes": hashes, "changes": changes, "totals": role_example_totals(db, version),
                "weights": role_weights(counts, {p: estimates.get(p, {}) for p in changes}, paths,
                                        config.unattributed_weight, roles)}
        return by_version[version]

    # reversions against the last seen state
    last_seen = cursor.seen if cursor.initialized else baseline_hashes(db, latest, town_root, config.extra_paths)
    db_hist = {p: v for p, v in file_history(db).items() if p in current}
    history = merge_history(db_hist, cursor.history)
    reversions = find_reverted(current, last_seen, history)
    flagged = {p: s for p, s in cursor.flagged.items() if current.get(p) == s}
    flagged.update({p: r.sha256 for p, r in reversions.items()})

    scores: dict[str, RoleDrift] = {}
    requests: list[RetrainRequest] = []
    decisions: list[Decision] = []
    weights_by_role: dict[str, dict[str, float]] = {}
    unweighted: dict[str, str] = {}
    for role in roles:
        base = baselines[role]
        data = version_data(base.corpus_version)
        weights = {role: data["weights"][role]}
        weights_by_role[role] = weights[role]
        drift = drift_scores(weights, data["changes"], exclude=flagged)[role]
        scores[role] = drift
        unweighted.update({p: s for p, s in data["changes"].items()
                           if p not in flagged and not any(data["weights"][r].get(p, 0) for r in roles)})
        if drift.score <= 0:
            continue
        rel_files = [dict(f, path=relative(f["path"], town_root)) for f in drift.files]
        signature = sorted((f["path"], current.get(f["path"])) for f in drift.files)
        n_role = data["totals"].get(role, 0)
        detail = {"baseline": base.corpus_version, "baseline_source": base.source, "model": base.model,
                  "threshold": config.threshold, "changed_weight": drift.changed_weight,
                  "total_weight": drift.total_weight,
                  "role_examples": n_role}
        if drift.score >= config.threshold:
            run_key = "drift-" + stable_id(SENSOR, role, base.corpus_version, signature)
            names = [f["path"] for f in rel_files]
            tags = {"gtft/trigger": "drift", "gtft/role": role, "gtft/drift_score": f"{drift.score:.4f}",
                    "gtft/changed_files": files_tag(names, config.max_tag_files),
                    "gtft/baseline_corpus": str(base.corpus_version)}
            requests.append(RetrainRequest(role, run_key, drift.score, names, base, tags))
            decisions.append(Decision(SENSOR, "fired", [role], drift.score, rel_files, [run_key], detail, key=run_key))
        else:
            decisions.append(Decision(SENSOR, "skipped", [role], drift.score, rel_files, [], detail,
                                      key=stable_id(role, base.corpus_version, signature)))
    if unweighted:   # changed files no example comes from (settings, overlays): recorded, no role moves
        files = [{"path": relative(p, town_root), "status": s, "weight": 0.0} for p, s in sorted(unweighted.items())]
        decisions.append(Decision(SENSOR, "skipped", [], 0.0, files, [],
                                  {"reason": "no example derives from these files (unattributed_weight = "
                                             f"{config.unattributed_weight})"},
                                  key=stable_id(sorted((p, current.get(p)) for p in unweighted))))

    if reversions:
        share = {r: (sum(w.get(p, 0.0) for p in reversions) / tot) if (tot := sum(w.values())) else 0.0
                 for r, w in weights_by_role.items()}
        touched = sorted(r for r, s in share.items() if s > 0) or list(roles)
        revs = [dict(r.to_dict(), rel=relative(p, town_root), detail=r.describe(relative(p, town_root)))
                for p, r in reversions.items()]
        decisions.append(Decision(
            SENSOR, "flagged", touched, max(share.values()) if share else 0.0,
            [{"path": x["rel"], "status": "reverted", "to_version": x["to_version"]} for x in revs], [],
            {"reversions": revs, "reason": "convention file(s) returned to an earlier version: review before retraining"},
            key=stable_id(sorted((p, r.sha256) for p, r in reversions.items()))))

    fired = [r.role for r in requests]
    parts = [f"fired {', '.join(fired)}" if fired else "no role over the threshold"]
    if reversions:
        parts.append(f"{len(reversions)} reverted file(s) flagged for review")
    return DriftTick(True, scores, requests, decisions, reversions, _next_cursor(cursor, current, flagged),
                     "; ".join(parts))
