"""Config dataclasses: validation messages, node0-style YAML, flag overrides."""

import pytest

from node0_ops.train.dpo_config import DPOConfig
from node0_ops.train.lora_config import ALL_PROJ, LoraConfig
from node0_ops.train.sft_config import SFTConfig


def test_defaults_are_valid_and_target_all_projections():
    cfg = SFTConfig()
    assert cfg.lora.target_modules == ALL_PROJ
    assert cfg.lora.scaling == 2.0
    assert DPOConfig().reference == "base"


@pytest.mark.parametrize("kwargs, needle", [
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"lr_scheduler": "poly"}, "cosine, linear, constant"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
    ({"max_steps": 0}, "-1 to use num_epochs"),
    ({"max_seq_len": 8}, "max_seq_len"),
    ({"device": "tpu"}, "auto, cpu, cuda"),
    ({"quantization": "8bit"}, "4bit"),
    ({"save_total_limit": 0}, "resume needs a checkpoint"),
    ({"warmup_ratio": 1.5}, "warmup_ratio"),
])
def test_sft_validation_says_how_to_fix(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        SFTConfig(**kwargs)


@pytest.mark.parametrize("kwargs, needle", [
    ({"r": 0}, "--lora.r"), ({"lora_alpha": 0}, "lora_alpha"), ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"target_modules": ()}, "target_modules"), ({"bias": "some"}, "bias"),
])
def test_lora_validation(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        LoraConfig(**kwargs)


def test_dpo_validation():
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0)
    with pytest.raises(ValueError, match="reference"):
        DPOConfig(reference="sft")
    with pytest.raises(ValueError, match="max_prompt_len"):
        DPOConfig(max_prompt_len=600, max_seq_len=512)


def test_from_yaml_node0_style_with_flag_overrides(tmp_path):
    path = tmp_path / "sft.yaml"
    path.write_text("class_name: node0_ops.train.sft_config.SFTConfig\n"
                    "init_args:\n  learning_rate: 2e-4\n  max_steps: 40\n  lora: {r: 32, lora_alpha: 64}\n")
    cfg = SFTConfig.from_yaml(path, ["--lora.r", "8", "--max-steps=20", "--gradient-checkpointing",
                                     "--lora.target_modules", "q_proj,v_proj"])
    assert cfg.learning_rate == pytest.approx(2e-4)  # PyYAML reads 2e-4 as a string: coerced
    assert cfg.max_steps == 20 and cfg.gradient_checkpointing is True
    assert cfg.lora.r == 8 and cfg.lora.lora_alpha == 64.0
    assert cfg.lora.target_modules == ("q_proj", "v_proj")


def test_from_yaml_plain_mapping_and_dict_overrides(tmp_path):
    path = tmp_path / "dpo.yaml"
    path.write_text("beta: 0.25\nreference: role\n")
    cfg = DPOConfig.from_yaml(path, {"lora.r": "4", "max_steps": 3})
    assert (cfg.beta, cfg.reference, cfg.lora.r, cfg.max_steps) == (0.25, "role", 4, 3)
    assert DPOConfig.from_dict(cfg.to_dict()) == cfg


def test_from_yaml_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rte: 1e-4\n")
    with pytest.raises(ValueError, match="no field 'learning_rte'"):
        SFTConfig.from_yaml(path)
    path.write_text("class_name: DPOConfig\ninit_args: {}\n")
    with pytest.raises(ValueError, match="does not match SFTConfig"):
        SFTConfig.from_yaml(path)
    with pytest.raises(ValueError, match="not a boolean"):
        SFTConfig.from_yaml(None, {"packing": "maybe"})
    with pytest.raises(ValueError, match="--lora.r 8"):
        SFTConfig.from_yaml(None, ["lora.r", "8"])


def test_shipped_example_configs_load():
    from pathlib import Path

    import node0_ops.train as pkg

    root = Path(pkg.__file__).parent / "configs"
    sft = SFTConfig.from_yaml(root / "sft_smollm2.yaml", ["--max-steps", "5"])
    dpo = DPOConfig.from_yaml(root / "dpo_smollm2.yaml")
    assert sft.lora.r == 16 and sft.max_steps == 5 and sft.learning_rate == pytest.approx(2e-4)
    assert dpo.beta == pytest.approx(0.1) and dpo.max_prompt_len == 384
