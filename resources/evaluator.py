"""Evaluator resource: run the eval suite on GGUF models through llama-cpp-python, in a child process
(a native crash becomes a ``dg.Failure`` naming the model, the settings and the signal)."""

import hashlib
import json
from pathlib import Path

import dagster as dg


class EvaluatorResource(dg.ConfigurableResource):
    """Suite version, generation budget, the thresholds file (empty = the suite's defaults) and
    ``limit``: at most this many fixed-suite tasks per category (0 = all; a quick smoke eval, like
    lm-evaluation-harness ``--limit``)."""

    suite: str = "v2"
    max_new_tokens: int = 96
    n_ctx: int = 2048
    thresholds_yaml: str = ""
    max_corpus_tasks: int = 12
    limit: int = 0

    def thresholds(self):
        from node0_ops.evals.eval_config import EvalThresholds

        return EvalThresholds.from_yaml(self.thresholds_yaml) if self.thresholds_yaml else EvalThresholds.from_yaml()

    def tasks(self, test_examples: list[dict], role: str | None = None):
        """The fixed suite plus checkable tasks made from the corpus's test split.

        With ``role``, only what that role model is gated on: its own role's tasks plus the shared
        categories (:meth:`EvalThresholds.gate_tasks`), never another role's work.
        """
        from node0_ops.evals import load_suite, tasks_from_corpus

        tasks = load_suite(self.suite, limit_per_category=self.limit) + tasks_from_corpus(test_examples)[: self.max_corpus_tasks]
        return self.thresholds().gate_tasks(tasks, role) if role else tasks

    def task_cases(self, test_examples: list[dict], task: str) -> list:
        """The cases a ``task`` adapter is judged on: fixed-suite tasks of that category plus checkable
        tasks from the corpus test examples of that task (at most ``max_corpus_tasks``)."""
        from node0_ops.evals import load_suite, tasks_from_corpus

        suite = [t for t in load_suite(self.suite, limit_per_category=self.limit) if t.category == task]
        corpus = tasks_from_corpus([e for e in test_examples if e.get("task") == task])
        return suite + corpus[: self.max_corpus_tasks]

    def compare(self, baseline: tuple[str, list[str]], candidate: tuple[str, list[str]], tasks, *, labels: tuple[str, str],
                cache_dir: Path, log=None):
        """Score a baseline and a candidate on the same ``tasks``, in two llama.cpp children at once
        (one per core); each side is ``(gguf_path, lora_gguf_paths)``. The baseline is cached
        (:meth:`cached_run`). Returns ``((base_off, base_on), (cand_off, cand_on))`` EvalReports.

        Raises:
            dg.Failure: a child crashed or could not start (see :meth:`run`).
        """
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            base_job = pool.submit(self.cached_run, baseline[0], tasks, label=labels[0], lora_paths=baseline[1],
                                   cache_dir=cache_dir, log=log)
            cand_job = pool.submit(self.run, candidate[0], tasks, label=labels[1], lora_paths=candidate[1], log=log)
            return base_job.result(), cand_job.result()

    def run(self, gguf_path: str, tasks, *, label: str, lora_paths: list[str] | None = None, log=None):
        """``(unconstrained_report, constrained_report)`` for one model; ``report.meta`` records the
        backend settings (``llama_settings.use_extra_bufts`` ...).

        The model runs in a child process (:class:`node0_ops.evals.isolated.IsolatedBackend`).

        Raises:
            dg.Failure: the child crashed (metadata: model file, backend settings, signal, fix-it
                hint, log tail) or could not start.
        """
        from node0_ops.evals.isolated import BackendDied, BackendSpec, IsolatedBackend
        from node0_ops.evals.runner import run_suite_both

        done = [0]

        def on_case(case):
            done[0] += 1
            if log is not None and done[0] % 10 == 0:
                log.info(f"{label}: {done[0]} cases evaluated")

        spec = BackendSpec("gguf", gguf_path, adapters=list(lora_paths or []), n_ctx=self.n_ctx,
                           max_new_tokens=self.max_new_tokens)
        try:
            with IsolatedBackend(spec) as backend:
                if log is not None:
                    log.info(f"{label}: llama.cpp {backend.meta.get('llama_settings')}")
                off, on = run_suite_both(backend, tasks, model=label, suite=self.suite, on_case=on_case)
        except BackendDied as exc:
            meta = exc.metadata()
            raise dg.Failure(description=f"eval of {label} failed: {exc}", metadata={
                "model_file": meta["model_file"], "backend": meta["backend"], "signal": str(meta["signal"]),
                "returncode": str(meta["returncode"]), "backend_settings": dg.MetadataValue.json(meta["settings"]),
                "fix_hint": meta["hint"], "child_log": meta["log_path"],
                "log_tail": dg.MetadataValue.md(f"```\n{meta['log_tail'][-2000:]}\n```"),
                "cases_done": done[0]}) from exc
        off.meta = on.meta = dict(backend.meta)
        return off, on

    def cached_run(self, gguf_path: str, tasks, *, label: str, cache_dir: Path, lora_paths: list[str] | None = None,
                   log=None):
        """Same as :meth:`run`, cached on (model and LoRA files, tasks, settings): a baseline is scored once."""
        from node0_ops.evals.report import EvalReport

        h = hashlib.sha256()
        for f in [gguf_path, *(lora_paths or [])]:
            h.update(Path(f).read_bytes()[: 1 << 20])
            h.update(str(Path(f).stat().st_size).encode())
        h.update(json.dumps([t.to_dict() for t in tasks], sort_keys=True, default=str).encode())
        h.update(json.dumps(self.model_dump(), sort_keys=True).encode())
        path = Path(cache_dir) / f"{label}-{h.hexdigest()[:16]}.json"
        if path.exists():
            d = json.loads(path.read_text())
            return EvalReport.from_dict(d["off"]), EvalReport.from_dict(d["on"])
        off, on = self.run(gguf_path, tasks, label=label, lora_paths=lora_paths, log=log)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"off": off.to_dict(), "on": on.to_dict()}))
        return off, on
