"""Swarm pieces that need no running peers: config validation and YAML, run_id, key file,
authorizer tokens, optimizer guards, tiny model/data, CLI argument checks."""

import asyncio
import os
import stat
from datetime import timedelta

import pytest

from node0_ops.swarm.swarm_config import LOOPBACK_MADDR, SwarmConfig, derive_run_id

PEER = "/ip4/127.0.0.1/tcp/4000/p2p/12D3KooWJuL5sq2QcsgTMW7YdtmiF87jEUA89vXmoAVawGCcgo3J"


# ---------------------------------------------------------------- config

def test_defaults_are_loopback_only():
    from node0_ops.swarm.peer import p2p_options

    cfg = SwarmConfig()
    assert cfg.host_maddrs == [LOOPBACK_MADDR] and not cfg.public
    opts = p2p_options(cfg)
    assert opts["host_maddrs"] == [LOOPBACK_MADDR]
    assert not any(opts[k] for k in ("nat_port_map", "auto_nat", "use_relay", "use_auto_relay"))


def test_public_addresses_enable_nat_and_relays():
    from node0_ops.swarm.peer import p2p_options

    cfg = SwarmConfig(public=True, host_maddrs=["/ip4/0.0.0.0/tcp/31337"], announce_maddrs=["/ip4/203.0.113.7/tcp/31337"])
    opts = p2p_options(cfg)
    assert all(opts[k] for k in ("nat_port_map", "auto_nat", "use_relay", "use_auto_relay"))
    assert opts["announce_maddrs"] == ["/ip4/203.0.113.7/tcp/31337"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"host_maddrs": ["/ip4/0.0.0.0/tcp/31337"]}, "set public=True"),
    ({"public": True}, "every address is loopback"),
    ({"public": True, "announce_maddrs": ["/ip4/203.0.113.7/tcp/0"]}, "explicit port"),
    ({"initial_peers": ["/ip4/127.0.0.1/tcp/4000"]}, "/p2p/"),
    ({"matchmaking_time": 5.0, "averaging_timeout": 5.0}, "must exceed matchmaking_time"),
    ({"matchmaking_time": 1.0, "request_timeout": 1.0}, "deadlock"),
    ({"compression": "int8"}, "compression="),
    ({"powersgd_rank": 0}, "powersgd_rank"),
    ({"run_id": "bad id!"}, "run_id="),
    ({"target_batch_size": 0}, "target_batch_size"),
    ({"batch_size_per_step": 65}, "batch_size_per_step"),
    ({"min_peers": 0}, "min_peers"),
    ({"optimizer": "sgd"}, "exp_avg"),
    ({"socket_dir": "/tmp/" + "x" * 80}, "too long"),
])
def test_invalid_values_raise_with_a_fix(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        SwarmConfig(**kwargs)
    assert fragment in str(err.value)


def test_effective_request_timeout_stays_below_matchmaking():
    assert SwarmConfig(matchmaking_time=1.0).effective_request_timeout == 0.5
    assert SwarmConfig(matchmaking_time=15.0).effective_request_timeout == 3.0


@pytest.mark.parametrize("compression", ["none", "fp16", "powersgd"])
def test_yaml_round_trip_in_node0_style(tmp_path, compression):
    import yaml

    cfg = SwarmConfig(run_id="gtft-abc", initial_peers=[PEER], target_batch_size=32, compression=compression,
                      powersgd_rank=2 if compression == "powersgd" else 4, min_peers=3, lr=1e-4, optimizer="adam")
    path = cfg.to_yaml(tmp_path / "swarm.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["optim_config"] == {"class_name": "torch.optim.Adam", "init_args": {"lr": 1e-4, "weight_decay": 0.0}}
    assert set(data) == {"run_config", "network_config", "optim_config", "grad_compression", "grad_averager"}
    assert SwarmConfig.from_yaml(path) == cfg


def test_yaml_rejects_unknown_class_names_and_blocks(tmp_path):
    cfg = SwarmConfig().to_node0_dict()
    cfg["grad_compression"]["class_name"] = "os.system"
    with pytest.raises(ValueError, match="swarm.yaml: grad_compression.class_name='os.system'"):
        SwarmConfig.from_node0_dict(cfg, source="swarm.yaml")
    with pytest.raises(ValueError, match="unknown block"):
        SwarmConfig.from_node0_dict({"model_config": {}}, source="swarm.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_config:\n  target_batch_size: -1\n")
    with pytest.raises(ValueError, match=str(bad)):
        SwarmConfig.from_yaml(bad)


def test_derive_run_id_is_stable_and_sensitive_to_every_input():
    from peft import LoraConfig

    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    lora_same = LoraConfig(r=8, lora_alpha=16, target_modules=["v_proj", "q_proj"])  # a set in peft
    rid = derive_run_id("smollm2-135m", lora, "c-1", {"lr": 2e-4})
    assert rid == derive_run_id("smollm2-135m", lora_same, "c-1", {"lr": 2e-4})
    assert rid.startswith("gtft-") and len(rid) == 21
    others = {derive_run_id("qwen2.5-coder-0.5b", lora, "c-1", {"lr": 2e-4}),
              derive_run_id("smollm2-135m", LoraConfig(r=4, target_modules=["q_proj"]), "c-1", {"lr": 2e-4}),
              derive_run_id("smollm2-135m", lora, "c-2", {"lr": 2e-4}),
              derive_run_id("smollm2-135m", lora, "c-1", {"lr": 1e-4})}
    assert rid not in others and len(others) == 4
    SwarmConfig(run_id=rid)  # a valid run_id
    with pytest.raises(ValueError):
        derive_run_id("b", {}, "c", {}, prefix="no spaces")


def test_sft_run_id_ignores_local_fields():
    from node0_ops.swarm.trainer_bridge import sft_run_id
    from node0_ops.train.sft_config import SFTConfig

    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    a = sft_run_id(SFTConfig(num_threads=1), rows)
    assert a == sft_run_id(SFTConfig(num_threads=2, device="cpu"), rows)
    assert a != sft_run_id(SFTConfig(learning_rate=1e-3), rows)
    assert a != sft_run_id(SFTConfig(num_threads=1), rows + rows[:1] + [{"text": "more"}])


# ---------------------------------------------------------------- key + authorizer

def test_key_file_round_trip_is_private_and_never_clobbered(tmp_path):
    from node0_ops.swarm.auth import SwarmKey

    key = SwarmKey.generate("gtft-abc")
    path = key.save(tmp_path / "swarm.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert SwarmKey.load(path) == key
    assert len(key.fingerprint) == 8 and key.secret.hex() not in key.fingerprint
    with pytest.raises(FileExistsError):
        SwarmKey.generate("x").save(path)
    (tmp_path / "bad.key").write_text('{"format": "node0-swarm-key/1", "secret": "abcd"}')
    with pytest.raises(ValueError, match="bad.key"):
        SwarmKey.load(tmp_path / "bad.key")
    with pytest.raises(FileNotFoundError, match="operator"):
        SwarmKey.load(tmp_path / "missing.key")


def _roundtrip(client, server, tamper=None) -> tuple[bool, bool]:
    from hivemind.proto import dht_pb2

    async def go():
        request = dht_pb2.PingRequest(validate=True)
        await client.sign_request(request, server.local_public_key)
        if tamper:
            tamper(request)
        ok_request = await server.validate_request(request)
        response = dht_pb2.PingResponse(available=True)
        await server.sign_response(response, request)
        ok_response = await client.validate_response(response, request)
        return ok_request, ok_response

    return asyncio.run(go())


def test_authorizer_accepts_holders_of_the_key_only():
    from hivemind.utils.crypto import RSAPrivateKey

    from node0_ops.swarm.auth import SharedKeyAuthorizer, SwarmKey

    key, other = SwarmKey.generate("r"), SwarmKey.generate("r")
    a = SharedKeyAuthorizer(key, local_private_key=RSAPrivateKey())
    b = SharedKeyAuthorizer(key, local_private_key=RSAPrivateKey())
    intruder = SharedKeyAuthorizer(other, local_private_key=RSAPrivateKey())
    assert _roundtrip(a, b) == (True, True)
    assert _roundtrip(intruder, b)[0] is False  # servicer refuses the intruder's request
    assert _roundtrip(a, intruder)[1] is False  # a member refuses the intruder's answer

    def swap_key(request):  # a stolen token with the thief's own RSA key does not verify
        request.auth.client_access_token.public_key = intruder.local_public_key.to_bytes()
    assert _roundtrip(a, b, tamper=swap_key)[0] is False


def test_expired_tokens_are_invalid():
    from hivemind.utils.crypto import RSAPrivateKey

    from node0_ops.swarm.auth import SharedKeyAuthorizer, SwarmKey

    key = SwarmKey.generate("r")
    old = SharedKeyAuthorizer(key, token_ttl=timedelta(seconds=-1), local_private_key=RSAPrivateKey())
    fresh = SharedKeyAuthorizer(key, local_private_key=RSAPrivateKey())
    token = asyncio.run(old.get_token())
    assert not fresh.is_token_valid(token)
    assert fresh.is_token_valid(asyncio.run(fresh.get_token()))


# ---------------------------------------------------------------- optimizer guards, compression

def test_make_swarm_optimizer_refuses_frozen_or_missing_params():
    import torch

    from node0_ops.swarm.peer import make_swarm_optimizer

    frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    live = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="do not require grad"):
        make_swarm_optimizer([live, frozen], SwarmConfig(run_id="r"), dht=None)
    with pytest.raises(ValueError, match="no parameters"):
        make_swarm_optimizer([], SwarmConfig(run_id="r"), dht=None)
    with pytest.raises(ValueError, match="run_id is empty"):
        make_swarm_optimizer([live], SwarmConfig(), dht=None)


def test_compression_options():
    from hivemind.compression import Float16Compression, NoCompression
    from hivemind.optim.grad_averager import GradientAverager
    from hivemind.optim.power_sgd_averager import PowerSGDGradientAverager

    from node0_ops.swarm.peer import gradient_compression_options

    fp16 = gradient_compression_options(SwarmConfig(compression="fp16", matchmaking_time=1.0))
    assert isinstance(fp16["grad_compression"], Float16Compression)
    assert fp16["grad_averager_factory"].func is GradientAverager
    assert fp16["grad_averager_factory"].keywords == {"request_timeout": 0.5}
    psgd = gradient_compression_options(SwarmConfig(compression="powersgd", powersgd_rank=2))
    assert isinstance(psgd["grad_compression"], NoCompression)
    assert psgd["grad_averager_factory"].func is PowerSGDGradientAverager
    assert psgd["grad_averager_factory"].keywords["averager_rank"] == 2


def test_tiny_model_trains_only_lora_and_shards_are_disjoint():
    from node0_ops.swarm.tiny import random_token_batches, tiny_lora_model

    model = tiny_lora_model()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    shard0, shard1 = random_token_batches(shard=(0, 2)), random_token_batches(shard=(1, 2))
    assert len(shard0) + len(shard1) == 64
    assert not any((a["input_ids"] == b["input_ids"]).all() for a in shard0 for b in shard1)
    assert float(model(**shard0[0]).loss) > 0
    with pytest.raises(ValueError, match="shard"):
        random_token_batches(shard=(2, 2))


# ---------------------------------------------------------------- CLI

def test_cli_join_requires_peers_and_key(capsys):
    from node0_ops.swarm.cli import main

    with pytest.raises(SystemExit, match="--initial-peers"):
        main(["join", "--tiny"])
    with pytest.raises(SystemExit, match="--key-file"):
        main(["swarm", "join", "--tiny", "--initial-peers", PEER])


def test_cli_join_refuses_a_different_job(tmp_path):
    from node0_ops.swarm.auth import SwarmKey
    from node0_ops.swarm.cli import main

    key = SwarmKey.generate("tiny-0000000000000000").save(tmp_path / "k")
    with pytest.raises(SystemExit, match="differ"):
        main(["join", "--tiny", "--initial-peers", PEER, "--key-file", str(key)])


def test_join_command_is_a_copyable_shell_line():
    import shlex

    from node0_ops.swarm.cli import join_command

    cmd = join_command([PEER], "/keys/my swarm.key", "/cfg/swarm.yaml", ["--tiny"])
    assert shlex.split(cmd) == ["node0-finetune", "swarm", "join", "--initial-peers", PEER, "--key-file",
                                "/keys/my swarm.key", "--config", "/cfg/swarm.yaml", "--tiny"]
