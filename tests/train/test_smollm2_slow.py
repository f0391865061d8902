"""Real SmolLM2-135M (slow): a few LoRA SFT steps on sample-town-like chats lower the val loss,
and the memory estimate brackets the measured peak RSS.

The training runs in a fresh child interpreter so that its ``ru_maxrss`` is the training's own
peak, not the high-water mark earlier tests in the same pytest process left behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHILD = r"""
import json, resource, sys
from gastown_samples import make_example
from node0_ops.train.api import train_role_adapter
from node0_ops.train.sft_config import SFTConfig

out = sys.argv[1]
rows = [make_example(i) for i in range(40)]
cfg = SFTConfig(max_steps=6, gradient_accumulation_steps=2, max_seq_len=512, learning_rate=5e-4,
                warmup_steps=0, checkpoint_every=0, device="cpu")
res = train_role_adapter(cfg, rows[:32], rows[32:], out + "/adapter",
                         run_meta={"role": "polecat", "state": out + "/state"})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
print(json.dumps({"status": res.status, "run_dir": str(res.run_dir),
                  "val_loss": res.metrics["val_loss"], "peak_gib": peak}))
"""


def test_smollm2_role_adapter_learns_and_fits_the_memory_estimate(tmp_path, smollm_folder):
    from node0_ops.train.resources_guard import check_memory
    from node0_ops.train.sft_config import SFTConfig

    env_path = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True,
                          timeout=1200, env={**os.environ, "PYTHONPATH": env_path})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    hist = [json.loads(line) for line in open(f"{res['run_dir']}/metrics.jsonl")]
    assert res["status"] == "completed" and len(hist) == 6
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert res["val_loss"] < hist[0]["loss"]
    # the same estimate the guard makes for this config (incl. bf16 layout and load transient)
    cfg = SFTConfig(max_steps=6, gradient_accumulation_steps=2, max_seq_len=512, learning_rate=5e-4,
                    warmup_steps=0, checkpoint_every=0, device="cpu")
    est = check_memory(cfg, smollm_folder, free_bytes=2 ** 40).total / 2 ** 30
    print(f"peak {res['peak_gib']:.2f} GiB vs estimate {est:.2f} GiB")
    assert res["peak_gib"] < est * 1.25, (res["peak_gib"], est)  # the guard does not underestimate badly
    assert res["peak_gib"] > est * 0.3, (res["peak_gib"], est)  # nor overestimate wildly
