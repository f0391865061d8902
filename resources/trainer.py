"""Trainer resource: LoRA SFT/DPO through node0_ops.train, in-process (tests) or in a subprocess.

torch is imported only when a training call runs, so the code location loads without it.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg


class TrainerResource(dg.ConfigurableResource):
    """Training settings shared by role, task and DPO adapters.

    ``mode``: ``subprocess`` (default; isolates model memory, streams progress) or ``inprocess``.
    ``config_yaml``: optional node0-style YAML for SFTConfig; the explicit fields here win.
    Uses CUDA + bf16 when present (``device=auto``).
    """

    mode: str = "subprocess"
    base: str = "smollm2-135m"
    max_steps: int = 40
    max_minutes: float = 0.0
    max_seq_len: int = 512
    lora_r: int = 16
    lora_alpha: int = 32
    lora_top_layers: int = 0
    learning_rate: float = 3e-4
    gradient_accumulation_steps: int = 2
    eval_every: int = 20
    checkpoint_every: int = 20
    dpo_beta: float = 0.1
    dpo_max_steps: int = 10
    seed: int = 0
    config_yaml: str = ""
    mixture: dict[str, Any] = {}

    def mixture_config(self):
        """The role adapters' data mixture (:class:`node0_ops.train.mixture_config.MixtureConfig` with
        this resource's ``mixture`` overrides, e.g. ``{role_weight: 3}`` in resources.yaml).

        Raises:
            dg.Failure: a bad mixture setting (the message says how to fix it).
        """
        from node0_ops.train.mixture_config import MixtureConfig

        try:
            return MixtureConfig.from_dict(self.mixture)
        except ValueError as exc:
            raise dg.Failure(description=f"trainer.{exc}") from None

    def with_overrides(self, **fields) -> "TrainerResource":
        """A copy with some fields replaced (per-run config of an asset); empty/zero values are ignored.

        Raises:
            dg.Failure: a field name this resource does not have.
        """
        bad = sorted(set(fields) - set(type(self).model_fields))
        if bad:
            raise dg.Failure(description=f"unknown trainer setting {bad[0]!r}; settings: {', '.join(sorted(type(self).model_fields))}")
        given = {k: v for k, v in fields.items() if v not in (None, "", 0)}
        return type(self)(**{**self.model_dump(), **given}) if given else self

    def _overrides(self, dpo: bool) -> list[str]:
        vals = {"base": self.base, "max-steps": self.dpo_max_steps if dpo else self.max_steps,
                "max-minutes": 0.0 if dpo else self.max_minutes,
                "max-seq-len": self.max_seq_len, "lora.r": self.lora_r, "lora.lora-alpha": self.lora_alpha,
                "lora.top-layers": self.lora_top_layers,
                "learning-rate": self.learning_rate, "gradient-accumulation-steps": self.gradient_accumulation_steps,
                "eval-every": self.eval_every, "checkpoint-every": self.checkpoint_every, "seed": self.seed}
        if dpo:
            vals["beta"] = self.dpo_beta
            vals["max-prompt-len"] = min(384, self.max_seq_len * 3 // 4)  # DPOConfig's 384 at 512, scaled
        out = []
        for k, v in vals.items():
            out += [f"--{k}", str(v)]
        return out

    def sft_config(self):
        from node0_ops.train.sft_config import SFTConfig

        return SFTConfig.from_yaml(self.config_yaml or None, self._overrides(dpo=False))

    def dpo_config(self):
        from node0_ops.train.dpo_config import DPOConfig

        return DPOConfig.from_yaml(self.config_yaml or None, self._overrides(dpo=True))

    def fingerprint(self) -> str:
        """Short hash of the settings (part of adapter folder names)."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:8]

    def train(self, kind: str, train: list, val: list, out_dir: Path, *, db_path: str, run_meta: dict,
              role_adapter_dir: str | None = None, log=None):
        """Train one adapter (``kind`` = role | task | dpo). Returns node0_ops TrainResult.

        Raises:
            dg.Failure: the run failed or ended paused/cancelled (metadata says which and where).
        """
        from node0_ops.train import api

        cfg = self.dpo_config() if kind == "dpo" else self.sft_config()
        progress = None
        if log is not None:
            def progress(ev):
                if ev.get("event") == "step" and ev.get("step", 0) % 5 == 0:
                    log.info(f"step {ev.get('step')}: loss={ev.get('loss')} tok/s={ev.get('tokens_per_s')}")
        try:
            if self.mode == "subprocess":
                res = api.run_in_subprocess(kind, cfg, train, val, out_dir, role_adapter_dir=role_adapter_dir,
                                            db=db_path, run_meta=run_meta, progress=progress)
            else:
                fn = {"role": api.train_role_adapter, "task": api.train_task_adapter, "dpo": api.train_dpo}[kind]
                kw = {} if kind == "role" else {"role_adapter_dir": role_adapter_dir}
                res = fn(cfg, train, val, out_dir, db=db_path, run_meta=run_meta, **kw)
        except Exception as exc:  # surface as a Dagster failure with context
            raise dg.Failure(description=f"{kind} training failed: {exc}",
                             metadata={"kind": kind, "out_dir": str(out_dir), **{k: str(v) for k, v in run_meta.items()}}) from exc
        if res.status != "completed":
            raise dg.Failure(description=f"{kind} training ended {res.status} (resume with `node0-finetune resume {res.run_id}`)",
                             metadata={"run_id": res.run_id, "checkpoint": str(res.checkpoint)})
        return res
