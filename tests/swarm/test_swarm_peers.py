"""Hivemind swarm end to end: 2-3 peers as separate processes on 127.0.0.1 (tiny LoRA model).

To fit a 2-core machine, one scenario (module fixture ``abc_run``) covers three properties:
A (bootstrap) and B train together; C joins late (different LoRA seed) and must load the state
and then train in step with A and B (with 3 s rounds it may first run 1-2 rounds one epoch
behind until hivemind resyncs it; the fixture waits for agreement); then B is SIGKILLed and A
and C must carry on. The auth and isolation tests run their own peers.
Every test has a hard timeout and kills its process groups in ``finally``; each checks that no
process (p2pd included) and no socket file is left behind.
"""

import re
import subprocess
import time

import pytest

from tests.swarm.harness import FAST, Swarm, hard_timeout

pytestmark = pytest.mark.swarm

TOL = 1e-6


def by_epoch(records: list[dict], event: str = "epoch") -> dict[int, dict]:
    return {r["epoch"]: r for r in records if r["event"] == event}


def max_diff(a: dict, b: dict) -> float:
    return max(abs(x - y) for x, y in zip(a["values"], b["values"], strict=True))


def agree(a: dict, b: dict) -> bool:
    return a["sha256"] == b["sha256"] or max_diff(a, b) <= TOL


def assert_clean(swarm: Swarm) -> None:
    assert not swarm.leftovers, f"processes left behind: {swarm.leftovers}"
    assert not swarm.sockets_left, f"socket files left behind: {swarm.sockets_left}"


@pytest.fixture(scope="module")
def abc_run(tmp_path_factory):
    """Run the A+B -> late C -> SIGKILL B scenario once; returns logs, timings and cleanup status."""
    swarm = Swarm(keep=tmp_path_factory.mktemp("abc_logs"))
    t0 = time.time()
    out: dict = {}
    try:
        with hard_timeout(420, "A/B/C swarm scenario"):
            run_dir = swarm.root / "run"
            swarm.spawn("a", "start", "--out-dir", str(run_dir), "--min-peers", "2", "--max-seconds", "360",
                        "--progress-log", str(swarm.root / "a.jsonl"), *FAST)
            info = swarm.join_info(run_dir, alive=["a"])
            out["printed"] = swarm.text("a", "out")
            join = ["join", "--initial-peers", *info["initial_peers"], "--key-file", info["key_file"],
                    "--config", info["config"], "--max-seconds", "360", *FAST]
            swarm.spawn("b", *join, "--progress-log", str(swarm.root / "b.jsonl"))
            swarm.wait_for(lambda: min(swarm.epoch("a"), swarm.epoch("b")) >= 3, 150, "A and B at epoch 3",
                           alive=["a", "b"])
            out["t_ab"] = time.time()
            swarm.spawn("c", *join, "--seed", "7", "--progress-log", str(swarm.root / "c.jsonl"))

            def c_in_step() -> bool:  # C trained and A, B, C agreed on an epoch after C's join
                logs = {n: swarm.log(n) for n in "abc"}
                join = [r for r in logs["c"] if r["event"] == "join"]
                if not join:
                    return False
                a, b, c = (by_epoch(logs[n]) for n in "abc")
                return any(agree(a[e], c[e]) and agree(b[e], c[e]) for e in set(a) & set(b) & set(c)
                           if e > join[0]["epoch"])
            swarm.wait_for(c_in_step, 150, "late joiner C to train in step with A and B", alive=["a", "b", "c"])
            out["kill_epoch"] = max(swarm.epoch("a"), swarm.epoch("c"))
            out["t_kill"] = time.time()
            swarm.kill("b")
            out["b_rc"] = swarm.procs["b"].wait(10)
            swarm.wait_for(lambda: min(swarm.epoch("a"), swarm.epoch("c")) >= out["kill_epoch"] + 3, 150,
                           "A and C to make 3 epochs after B died", alive=["a", "c"])
            out["t_end"] = time.time()
            out["codes"] = swarm.stop(["a", "c"])
            out["logs"] = {n: swarm.log(n) for n in "abc"}
            out["stderr"] = {n: swarm.text(n) for n in "abc"}
    finally:
        swarm.cleanup()
    out["swarm"] = swarm
    out["seconds"] = time.time() - t0
    yield out


