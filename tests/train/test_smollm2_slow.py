"""Real SmolLM2-135M (slow): a few LoRA SFT steps on sample-town-like chats lower the val loss,
and the memory estimate brackets the measured peak RSS."""

import resource

import pytest

from gastown_samples import make_example

pytestmark = pytest.mark.slow


def test_smollm2_role_adapter_learns_and_fits_the_memory_estimate(tmp_path, smollm_folder):
    import json

    from node0_ops.train.api import train_role_adapter
    from node0_ops.train.resources_guard import check_memory
    from node0_ops.train.sft_config import SFTConfig

    rows = [make_example(i) for i in range(40)]
    cfg = SFTConfig(max_steps=6, gradient_accumulation_steps=2, max_seq_len=512, learning_rate=5e-4,
                    warmup_steps=0, checkpoint_every=0, device="cpu")
    before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    res = train_role_adapter(cfg, rows[:32], rows[32:], tmp_path / "adapter",
                             run_meta={"role": "polecat", "state": str(tmp_path / "state")})
    hist = [json.loads(line) for line in open(f"{res.run_dir}/metrics.jsonl")]
    assert res.status == "completed" and len(hist) == 6
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert res.metrics["val_loss"] < hist[0]["loss"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    # the same estimate the guard makes for this config (incl. bf16 autocast copies when used)
    est = check_memory(cfg, smollm_folder, free_bytes=2 ** 40).total / 2 ** 30
    assert peak < est * 1.25 or before_rss > est  # the guard does not underestimate badly
