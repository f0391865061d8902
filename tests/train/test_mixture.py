"""Role mixture: town-core rows of every role plus the role's own rows up-weighted."""

import pytest

from node0_ops.train.mixture_config import MixtureConfig, build_mixture


def _rows():
    rows = []
    for role, task, n in [("deacon", "patrol-decision", 10), ("deacon", "conventions", 4), ("witness", "patrol-decision", 8),
                          ("mayor", "bead-management", 6), ("polecat", "git-workflow", 5), ("mayor", "planning", 7)]:
        rows += [{"example_id": f"{role}-{task}-{i}", "role": role, "task": task} for i in range(n)]
    return rows


def test_role_rows_upweighted_core_from_other_roles_and_no_other_role_work():
    cfg = MixtureConfig(role_weight=3, core_weight=1, task_weights={})
    rows, rep = build_mixture(_rows(), "deacon", cfg)
    assert rep.counts == {"deacon/patrol-decision": 30, "deacon/conventions": 12,
                          "core/bead-management": 6, "core/git-workflow": 5}
    assert rep.distinct["deacon/patrol-decision"] == 10
    assert not any(r["role"] == "witness" for r in rows)            # another role's patrol work stays out
    assert not any(r["task"] == "planning" for r in rows)
    assert rep.config["role_weight"] == 3 and len(rows) == rep.n_rows == 53


def test_fractional_weights_are_seeded_and_task_weights_multiply():
    cfg = MixtureConfig(role_weight=1.5, core_weight=0.5, task_weights={"patrol-decision": 2})
    a, ra = build_mixture(_rows(), "deacon", cfg)
    b, rb = build_mixture(list(reversed(_rows())), "deacon", cfg)
    assert ra.counts == rb.counts and [r["example_id"] for r in a] == [r["example_id"] for r in b]
    assert ra.counts["deacon/patrol-decision"] == 30                 # 1.5 * 2 = 3 exactly
    assert 4 <= ra.counts["deacon/conventions"] <= 8


def test_cap_keeps_counts_consistent():
    rows, rep = build_mixture(_rows(), "deacon", MixtureConfig(max_examples=10))
    assert len(rows) == 10 == sum(rep.counts.values())


@pytest.mark.parametrize("bad,msg", [({"core_tasks": ["gossip"]}, "core_tasks"), ({"role_weight": -1}, "role_weight"),
                                     ({"role_weight": 0, "core_weight": 0}, "both 0"), ({"nope": 1}, "not a setting"),
                                     ({"task_weights": {"patrol-decision": "x"}}, "task_weights")])
def test_bad_config_is_refused_with_fix(bad, msg):
    with pytest.raises(ValueError, match=msg):
        MixtureConfig.from_dict(bad)


def test_unknown_role():
    with pytest.raises(ValueError, match="not one of"):
        build_mixture(_rows(), "janitor")


def test_origin_weights_thin_out_one_origin():
    rows = [{"example_id": f"b{i}", "role": "mayor", "task": "bead-management", "origin": "beads"} for i in range(400)]
    rows += [{"example_id": f"c{i}", "role": "mayor", "task": "bead-management", "origin": "commands"} for i in range(400)]
    out, _ = build_mixture(rows, "deacon", MixtureConfig(core_weight=1, origin_weights={"beads": 0.25}))
    n_beads = sum(r["origin"] == "beads" for r in out)
    assert sum(r["origin"] == "commands" for r in out) == 400 and 60 < n_beads < 140
    with pytest.raises(ValueError, match="origin_weights"):
        MixtureConfig(origin_weights={"beads": -1})
