"""node0_ops.drift without Dagster or a corpus: the formula, reversions, watch rules, settings, keys."""

from pathlib import Path

import pytest

from node0_ops.drift.decisions import Decision
from node0_ops.drift.engine import DriftCursor, files_tag
from node0_ops.drift.regression import parse_model
from node0_ops.drift.reversion import find_reverted, merge_history
from node0_ops.drift.score import diff_hashes, drift_scores, role_weights
from node0_ops.drift.sensor_config import SensorSettings
from node0_ops.drift.sessions import session_key
from node0_ops.drift.watch import scan, watch_kind


def test_drift_is_the_changed_share_of_example_weighted_files():
    base = {"a": {"crew": 3}, "b": {"crew": 1, "polecat": 2}, "s": {}}
    now = {"a": {"crew": 5}}                              # the edit makes a yield 5 crew examples
    weights = role_weights(base, now, ["a", "b", "s"], unattributed_weight=0.0, roles=["crew", "polecat"])
    assert weights == {"crew": {"a": 5.0, "b": 1.0, "s": 0.0}, "polecat": {"a": 0.0, "b": 2.0, "s": 0.0}}
    scores = drift_scores(weights, {"a": "changed", "s": "changed"})
    assert scores["crew"].score == pytest.approx(5 / 6) and scores["polecat"].score == 0
    assert [f["path"] for f in scores["crew"].files] == ["a"]          # zero-weight files are not listed
    assert drift_scores(weights, {"a": "changed"}, exclude=["a"])["crew"].score == 0


def test_unattributed_weight_counts_files_without_examples_for_every_role():
    weights = role_weights({"a": {"crew": 3}, "s": {}}, {}, ["a", "s"], unattributed_weight=0.5, roles=["crew", "dog"])
    scores = drift_scores(weights, {"s": "changed"})
    assert scores["crew"].score == pytest.approx(0.5 / 3.5) and scores["dog"].score == pytest.approx(1.0)


def test_removed_and_added_files_are_changes():
    assert diff_hashes({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == {"b": "changed", "c": "added"}
    assert diff_hashes({"a": "1"}, {}) == {"a": "removed"}


def test_reversion_rules():
    hist = merge_history({"f": ["v1", "v2"]}, {"f": ["v2", "v3"]})
    assert hist == {"f": ["v1", "v2", "v3"]}
    rev = find_reverted({"f": "v1"}, {"f": "v3"}, hist)["f"]
    assert (rev.to_version, rev.n_versions, rev.previous_sha256) == (1, 3, "v3")
    assert find_reverted({"f": "v3"}, {"f": "v3"}, hist) == {}          # unchanged
    assert find_reverted({"f": "v4"}, {"f": "v3"}, hist) == {}          # a new version
    assert find_reverted({"f": "v3"}, {}, hist) == {}                   # restored as the latest version
    assert find_reverted({"g": "x"}, {}, hist) == {}                    # no history


def test_watch_kinds_follow_the_town_layout(tmp_path):
    town = tmp_path
    cases = {
        "CLAUDE.md": "instructions", "gastown/polecats/nux/gastown/AGENTS.md": "instructions",
        ".beads/formulas/mol-x.formula.toml": "formula", "webapp/.beads/formulas/a.formula.json": "formula",
        "webapp/mayor/rig/.beads/formulas/b.formula.toml": "formula", ".beads/formulas/.installed.json": None,
        "formula-overlays/mol-x.toml": "overlay", "webapp/formula-overlays/mol-x.toml": "overlay",
        "settings/config.json": "settings", "webapp/settings/config.json": "settings",
        "settings/escalation.json": None, "directives/polecat.md": "directive", "docs/architecture.md": None,
        ".claude/projects/-x/CLAUDE.md": None, "mayor/settings/config.json": None, "webapp/notes.formula.toml": None,
    }
    assert {rel: watch_kind(town / rel, town) for rel in cases} == cases
    assert watch_kind(town / "extra/rules.txt", town, ["extra"]) == "extra"
    for rel in cases:
        (town / rel).parent.mkdir(parents=True, exist_ok=True)
        (town / rel).write_text(rel)
    found = {Path(p).relative_to(town).as_posix() for p in scan(town)}
    assert found == {rel for rel, kind in cases.items() if kind}
    with pytest.raises(FileNotFoundError, match="set GT_ROOT"):
        scan(town / "missing")


def test_settings_file_env_overrides_and_errors(tmp_path, monkeypatch):
    for var in ("GTFT_DRIFT_THRESHOLD", "GTFT_SESSION_MIN_AGE_S", "GTFT_ROLLBACK_ON_REGRESSION"):
        monkeypatch.delenv(var, raising=False)
    assert SensorSettings.load(tmp_path).drift.threshold == 0.05
    (tmp_path / "sensors.yaml").write_text("drift:\n  threshold: 0.2\nsessions:\n  min_age_s: 5\n")
    s = SensorSettings.load(tmp_path)
    assert (s.drift.threshold, s.sessions.min_age_s, s.eval_regression.rollback_on_regression) == (0.2, 5.0, False)
    monkeypatch.setenv("GTFT_DRIFT_THRESHOLD", "0.3")
    monkeypatch.setenv("GTFT_ROLLBACK_ON_REGRESSION", "yes")
    s = SensorSettings.load(tmp_path)
    assert (s.drift.threshold, s.eval_regression.rollback_on_regression) == (0.3, True)
    with pytest.raises(ValueError, match="unknown key\\(s\\) \\['treshold'\\] in drift"):
        SensorSettings.from_dict({"drift": {"treshold": 0.1}})
    with pytest.raises(ValueError, match="tolerance=1.5 must be a score drop"):
        SensorSettings.from_dict({"eval_regression": {"tolerance": 1.5}})
    monkeypatch.setenv("GTFT_ROLLBACK_ON_REGRESSION", "maybe")
    with pytest.raises(ValueError, match="GTFT_ROLLBACK_ON_REGRESSION='maybe'"):
        SensorSettings.load(tmp_path)


def test_cursor_round_trip_and_garbage():
    c = DriftCursor({"a": "1"}, {"a": ["0", "1"]}, {"b": "2"}, initialized=True)
    assert DriftCursor.loads(c.dumps()) == c
    assert not DriftCursor.loads("not json").initialized and not DriftCursor.loads(None).initialized
    assert files_tag(["a", "b", "c"], 2) == "a, b (+1 more)"


def test_session_keys_are_stable_safe_and_unique(tmp_path):
    uuid = tmp_path / "5f0c1d2e-7a7b-4c3d-9e8f-0a1b2c3d4e5f.jsonl"
    assert session_key(uuid, {}) == uuid.stem
    odd = session_key(tmp_path / "my session (1)....jsonl", {})
    assert odd.startswith("my-session-1-") and "..." not in odd
    taken = {uuid.stem: str(tmp_path / "elsewhere" / uuid.name)}
    other = session_key(uuid, taken)
    assert other != uuid.stem and other.startswith(uuid.stem)
    assert session_key(uuid, {**taken, other: str(uuid)}) == other     # same path -> same key


def test_model_refs_and_decisions():
    assert parse_model("polecat-v3@3") == ("polecat", 3) and parse_model("polecat@2") == ("polecat", 2)
    assert parse_model("node0-polecat") is None and parse_model("polecat-v3@4") is None
    with pytest.raises(ValueError, match="must be one of"):
        Decision("s", "maybe", [], None)
    a = Decision("s", "fired", ["crew"], 0.2, key="k")
    assert a.decision_id == Decision("s", "fired", ["polecat"], 0.9, key="k").decision_id
