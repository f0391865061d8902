"""DPO: eq. 7 loss, completion-only labels, reference = adapter disabled, training moves margins."""

import math

import pytest
import torch

from node0_ops.train.data import IGNORE
from node0_ops.train.dpo import DPOObjective, dpo_loss, tokenize_pairs
from node0_ops.train.dpo_config import DPOConfig


def test_dpo_loss_is_eq7():
    pc, pr, rc, rr = torch.tensor([-10.0, -3.0]), torch.tensor([-12.0, -2.0]), torch.tensor([-11.0, -3.0]), torch.tensor([-11.0, -3.0])
    losses, cr, rj = dpo_loss(pc, pr, rc, rr, beta=0.5)
    for i in range(2):
        z = 0.5 * ((pc[i] - rc[i]) - (pr[i] - rr[i]))
        assert losses[i].item() == pytest.approx(-math.log(1 / (1 + math.exp(-z))), rel=1e-6)
    assert cr.tolist() == pytest.approx([0.5, 0.0]) and rj.tolist() == pytest.approx([-0.5, 0.5])


def test_pairs_label_only_the_completion_and_truncate_the_prompt_start(tokenizer, pair_rows):
    cfg = DPOConfig(max_seq_len=64, max_prompt_len=24, check_memory=False)
    row = dict(pair_rows[0], prompt=[{"role": "user", "content": "old " * 50},
                                     {"role": "assistant", "content": "earlier answer"},
                                     {"role": "user", "content": "now what?"}])
    pairs, rep = tokenize_pairs([row, {"pair_id": "bad", "prompt": [], "chosen": "a"}], tokenizer, cfg)
    assert rep.n_used == 1 and rep.problems[0].startswith("bad:")
    p = pairs[0]
    for seq, text in ((p.chosen, row["chosen"]), (p.rejected, row["rejected"])):
        lab = [t for t, l in zip(seq.input_ids, seq.labels) if l != IGNORE]
        assert tokenizer.decode(lab) == text + "<|im_end|>"  # the prompt's assistant turn is not labelled
        start = seq.labels.index(next(l for l in seq.labels if l != IGNORE))
        assert start == 24 and len(seq) <= 64
        assert tokenizer.decode(seq.input_ids[:start]).endswith("now what?<|im_end|>\n<|im_start|>assistant\n")
    assert p.chosen.input_ids[:24] == p.rejected.input_ids[:24]


def test_reference_is_the_base_model_under_disable_adapter(tiny_cfg, pair_rows, tokenizer):
    from node0_ops.train import adapters as A

    cfg = DPOConfig(base=tiny_cfg.base, max_seq_len=128, max_prompt_len=96, check_memory=False)
    model, tok, _ = A.load_base_model(cfg)
    pairs, _ = tokenize_pairs(pair_rows[:2], tok, cfg)
    obj = DPOObjective(cfg)
    with torch.no_grad():
        plain = [obj.sequence_logps(model, p)[:2] for p in pairs]
    pm = A.new_adapter(model, cfg.lora, "policy")
    for n, prm in pm.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(prm, std=0.5)  # make the policy differ from the base
    obj.prepare(pm, pairs, [])
    for p, (c, r) in zip(pairs, plain):
        assert p.ref_chosen == pytest.approx(float(c), abs=1e-5) and p.ref_rejected == pytest.approx(float(r), abs=1e-5)
    with torch.no_grad():
        pol_c, _, _ = obj.sequence_logps(pm, pairs[0])
    assert abs(float(pol_c) - pairs[0].ref_chosen) > 1e-3


@pytest.mark.parametrize("reference", ["base", "role"])
def test_dpo_training_raises_reward_margin_on_held_out_pairs(tmp_path, tiny_cfg, chat_rows, pair_rows, reference):
    from node0_ops.train.api import train_dpo, train_role_adapter

    role = train_role_adapter(tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 2}), chat_rows[:6], None,
                              tmp_path / "role", run_meta={"role": "witness", "state": str(tmp_path / "s")})
    cfg = DPOConfig(base=tiny_cfg.base, max_steps=12, learning_rate=2e-2, beta=0.5, gradient_accumulation_steps=2,
                    max_seq_len=128, max_prompt_len=96, warmup_steps=0, lr_scheduler="constant",
                    checkpoint_every=0, device="cpu", num_threads=1, check_memory=False, reference=reference)
    # held-out pairs share the failure mode (nudge vs pkill) but not the bead ids
    res = train_dpo(cfg, pair_rows[:6], pair_rows[6:], tmp_path / "dpo", role_adapter_dir=role.adapter_dir,
                    run_meta={"role": "witness", "state": str(tmp_path / "s")})
    before, after = res.metrics["before"], res.metrics
    if reference == "role":
        assert before["reward_margin"] == pytest.approx(0.0, abs=1e-6)  # policy starts equal to the reference
    assert after["reward_margin"] > before["reward_margin"] + 0.1
    assert after["reward_accuracy"] == 1.0 and after["val_loss"] < before["val_loss"]
    meta = __import__("json").loads((tmp_path / "dpo" / "gastown_adapter.json").read_text())
    assert meta["kind"] == "dpo" and meta["parent_adapter"] == role.adapter_dir
