"""Resource settings of a state dir: ``<state>/resources.yaml`` configures the trainer, exporter,
evaluator and scrubber for every run of the code location (UI, sensors, ``dagster asset materialize``).

Example file (every key optional; names are the resources' fields)::

    trainer:
      mode: subprocess       # or inprocess
      sft: {max_steps: 60, lora.r: 16}   # SFTConfig fields (node0_ops/train/sft_config.py)
      dpo: {beta: 0.1}                   # DPOConfig fields
    evaluator:
      limit: 0               # suite tasks per category (0 = all)
      max_new_tokens: 96
      thresholds_yaml: /path/to/thresholds.yaml
    exporter:
      quants: [f16, q8_0, q4_k_m]

Usage::

    from resources.settings import configured_resources
    resources = configured_resources(state_dir)   # -> {"trainer": TrainerResource(...), ...}
"""

from pathlib import Path

from node0_ops.paths import RESOURCES_FILE, resource_settings


def _classes() -> dict:
    from resources.evaluator import EvaluatorResource
    from resources.exporter import ExporterResource
    from resources.scrubber import ScrubberResource
    from resources.trainer import TrainerResource

    return {"trainer": TrainerResource, "exporter": ExporterResource, "evaluator": EvaluatorResource,
            "scrubber": ScrubberResource}


def _trainer_hint(name: str, key: str) -> str:
    """Where a training knob given at the trainer's top level belongs (SFTConfig / DPOConfig fields)."""
    if name != "trainer":
        return ""
    import dataclasses

    from node0_ops.train.dpo_config import DPOConfig
    from node0_ops.train.lora_config import LoraConfig
    from node0_ops.train.sft_config import SFTConfig

    lora = {f.name for f in dataclasses.fields(LoraConfig)}
    field = key.removeprefix("lora_") if key.removeprefix("lora_") in lora else None
    if field:
        return f"; LoRA shape goes under trainer.sft, e.g. sft: {{lora.{field}: ...}}"
    for cls, sub in ((SFTConfig, "sft"), (DPOConfig, "dpo")):
        if key.removeprefix("dpo_") in {f.name for f in dataclasses.fields(cls)}:
            return f"; training knobs are {cls.__name__} fields: put it under trainer.{sub}, e.g. {sub}: {{{key.removeprefix('dpo_')}: ...}}"
    return ""


def load_resource_settings(state: str | Path) -> dict[str, dict]:
    """``{resource_name: {field: value}}`` from ``<state>/resources.yaml`` ({} when absent).

    Raises:
        ValueError: the file is not a mapping, names an unknown resource or field, or a value has
            the wrong type (the message names the file and the key).
    """
    path = Path(state) / RESOURCES_FILE
    data = resource_settings(state)
    classes = _classes()
    out = {}
    for name, fields in data.items():
        if name not in classes:
            raise ValueError(f"{path}: unknown resource {name!r}; use one of {', '.join(sorted(classes))}")
        fields = fields or {}
        if not isinstance(fields, dict):
            raise ValueError(f"{path}: {name} must be a mapping of field -> value")
        known = set(classes[name].model_fields)
        bad = sorted(set(fields) - known)
        if bad:
            raise ValueError(f"{path}: {name}.{bad[0]} is not a setting; {name} has {', '.join(sorted(known))}"
                             + _trainer_hint(name, bad[0]))
        try:
            obj = classes[name](**fields)
            if hasattr(obj, "check"):
                obj.check()
        except Exception as exc:  # pydantic ValidationError / dg.Failure: name the file, the key and the value
            if hasattr(exc, "description"):
                raise ValueError(f"{path}: {exc.description}") from None
            errors = getattr(exc, "errors", lambda: [])()
            if errors:
                e = errors[0]
                key = ".".join(str(x) for x in e.get("loc", ()))
                raise ValueError(f"{path}: {name}.{key}={e.get('input')!r}: {e.get('msg')}") from None
            raise ValueError(f"{path}: {name}: {exc}") from None
        out[name] = fields
    return out


def configured_resources(state: str | Path) -> dict:
    """Trainer, exporter, evaluator and scrubber resources with ``resources.yaml`` applied."""
    settings = load_resource_settings(state)
    return {name: cls(**settings.get(name, {})) for name, cls in _classes().items()}
