"""``gt-model rollout advance``: the next stage opens only when the current stage earned it."""

import json

import pytest

from node0_ops.registry.cli import main
from node0_ops.registry.schema import registry_db


@pytest.fixture
def run(state, sample_town, capsys):
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 2\n")   # deacon, boot | witness open

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state-dir", str(state), "--town", str(sample_town), *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def test_advance_refused_until_the_open_stage_passes_then_written_and_recorded(run, make_model, sample_town, state):
    code, _, err = run("rollout", "advance")
    assert code == 1 and "witness (no active model)" in err
    make_model("witness", good=False)
    assert run("set-status", "witness-v1", "active")[0] == 0
    code, _, err = run("rollout", "advance")
    assert code == 1 and "witness (witness-v1@1)" in err and "bead-management" in err
    data = json.loads(run("rollout", "status", "--json")[1])
    row = next(r for r in data["roles"] if r["role"] == "witness")
    assert row["model"] == "witness-v1@1" and row["passes"] is False and row["state"] == "open"
    make_model("witness", good=True)
    assert run("set-status", "witness-v2", "active")[0] == 0
    code, out, _ = run("rollout", "advance")
    assert code == 0 and "stage 2 -> 3" in out
    assert "stage: 3" in (sample_town / "settings" / "node0-rollout.yaml").read_text()
    code, out, _ = run("rollout")
    assert "stage 3 of 4" in out and "witness-v2@2" in out
    ev = registry_db(state).query("select * from rollout_events")
    assert [(e["from_stage"], e["to_stage"], e["forced"]) for e in ev] == [(2, 3, False)]


def test_force_needs_a_reason_and_is_recorded(run, state, sample_town):
    code, _, err = run("rollout", "advance", "--force")
    assert code != 0 and "--reason" in err
    code, out, _ = run("rollout", "advance", "--force", "--reason", "pilot week went fine")
    assert code == 0 and "FORCED" in out
    (ev,) = registry_db(state).query("select * from rollout_events")
    assert ev["forced"] and ev["reason"] == "pilot week went fine" and "witness" in ev["blockers"]
