"""Registry fixtures: a registry DB in the test's state dir and a factory for model versions
with real files (PEFT-shaped adapter folders, GGUF/safetensors stand-ins) and eval reports
built with the eval suite's own ``EvalReport``."""

import json
from pathlib import Path

import pytest

from node0_ops.evals.report import CaseResult, EvalReport
from node0_ops.registry.schema import registry_db
from node0_ops.registry.store import register_model

GOOD = {"bead-management": (4, 4), "git-workflow": (4, 4), "conventions": (5, 5), "patrol-decision": (4, 4)}
BAD = {"bead-management": (1, 4), "git-workflow": (4, 4), "conventions": (5, 5), "patrol-decision": (4, 4)}


def make_report(role: str, cells: dict[str, tuple[int, int]], model: str = "m") -> dict:
    """EvalReport dict with ``passed`` of ``n`` cases per category, all for ``role``."""
    cases = []
    for cat, (passed, n) in cells.items():
        for i in range(n):
            ok = i < passed
            cases.append(CaseResult(task_id=f"{cat}-{i}", category=cat, role=role, passed=ok, score=1.0 if ok else 0.0,
                                    errors=[] if ok else ["wrong"], answer="bd ready", prompt="p", latency_s=0.1))
    return EvalReport(model, "suite:1", False, cases).to_dict()


@pytest.fixture
def db(state):
    return registry_db(state)


@pytest.fixture
def make_model(db, state):
    """``make_model(role, good=True, size=..., hyper=..., corpus="cv-1", task_adapter=False) -> "name@version"``."""
    counter = {"n": 0}

    def _make(role: str = "polecat", *, good: bool = True, size: int = 2048, hyper: dict | None = None,
              corpus: str = "cv-1", task_adapter: bool = False, outside: Path | None = None, run_id: str | None = None):
        counter["n"] += 1
        n = counter["n"]
        root = outside or (state / "artifacts" / "exports" / f"{role}-{n}")
        root.mkdir(parents=True, exist_ok=True)
        adapter = state / "artifacts" / "adapters" / f"{role}-{n}"
        adapter.mkdir(parents=True, exist_ok=True)
        hp = hyper or {"lora_rank": 8, "lora_alpha": 16, "learning_rate": 2e-4, "epochs": 1}
        (adapter / "adapter_config.json").write_text(json.dumps({"r": hp.get("lora_rank", 8), "lora_alpha": 16}))
        (adapter / "adapter_model.safetensors").write_bytes(bytes([n]) * 512)
        (adapter / "gastown_adapter.json").write_text(json.dumps({
            "kind": "role", "role": role, "base": "smollm2-135m", "corpus_version": corpus,
            "hyperparameters": hp, "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            "metrics": {"train_loss": 0.4}}))
        adapters = [{"path": adapter}]
        if task_adapter:
            t = state / "artifacts" / "adapters" / f"task-git-{n}"
            t.mkdir(parents=True, exist_ok=True)
            (t / "adapter_config.json").write_text(json.dumps({"r": 4}))
            (t / "adapter_model.safetensors").write_bytes(b"t" * 256)
            (t / "gastown_adapter.json").write_text(json.dumps({"kind": "task", "task": "git-workflow", "base": "smollm2-135m"}))
            adapters.append({"path": t})
        q4 = root / "model-q4_k_m.gguf"
        q4.write_bytes(b"Q" * size)
        f16 = root / "model-f16.gguf"
        f16.write_bytes(b"F" * (size * 4))
        hf = root / "merged"
        hf.mkdir(exist_ok=True)
        (hf / "model.safetensors").write_bytes(b"S" * size)
        (hf / "config.json").write_text("{}")
        report = make_report(role, GOOD if good else BAD, model=f"{role}-{n}")
        return register_model(db, role, None, adapters, {"gguf_f16": f16, "q4_k_m": q4, "merged": hf},
                              eval_report=report, run_id=run_id)

    return _make
