"""node0-finetune CLI: train (child process), dpo from the lineage DB, runs/compare, swarm hook."""

import json
import sys
import types

from gastown_samples import make_example, make_pair

from node0_ops.train.cli import main


def _yaml(tmp_path, base) -> str:
    p = tmp_path / "sft.yaml"
    p.write_text(f"class_name: node0_ops.train.sft_config.SFTConfig\ninit_args:\n  base: {base}\n"
                 "  max_seq_len: 256\n  gradient_accumulation_steps: 2\n  num_threads: 1\n  check_memory: false\n"
                 "  lora: {r: 8, lora_alpha: 16}\n")
    return str(p)


def _export(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    rows = [make_example(i) for i in range(12)]
    (d / "sft_train.jsonl").write_text("".join(json.dumps({"messages": r["messages"]}) + "\n" for r in rows[:10]))
    (d / "sft_val.jsonl").write_text("".join(json.dumps({"messages": r["messages"]}) + "\n" for r in rows[10:]))
    return d


def test_train_in_child_process_then_runs_and_compare(tmp_path, tiny_base, capsys):
    state = tmp_path / "state"
    cfg = _yaml(tmp_path, tiny_base)
    export = _export(tmp_path)
    ids = []
    for r in ("4", "2"):
        rc = main(["train", "--config", cfg, "--role", "polecat", "--corpus-jsonl", str(export), "--state-dir", str(state),
                   "--max-steps", "2", "--lora.r", r, "--quiet"] + (["--in-process"] if r == "2" else []))
        assert rc == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "completed" and out["metrics"]["steps"] == 2
        meta = json.loads(open(f"{out['adapter_dir']}/gastown_adapter.json").read())
        assert meta["hyperparameters"]["lora"]["r"] == int(r) and meta["hyperparameters"]["lora"]["lora_alpha"] == 16
        assert out["adapter_dir"].startswith(str(state / "artifacts" / "adapters"))
        ids.append(out["run_id"])
    assert main(["runs", "--state-dir", str(state)]) == 0
    listing = capsys.readouterr().out
    assert all(i in listing for i in ids) and "completed" in listing
    assert main(["runs", "--state-dir", str(state), "--compare", *ids]) == 0
    table = capsys.readouterr().out
    assert "config.lora.r" in table and ids[0] in table


def test_dpo_from_lineage_db_corpus_version(tmp_path, tiny_base, capsys):
    from node0_ops.lineage.db import LineageDB, upsert

    state = tmp_path / "state"
    db = LineageDB(state / "lineage.duckdb")
    pairs = [make_pair(i) for i in range(6)]
    with db.write() as con:
        upsert(con, "dpo_pairs", [{"pair_id": p["pair_id"], "role": "witness", "task": "patrol-decision",
                                   "split": "val" if i >= 4 else "train", "prompt": json.dumps(p["prompt"]),
                                   "chosen": p["chosen"], "rejected": p["rejected"]} for i, p in enumerate(pairs)])
        upsert(con, "corpus_version_members", [{"corpus_version": "v7", "item_kind": "dpo_pair", "item_id": p["pair_id"]}
                                               for p in pairs])
        con.execute("insert into corpus_versions (corpus_version, created_at) values ('v7', now())")
    rc = main(["dpo", "--role", "witness", "--corpus-version", "latest", "--state-dir", str(state), "--in-process",
               "--quiet", "--base", str(tiny_base), "--max-steps", "2", "--max-seq-len", "128", "--max-prompt-len", "96",
               "--check-memory", "false", "--num-threads", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and "reward_accuracy" in out["metrics"] and out["before"]
    meta = json.loads(open(f"{out['adapter_dir']}/gastown_adapter.json").read())
    assert meta["corpus_version"] == "v7" and meta["kind"] == "dpo"
    assert meta["metrics"]["val_data"]["n_used"] == 2


def test_bad_invocations_explain_themselves(tmp_path, tiny_base, capsys):
    state = str(tmp_path / "s")
    try:
        main(["train", "--task", "git-workflow", "--corpus-jsonl", "x.jsonl", "--state-dir", state])
    except SystemExit as exc:
        assert "--role-adapter" in str(exc)
    else:
        raise AssertionError("expected SystemExit")
    rc = main(["train", "--role", "polecat", "--corpus-jsonl", str(tmp_path / "missing.jsonl"), "--state-dir", state])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
    rc = main(["train", "--role", "polecat", "--corpus-jsonl", str(_export(tmp_path)), "--state-dir", state,
               "--lora.r", "0"])
    assert rc == 1 and "lora.r=0" in capsys.readouterr().err
    assert main(["resume", "nope", "--state-dir", state]) == 1


def test_swarm_subcommand_imports_the_swarm_cli_lazily(monkeypatch):
    seen = {}
    fake = types.ModuleType("node0_ops.swarm.cli")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 7
    pkg = types.ModuleType("node0_ops.swarm")
    pkg.cli = fake
    monkeypatch.setitem(sys.modules, "node0_ops.swarm", pkg)
    monkeypatch.setitem(sys.modules, "node0_ops.swarm.cli", fake)
    assert main(["swarm", "join", "--peers", "2"]) == 7
    assert seen["argv"] == ["join", "--peers", "2"]


def test_config_flags_are_built_from_the_dataclass_fields(capsys):
    """``train``/``dpo`` list every SFTConfig/DPOConfig field with its docstring help and default, so the
    CLI cannot drift from the dataclasses; a misspelt knob is a usage error, not a silent no-op."""
    import pytest

    from node0_ops.train.cli import build_parser
    from node0_ops.train.config_io import config_fields, given_overrides
    from node0_ops.train.dpo_config import DPOConfig
    from node0_ops.train.sft_config import SFTConfig

    for cmd, cls in (("train", SFTConfig), ("dpo", DPOConfig)):
        with pytest.raises(SystemExit):
            build_parser().parse_args([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name, _, default, help_text in config_fields(cls):
            assert f"--{name.replace('_', '-')}" in text and help_text, name
        assert "(default: 0.0002)" in text if cls is SFTConfig else "(default: 5e-05)" in text
    args = build_parser().parse_args(["train", "--role", "x", "--max-steps=3", "--lora.lora_alpha", "16",
                                      "--lora.r", "8", "--gradient-checkpointing"])
    assert given_overrides(args) == {"max_steps": "3", "lora.r": "8", "lora.lora_alpha": "16",
                                     "gradient_checkpointing": "true"}
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["train", "--role", "x", "--max-stepz", "3"])
    assert exc.value.code == 2 and "--max-stepz" in capsys.readouterr().err
