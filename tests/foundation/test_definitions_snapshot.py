"""The code location's graph (assets, checks, jobs, sensors) matches a checked-in snapshot, so a change
to the graph is a visible diff. After an intended change: GTFT_UPDATE_SNAPSHOT=1 pytest this file."""

import os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("definitions.snapshot")


def graph_lines() -> list[str]:
    """One line per asset (partitions, upstream deps), asset check (blocking), job and sensor (target)."""
    import gastown_assets.definitions as d

    repo = d.defs.get_repository_def()
    graph = repo.asset_graph
    lines = []
    for node in sorted(graph.asset_nodes, key=lambda n: n.key.to_user_string()):
        pd = type(node.partitions_def).__name__ if node.partitions_def else "-"
        deps = ",".join(sorted(k.to_user_string() for k in node.parent_keys)) or "-"
        lines.append(f"asset {node.key.to_user_string()} partitions={pd} deps={deps}")
    for ck in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        lines.append(f"check {ck.asset_key.to_user_string()}:{ck.name} blocking={graph.get_check_spec(ck).blocking}")
    lines += [f"job {j.name}" for j in sorted(repo.get_all_jobs(), key=lambda j: j.name) if not j.name.startswith("__")]
    for s in sorted(repo.sensor_defs, key=lambda s: s.name):
        targets = sorted("(asset selection)" if t.job_name.startswith("__") else t.job_name for t in s.targets)
        lines.append(f"sensor {s.name} targets={','.join(targets) or '-'}")
    return lines


def test_definitions_match_the_snapshot():
    lines = graph_lines()
    if os.environ.get("GTFT_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text("\n".join(lines) + "\n")
    expected = SNAPSHOT.read_text().splitlines()
    added = [x for x in lines if x not in expected]
    removed = [x for x in expected if x not in lines]
    assert not added and not removed, (f"the code location's graph changed: added {added}, removed {removed}; "
                                       "if intended, rerun with GTFT_UPDATE_SNAPSHOT=1 and commit the snapshot")