def test_join_command_is_printed(abc_run):
    printed = abc_run["printed"]
    assert "node0-finetune swarm join --initial-peers /ip4/127.0.0.1/tcp/" in printed
    assert "--key-file" in printed and "/p2p/12D3KooW" in printed


def test_lora_parameters_agree_after_averaging_rounds(abc_run):
    a, b, c = (by_epoch(abc_run["logs"][n]) for n in "abc")
    common_ab = sorted(set(a) & set(b))
    assert len(common_ab) >= 3, f"A and B shared only epochs {common_ab}"
    c_join = [r for r in abc_run["logs"]["c"] if r["event"] == "join"][0]["epoch"]
    # only the rounds right after C joined may miss a peer (hivemind regroups, and on a loaded 2-core
    # machine a 3 s round can slip for 2-3 rounds); A and B must agree before C joins and again after
    split = [e for e in common_ab if not agree(a[e], b[e])]
    for e in split:
        assert c_join < e <= c_join + 3, f"A and B differ at epoch {e}: max |diff| {max_diff(a[e], b[e]):.3g}"
    if split:
        healed = [e for e in common_ab if e > split[0] and agree(a[e], b[e])]
        assert healed, (f"A and B never agreed again after epoch {split[0]} (C joined at {c_join}; common "
                        f"epochs {common_ab}; max |diff| {max_diff(a[split[-1]], b[split[-1]]):.3g})")
    # with three peers, the round right after C's join may still miss C (hivemind heals it next round)
    abc = sorted(set(a) & set(b) & set(c))
    synced = [e for e in abc if agree(a[e], c[e]) and agree(b[e], c[e])]
    assert synced, f"A, B and C never agreed (common epochs {abc})"
    # training really moved the LoRA weights
    init = [r for r in abc_run["logs"]["a"] if r["event"] == "init"][0]
    assert a[common_ab[-1]]["sha256"] != init["sha256"]
    bitwise = sum(a[e]["sha256"] == b[e]["sha256"] for e in common_ab)
    print(f"A/B epochs compared: {len(common_ab)}, bitwise equal: {bitwise}; A/B/C epochs {len(abc)}, "
          f"agreeing {len(synced)}; scenario {abc_run['seconds']:.0f} s")


def test_sigkilled_peer_does_not_stop_the_others(abc_run):
    assert abc_run["b_rc"] == -9
    kill = abc_run["kill_epoch"]
    a, c = (by_epoch(abc_run["logs"][n]) for n in "ac")
    assert max(a) >= kill + 3 and max(c) >= kill + 3, f"A reached {max(a)}, C {max(c)}, kill at {kill}"
    after = sorted(e for e in set(a) & set(c) if e > kill + 1)
    assert any(agree(a[e], c[e]) for e in after), f"A and C never agreed after the kill (epochs {after})"
    assert abc_run["codes"] == {"a": 0, "c": 0}, abc_run["codes"]
    secs = (abc_run["t_end"] - abc_run["t_kill"]) / max(1, max(a) - kill)
    print(f"after SIGKILL: {max(a) - kill} epochs in {abc_run['t_end'] - abc_run['t_kill']:.1f} s ({secs:.1f} s/round)")
    assert_clean(abc_run["swarm"])


def test_late_joiner_loads_state_from_peers(abc_run):
    logs = abc_run["logs"]
    init_a = [r for r in logs["a"] if r["event"] == "init"][0]
    init_c = [r for r in logs["c"] if r["event"] == "init"][0]
    join_c = [r for r in logs["c"] if r["event"] == "join"][0]
    assert init_c["sha256"] != init_a["sha256"], "C must start from a different LoRA init (seed 7)"
    assert join_c["loaded_state"] and join_c["epoch"] >= 3
    donors = [r for n in "ab" for r in logs[n] if r["event"] == "epoch" and r["epoch"] in (join_c["epoch"], join_c["epoch"] - 1)]
    assert any(agree(join_c, r) for r in donors), "C's parameters after load_state_from_peers match no peer's"
    a, c = by_epoch(logs["a"]), by_epoch(logs["c"])
    later = sorted(e for e in set(a) & set(c) if e > join_c["epoch"])
    assert later, "C and A share no epoch after the join"
    assert any(agree(a[e], c[e]) for e in later), f"C never matched A after joining (epochs {later})"
    behind = [e for e in later if not agree(a[e], c[e])]
    print(f"C loaded epoch {join_c['epoch']}; epochs after join not matching A: {behind} of {len(later)}")


