"""Common flags parse before and after the subcommand in every console script (node0_ops.cli_flags)."""

import argparse

import pytest

from node0_ops.cli_flags import pop_flag, share_flags, split_leading


def _define(p):
    p.add_argument("--state-dir")
    p.add_argument("--town")


def _tool():
    p = argparse.ArgumentParser(prog="tool")
    _define(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    own = sub.add_parser("deploy")
    own.add_argument("--town", dest="town_scope", action="store_true")  # the subcommand's own meaning wins
    share_flags(sub, _define)
    return p


@pytest.mark.parametrize("argv,state,town", [
    (["build", "--state-dir", "S", "--town", "T"], "S", "T"),
    (["--state-dir", "S", "--town", "T", "build"], "S", "T"),
    (["--state-dir", "A", "build", "--state-dir", "B"], "B", None),  # after overrides before
    (["build"], None, None),                                        # absent after: not overwritten by None
])
def test_share_flags_before_and_after(argv, state, town):
    ns = _tool().parse_args(argv)
    assert (ns.state_dir, ns.town) == (state, town)


def test_subcommand_keeps_its_own_flag():
    ns = _tool().parse_args(["--town", "T", "deploy", "--town", "--state-dir", "S"])
    assert (ns.town, ns.town_scope, ns.state_dir) == ("T", True, "S")


def test_split_leading_and_pop_flag():
    assert split_leading(["--state-dir", "S", "--town=T", "serve", "--port", "1"], ["--state-dir", "--town"]) == \
        (["--state-dir", "S", "--town=T"], ["serve", "--port", "1"])
    assert split_leading(["serve", "--state-dir", "S"], ["--state-dir"]) == ([], ["serve", "--state-dir", "S"])
    assert pop_flag(["swarm", "start", "--state-dir=S", "--x", "1"], "--state-dir") == ("S", ["swarm", "start", "--x", "1"])
    with pytest.raises(SystemExit, match="--state-dir"):
        split_leading(["--state-dir"], ["--state-dir"])


def test_node0_corpus():
    from gastown_assets.cli.corpus import build_parser

    p = build_parser()
    for argv in (["build", "--town", "T", "--state-dir", "S"], ["--town", "T", "--state-dir", "S", "build"]):
        ns = p.parse_args(argv)
        assert (ns.cmd, ns.state_dir, ns.town) == ("build", "S", "T")
    assert p.parse_args(["stats", "--state-dir", "S"]).state_dir == "S"


def test_node0_finetune():
    from node0_ops.train.cli import build_parser

    p = build_parser()
    from node0_ops.train.config_io import given_overrides

    ns = p.parse_args(["train", "--role", "polecat", "--state-dir", "S", "--max-steps", "4", "--lora.r", "16"])
    assert (ns.state_dir, given_overrides(ns)) == ("S", {"max_steps": "4", "lora.r": "16"})
    for argv in (["--state-dir", "S", "runs"], ["runs", "--state-dir", "S"], ["--state-dir", "S", "cancel", "R1"]):
        assert p.parse_known_args(argv)[0].state_dir == "S"


def test_node0_finetune_train_without_data_needs_a_corpus(tmp_path, capsys):
    from node0_ops.train import cli

    with pytest.raises(SystemExit, match="no corpus version in .*node0-corpus build"):
        cli.main(["train", "--role", "polecat", "--state-dir", str(tmp_path / "empty"), "--max-steps", "1"])


def test_node0_eval():
    from node0_ops.evals.cli import build_parser

    p = build_parser()
    assert p.parse_args(["--state-dir", "S", "run", "--model", "m"]).state_dir == "S"
    assert p.parse_args(["run", "--model", "m", "--state-dir", "S"]).state_dir == "S"


def test_gt_model():
    from node0_ops.registry.cli import build_parser

    p = build_parser()
    for argv in (["list", "--state-dir", "S", "--town", "T"], ["--state-dir", "S", "--town", "T", "list"]):
        ns = p.parse_args(argv)
        assert (ns.state_dir, ns.town) == ("S", "T")
    ns = p.parse_args(["--town", "T", "deploy", "deacon-v2", "--town", "--role", "deacon", "--state-dir", "S"])
    assert (ns.town, ns.town_scope, ns.state_dir) == ("T", True, "S")


def test_node0_inference_place_flags_before_subcommand(tmp_path, capsys, monkeypatch):
    from node0_ops.serve import cli

    seen = {}
    monkeypatch.setattr(cli, "cmd_prime", lambda args: seen.update(vars(args)) or 0)
    assert cli.main(["--state-dir", "S", "--town", "T", "prime", "--role", "polecat"]) == 0
    assert (seen["state_dir"], seen["town"], seen["role"]) == ("S", "T", "polecat")
    seen.clear()
    assert cli.main(["prime", "--role", "polecat", "--state-dir", "S2"]) == 0
    assert seen["state_dir"] == "S2"
