"""Exact resume after SIGKILL and SIGTERM (tiny model, child processes), mismatch refusal, cancel."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from node0_ops.train import api, runner, tracking
from node0_ops.train.checkpoint import latest_checkpoint
from node0_ops.train.sft_config import SFTConfig

from gastown_samples import make_example

REPO = Path(__file__).resolve().parents[2]


def _cfg(base) -> SFTConfig:
    # dropout > 0 so the torch RNG state matters; 2 micro-batches per step; checkpoints every 2 steps
    return SFTConfig(base=str(base), max_steps=8, max_seq_len=256, gradient_accumulation_steps=2, learning_rate=1e-2,
                     warmup_steps=2, checkpoint_every=2, save_total_limit=2, device="cpu", num_threads=1, seed=7,
                     check_memory=False, lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.1})


def _spec(root: Path, base, name: str, data: dict) -> dict:
    return runner.make_spec(kind="role", config=_cfg(base), out_dir=root / f"adapter-{name}", data=data, role="polecat",
                            db_path=root / "lineage.duckdb", run_id=name, run_dir=str(root / "runs" / name))


def _start(spec: dict, sleep_s: float = 0.3, prefix: str = "") -> subprocess.Popen:
    env = dict(os.environ, GTFT_TRAIN_STEP_SLEEP_S=str(sleep_s), PYTHONPATH=str(REPO))
    cmd = f"{prefix}exec {sys.executable} -m node0_ops.train.worker {Path(spec['run_dir']) / 'spec.json'}"
    return subprocess.Popen(["sh", "-c", cmd], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=open(Path(spec["run_dir"]) / "worker.log", "wb"))


def _wait_checkpoint(run_dir: str, step: int, proc: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = latest_checkpoint(run_dir)
        if last is not None and int(last.name.split("-")[1]) >= step:
            return last
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}): "
                                 + (Path(run_dir) / "worker.log").read_text()[-2000:])
        time.sleep(0.1)
    raise AssertionError("no checkpoint in time")


def _max_diff(a: Path, b: Path) -> float:
    sa, sb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    assert sa.keys() == sb.keys()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa)


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("resume")
    rows = [make_example(i) for i in range(20)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:16]))
    (root / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[16:]))
    data = {"train_jsonl": str(root / "train.jsonl"), "val_jsonl": str(root / "val.jsonl")}
    ref = runner.execute(_spec(root, tiny_base, "reference", data))  # uninterrupted, in this process
    assert ref.status == "completed"
    return {"root": root, "data": data, "base": tiny_base, "ref": Path(ref.adapter_dir)}


def test_resume_after_sigkill_equals_uninterrupted_run(world):
    spec = _spec(world["root"], world["base"], "killed", world["data"])
    proc = _start(spec)
    _wait_checkpoint(spec["run_dir"], 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    db = tracking.open_db(world["root"] / "lineage.duckdb")
    assert tracking.get_run(db, "killed")["status"] == "running"  # killed hard: nothing could update it
    res = api.resume_run("killed", db=world["root"] / "lineage.duckdb")
    assert res.status == "completed" and res.adapter_dir == spec["out_dir"]
    assert _max_diff(Path(res.adapter_dir), world["ref"]) <= 1e-6
    row = tracking.get_run(db, res.run_id)
    assert row["resumed_from"] == "killed" and row["mismatch_allowed"] is False
    steps = [r["step"] for r in tracking.run_metrics(db, res.run_id)]
    assert steps and steps[-1] == 8 and steps[0] > 2


def test_sigterm_saves_a_checkpoint_and_resume_is_exact(world):
    spec = _spec(world["root"], world["base"], "termed", world["data"])
    proc = _start(spec, sleep_s=1.0)
    first = _wait_checkpoint(spec["run_dir"], 2, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    db = tracking.open_db(world["root"] / "lineage.duckdb")
    row = tracking.get_run(db, "termed")
    assert row["status"] == "paused"
    last = latest_checkpoint(spec["run_dir"])
    step = int(last.name.split("-")[1])
    assert step > int(first.name.split("-")[1]) and step % 2 == 1  # periodic saves are even: this one is SIGTERM's
    res = api.resume_run("termed", db=world["root"] / "lineage.duckdb")
    assert _max_diff(Path(res.adapter_dir), world["ref"]) <= 1e-6


def test_resume_refuses_a_changed_corpus_unless_allowed(world, tmp_path):
    root = world["root"]
    src = Path(world["data"]["train_jsonl"]).read_text()
    (tmp_path / "train.jsonl").write_text(src)
    data = dict(world["data"], train_jsonl=str(tmp_path / "train.jsonl"))
    spec = _spec(root, world["base"], "changed", data)
    spec["config"]["max_steps"] = 3
    runner.write_spec(spec)
    from node0_ops.train.checkpoint import GracefulStop

    stop = GracefulStop()
    out = runner.execute(spec, stop=stop, on_step=lambda m: stop.request() if m.step == 1 else None)
    assert out.status == "paused"
    (tmp_path / "train.jsonl").write_text(src + json.dumps(make_example(99)) + "\n")
    with pytest.raises(runner.ResumeMismatch, match="corpus changed.*allow_mismatch"):
        api.resume_run("changed", db=root / "lineage.duckdb")
    res = api.resume_run("changed", db=root / "lineage.duckdb", allow_mismatch=True)
    assert res.status == "completed" and res.metrics["resume_mismatch"]
    row = tracking.get_run(tracking.open_db(root / "lineage.duckdb"), res.run_id)
    assert row["mismatch_allowed"] is True and row["resumed_from"] == "changed"


def test_cancel_stops_the_process_group_and_marks_the_run(world):
    spec = _spec(world["root"], world["base"], "cancelled-run", world["data"])
    spec["config"]["max_steps"] = 200
    runner.write_spec(spec)
    # a helper process in the worker's group, like hivemind's p2pd daemon
    proc = _start(spec, sleep_s=0.5, prefix="sleep 600 & ")
    _wait_checkpoint(spec["run_dir"], 2, proc)
    pgid = proc.pid
    assert len(api._group_members(pgid)) == 2
    report = api.cancel_run("cancelled-run", db=world["root"] / "lineage.duckdb", timeout=60)
    proc.wait(timeout=30)
    assert report["signalled"] and report["pgid"] == pgid and report["orphans"] == []
    assert api._group_members(pgid) == []
    row = tracking.get_run(tracking.open_db(world["root"] / "lineage.duckdb"), "cancelled-run")
    assert row["status"] == "cancelled"
    assert (Path(spec["run_dir"]) / "CANCEL").exists()
