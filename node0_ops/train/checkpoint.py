"""Resumable checkpoints and graceful stop on SIGTERM/SIGINT.

A checkpoint is a folder ``<run_dir>/checkpoints/step-000040/`` written to ``*.tmp`` and renamed,
so a process killed mid-write never leaves a half checkpoint that looks complete:

- ``adapter_model.safetensors``: the trainable LoRA weights (PEFT key names, adapter name stripped);
- ``trainer_state.pt``: optimizer and LR-scheduler ``state_dict``, RNG states (python ``random``,
  numpy, torch CPU, every CUDA device), the data cursor (epoch, position in the epoch, the epoch's
  shuffled row plan) and the metric history;
- ``meta.json``: step, run_id, corpus hash and base fingerprint (checked on resume).

Resuming restores all of it after the model and optimizer are rebuilt, so the continued run is
bitwise the same as an uninterrupted one on the same machine and thread count
(``tests/train/test_resume.py`` kills a run with SIGKILL and SIGTERM and compares adapters).

Usage::

    stop = GracefulStop(); stop.install()          # SIGTERM/SIGINT set stop.requested
    save_checkpoint(run_dir, step=40, adapter_state=sd, trainer_state=state, meta=meta, keep=2)
    ckpt = latest_checkpoint(run_dir)              # Path or None
    state, adapter_sd, meta = load_checkpoint(ckpt)
"""

import json
import random
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import torch

CKPT_DIR = "checkpoints"
CANCEL_MARKER = "CANCEL"
PAUSE_MARKER = "PAUSE"


def rng_state() -> dict:
    """Snapshot of every RNG the training touches (python, numpy, torch CPU, all CUDA devices)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a :func:`rng_state` snapshot (CUDA part only when CUDA is present)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _step_of(path: Path) -> int:
    try:
        return int(path.name.split("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and not p.name.endswith(".tmp")
            and (p / "meta.json").exists()]
    return sorted(done, key=_step_of)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """Newest complete checkpoint folder of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str | Path, *, step: int, adapter_state: dict, trainer_state: dict, meta: dict,
                    adapter_config: dict | None = None, keep: int = 2) -> Path:
    """Write ``checkpoints/step-<step>`` atomically and keep only the ``keep`` newest.

    Args:
        adapter_state: name -> tensor of the trainable adapter (saved with safetensors).
        trainer_state: optimizer/scheduler state, RNG states, cursor, history (``torch.save``).
        meta: JSON-serialisable facts checked on resume (corpus hash, base fingerprint, ...).
        adapter_config: PEFT adapter config dict, written as ``adapter_config.json`` so a
            checkpoint also loads as a stock PEFT adapter.
    Returns:
        The checkpoint folder.
    """
    from safetensors.torch import save_file

    root = Path(run_dir) / CKPT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().to("cpu").contiguous() for k, v in adapter_state.items()},
              str(tmp / "adapter_model.safetensors"))
    torch.save(trainer_state, tmp / "trainer_state.pt")
    if adapter_config is not None:
        (tmp / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2, default=str))
    (tmp / "meta.json").write_text(json.dumps(dict(meta, step=step), indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> tuple[dict, dict, dict]:
    """Return ``(trainer_state, adapter_state, meta)`` of a checkpoint folder.

    Raises:
        FileNotFoundError: the folder is not a complete checkpoint.
    """
    from safetensors.torch import load_file

    p = Path(path)
    if not (p / "meta.json").exists():
        raise FileNotFoundError(f"{p} is not a complete checkpoint (no meta.json)")
    state = torch.load(p / "trainer_state.pt", map_location="cpu", weights_only=False)
    return state, load_file(str(p / "adapter_model.safetensors")), json.loads((p / "meta.json").read_text())


class GracefulStop:
    """Turns SIGTERM/SIGINT into a flag the training loop checks after each optimizer step.

    The loop then saves a checkpoint and returns (status ``paused``, or ``cancelled`` when a
    ``CANCEL`` marker exists in the run folder). A second signal restores the default handler and
    re-raises it, so a stuck process can still be interrupted. Handlers are installed only from
    the main thread (Python's rule); elsewhere :meth:`install` is a no-op and ``request()`` works.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, object] = {}

    def request(self, reason: str = "request") -> None:
        self.requested = self.requested or reason

    def _handler(self, signum, frame) -> None:
        if self.requested:
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.requested = signal.Signals(signum).name

    def install(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