def _status(swarm: Swarm, name: str, *args: str) -> subprocess.Popen:
    return swarm.spawn(name, "status", *args)


def test_peer_with_wrong_key_cannot_join():
    from node0_ops.swarm.auth import SwarmKey

    with Swarm() as swarm, hard_timeout(180, "auth test"):
        run_dir = swarm.root / "dht"
        swarm.spawn("boot", "dht", "--run-id", "authrun", "--out-dir", str(run_dir), "--max-seconds", "150")
        info = swarm.join_info(run_dir, alive=["boot"])
        wrong = swarm.root / "wrong.key"
        SwarmKey.generate("authrun").save(wrong)
        peers = ["--initial-peers", *info["initial_peers"], "--run-id", "authrun"]
        good = swarm.spawn("good", "status", *peers, "--key-file", info["key_file"])
        bad = swarm.spawn("bad", "status", *peers, "--key-file", str(wrong))
        nokey = swarm.spawn("nokey", "status", *peers)
        codes = {n: p.wait(120) for n, p in {"good": good, "bad": bad, "nokey": nokey}.items()}
        assert codes == {"good": 0, "bad": 3, "nokey": 3}, f"{codes}\n{swarm.describe()}"
        assert '"rejected": false' in swarm.text("good", "out")
        assert info["key_fingerprint"] in swarm.text("good", "out")  # read the record the bootstrap stored
        for name in ("bad", "nokey"):
            assert '"rejected": true' in swarm.text(name, "out")
        assert swarm.stop(["boot"]) == {"boot": 0}
    assert_clean(swarm)


def test_runs_with_different_run_ids_stay_isolated():
    """Runs X (2 peers, PowerSGD rank 1) and Y (1 peer) share one DHT and key: no cross-averaging."""
    with Swarm() as swarm, hard_timeout(300, "isolation test"):
        run_dir = swarm.root / "runx"
        psgd = ["--compression", "powersgd", "--powersgd-rank", "1"]  # run X also exercises PowerSGD
        swarm.spawn("x1", "start", "--run-id", "runx", "--out-dir", str(run_dir), "--min-peers", "2",
                    "--max-seconds", "240", "--progress-log", str(swarm.root / "x1.jsonl"), *psgd, *FAST)
        info = swarm.join_info(run_dir, alive=["x1"])
        common = ["--initial-peers", *info["initial_peers"], "--key-file", info["key_file"], "--max-seconds", "240",
                  *FAST]
        swarm.spawn("x2", "join", "--run-id", "runx", "--min-peers", "2", "--progress-log",
                    str(swarm.root / "x2.jsonl"), *psgd, *common)
        swarm.spawn("y", "join", "--run-id", "runy", "--min-peers", "1", "--progress-log",
                    str(swarm.root / "y.jsonl"), *common)
        swarm.wait_for(lambda: min(swarm.epoch(n) for n in ("x1", "x2", "y")) >= 3, 200,
                       "runs X (2 peers) and Y (1 peer) at epoch 3", alive=["x1", "x2", "y"])
        assert swarm.stop(["x1", "x2", "y"]) == {"x1": 0, "x2": 0, "y": 0}, swarm.describe()
        x1, x2, y = (swarm.log(n) for n in ("x1", "x2", "y"))
        errs = {n: swarm.text(n) for n in ("x1", "x2", "y")}
    assert_clean(swarm)
    assert all(r["num_peers"] == 2 for r in x1 + x2 if r["event"] == "epoch")
    assert all(r["num_peers"] == 1 for r in y if r["event"] == "epoch")
    ex1, ex2, ey = by_epoch(x1), by_epoch(x2), by_epoch(y)
    for e in set(ex1) & set(ex2):
        assert agree(ex1[e], ex2[e])
    x_shas = {r["sha256"] for r in x1 + x2 if r["event"] == "epoch"}
    assert not x_shas & {r["sha256"] for r in y if r["event"] == "epoch"}
    x_groups = [int(n) for n in re.findall(r"Averaged gradients with (\d+) peers", errs["x1"] + errs["x2"])]
    assert x_groups and max(x_groups) == 2, x_groups
    assert not re.findall(r"Averaged (gradients|parameters) with [2-9]", errs["y"]), "run Y averaged with someone"
