"""``node0-eval``: run the eval suite on a model and print (or gate on) the report.

Usage::

    node0-eval run --model polecat@3 --suite v1 [--backend gguf|hf] [--constrained both|on|off] [--json]
    node0-eval run --model-path ~/models/SmolLM2-135M-Instruct.Q4_1.gguf --suite v1 --limit 10
    node0-eval run --model smollm2-135m --thresholds suite/thresholds.yaml --gate-role polecat --out r.json
    node0-eval compare base.json candidate.json
    node0-eval rescore saved.json --suite v1     # re-check saved answers after a checker fix

Model resolution: ``--model NAME[@VERSION]`` goes through the registry
(``node0_ops.registry.store.resolve_model`` -> ``{"gguf_path", "hf_path", "adapters"}``);
names of base presets (``smollm2-135m``) also work without a registry. ``--model-path``
takes a ``.gguf`` file or an HF folder directly. The backend defaults to ``gguf`` when a
GGUF is known, else ``hf``. ``--constrained both`` runs all tasks unconstrained and the
structured ones again with their JSON schema, and prints both.

The model runs in a child process (:mod:`node0_ops.evals.isolated`); its llama.cpp settings
(``use_extra_bufts``, see :mod:`node0_ops.models.llama_open`) are recorded in each report's ``meta``.

Exit status: 0 done (and gate passed), 1 gate failed, 2 bad arguments / model not found,
3 the model's process crashed (message names the signal, the settings and the fix).
"""

import argparse
import json
import sys
from pathlib import Path

from node0_ops.cli_flags import share_flags


def _fail(msg: str) -> "SystemExit":
    print(f"node0-eval: error: {msg}", file=sys.stderr)
    return SystemExit(2)


def resolve_model_spec(model: str | None, model_path: str | None, state: str | None = None) -> dict:
    """``{"name", "gguf_path", "hf_path", "adapters"}`` for ``--model``/``--model-path``.

    Raises:
        SystemExit(2): with a message saying what to pass instead.
    """
    if model_path:
        p = Path(model_path).expanduser()
        if p.is_file() and p.suffix == ".gguf":
            return {"name": p.stem, "gguf_path": str(p), "hf_path": None, "adapters": []}
        if p.is_dir():
            ggufs = sorted(p.glob("*.gguf"))
            hf = str(p) if (p / "config.json").exists() else None
            if hf or ggufs:
                return {"name": p.name, "gguf_path": str(ggufs[0]) if ggufs else None, "hf_path": hf, "adapters": []}
        raise _fail(f"--model-path {p} is neither a .gguf file nor a folder with config.json or a .gguf")
    if not model:
        raise _fail("pass --model NAME[@VERSION] or --model-path PATH")
    try:
        from node0_ops.registry.schema import registry_db
        from node0_ops.registry.store import resolve_model
    except ImportError:
        resolve_model = None
    registry_error = "the model registry (node0_ops.registry) is not available"
    if resolve_model is not None:
        try:
            info = dict(resolve_model(registry_db(state), model))
        except Exception as exc:  # unknown model, locked/missing DuckDB, ...: fall back to presets
            registry_error = f"{type(exc).__name__}: {exc}"
        else:
            info.setdefault("name", model)
            info.setdefault("adapters", [])
            return info
    from node0_ops.models.base import PRESETS, preset_gguf

    base = model.split("@")[0]
    if base in PRESETS:
        return {"name": model, "gguf_path": str(preset_gguf(base)), "hf_path": None, "adapters": []}
    raise _fail(f"model {model!r} not found ({registry_error}); register it with gt-model, use a preset "
                f"({', '.join(PRESETS)}) or pass --model-path")


def _adapter_paths(adapters, backend: str) -> list[str]:
    """Adapter files for the backend from the registry's ``adapters`` (``{name: {"peft", "gguf"}}``,
    a list of such dicts, or plain paths)."""
    items = list(adapters.items()) if isinstance(adapters, dict) else [(None, a) for a in adapters or []]
    out = []
    for name, ad in items:
        if isinstance(ad, (str, Path)):
            out.append(str(ad))
            continue
        keys = ("gguf", "gguf_path") if backend == "gguf" else ("peft", "hf_path", "path")
        path = next((ad[k] for k in keys if ad.get(k)), None)
        if not path:
            label = name or ad.get("name", "?")
            raise _fail(f"adapter {label} has no {'GGUF LoRA' if backend == 'gguf' else 'PEFT'} file for the {backend} backend")
        out.append(str(path))
    return out


def make_backend(spec: dict, backend: str | None, max_new_tokens: int, threads: int | None):
    """Build the generation callable for a resolved model spec: an
    :class:`~node0_ops.evals.isolated.IsolatedBackend` (the model runs in a child process, so a
    native crash is reported instead of killing this process; close it when done)."""
    from node0_ops.evals.isolated import BackendSpec, IsolatedBackend

    backend = backend or ("gguf" if spec.get("gguf_path") else "hf")
    if backend == "gguf":
        if not spec.get("gguf_path"):
            raise _fail(f"model {spec['name']} has no GGUF export; use --backend hf")
        bspec = BackendSpec("gguf", spec["gguf_path"], adapters=_adapter_paths(spec.get("adapters"), "gguf"),
                            max_new_tokens=max_new_tokens, n_threads=threads)
    else:
        src = spec.get("hf_path") or spec.get("gguf_path")
        if not src:
            raise _fail(f"model {spec['name']} has neither an HF folder nor a GGUF")
        bspec = BackendSpec("hf", src, adapters=_adapter_paths(spec.get("adapters"), "hf"), max_new_tokens=max_new_tokens)
    try:
        return backend, IsolatedBackend(bspec)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc


def _load_report(path: str):
    from node0_ops.evals.report import EvalReport

    data = json.loads(Path(path).read_text())
    if "cases" not in data:
        data = data.get("unconstrained") or data.get("constrained") or {}
    return EvalReport.from_dict(data)


def _cmd_run(args) -> int:
    from node0_ops.evals.report import EvalReport, compare
    from node0_ops.evals.runner import run_suite
    from node0_ops.evals.tasks import load_suite, tasks_from_corpus

    try:
        tasks = load_suite(args.suite, categories=args.category, roles=args.role)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if args.corpus_examples:
        lines = Path(args.corpus_examples).read_text().splitlines()
        tasks += tasks_from_corpus([json.loads(x) for x in lines if x.strip()])
    if args.limit:
        tasks = tasks[:args.limit]
    spec = resolve_model_spec(args.model, args.model_path, args.state_dir)
    backend, gen = make_backend(spec, args.backend, args.max_new_tokens, args.threads)
    label = f"{spec['name']} ({backend})"
    total = [0]

    def progress(case) -> None:
        total[0] += 1
        if not args.quiet:
            mode = "C" if case.constrained else " "
            print(f"[{total[0]}] {mode} {case.task_id:<14} {'PASS' if case.passed else 'fail'} {case.latency_s:6.1f}s",
                  file=sys.stderr, flush=True)

    from node0_ops.evals.isolated import BackendDied

    reports: dict[str, EvalReport] = {}
    try:
        if args.constrained in ("off", "both"):
            reports["unconstrained"] = run_suite(gen, tasks, constrained=False, model=label, suite=args.suite, on_case=progress)
        if args.constrained in ("on", "both"):
            chosen = [t for t in tasks if t.structured] if args.constrained == "both" else tasks
            reports["constrained"] = run_suite(gen, chosen, constrained=True, model=label, suite=args.suite, on_case=progress)
    except BackendDied as exc:  # native crash in the model's child process
        print(f"node0-eval: error: {exc}", file=sys.stderr)
        return 3
    finally:
        if hasattr(gen, "close"):
            gen.close()
    for r in reports.values():
        r.meta = dict(getattr(gen, "meta", {}) or {})
    if args.out:
        Path(args.out).write_text(json.dumps({k: r.to_dict() for k, r in reports.items()}, ensure_ascii=False, indent=1))
    gate_ok, reasons = True, []
    if args.gate_role:
        from node0_ops.evals.eval_config import EvalThresholds

        try:
            th = EvalThresholds.from_yaml(args.thresholds) if args.thresholds else EvalThresholds.from_yaml()
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        main_report = reports.get("unconstrained") or reports["constrained"]
        base = _load_report(args.base_report) if args.base_report else None
        gate_ok, reasons = th.passes(main_report, args.gate_role, base=base)
    if args.json:
        out = {k: {kk: vv for kk, vv in r.to_dict().items() if kk != "cases" or args.cases} for k, r in reports.items()}
        if args.gate_role:
            out["gate"] = {"role": args.gate_role, "passed": gate_ok, "reasons": reasons}
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for r in reports.values():
            print(r.table())
            print()
        if len(reports) == 2:
            structured = {t.task_id for t in tasks if t.structured}
            off = reports["unconstrained"]
            off_struct = EvalReport(off.model + " unconstrained", off.suite, False, [c for c in off.cases if c.task_id in structured])
            on = reports["constrained"]
            on = EvalReport(on.model + " constrained", on.suite, True, on.cases)
            print("### structured tasks: unconstrained vs constrained decoding\n")
            print(compare(off_struct, on))
        if args.gate_role:
            print(f"\n### gate for role {args.gate_role}: {'PASSED' if gate_ok else 'FAILED'}")
            for r in reasons:
                print(f"- {r}")
    return 0 if gate_ok else 1


def _cmd_rescore(args) -> int:
    from node0_ops.evals.report import EvalReport
    from node0_ops.evals.runner import rescore
    from node0_ops.evals.tasks import load_suite

    data = json.loads(Path(args.report).read_text())
    parts = {"report": data} if "cases" in data else data
    tasks = load_suite(args.suite)
    out = {k: rescore(EvalReport.from_dict(v), tasks) for k, v in parts.items()}
    for r in out.values():
        print(r.table())
        print()
    if args.out:
        Path(args.out).write_text(json.dumps({k: r.to_dict() for k, r in out.items()}, ensure_ascii=False, indent=1))
    return 0


def _cmd_compare(args) -> int:
    from node0_ops.evals.report import compare

    print(compare(_load_report(args.base), _load_report(args.candidate)))
    return 0


def _state_flag(p) -> None:
    p.add_argument("--state-dir", help="state directory holding the registry (default: $GASTOWN_FT_HOME)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="node0-eval", description="Evaluate node0 role models on the Gas Town eval suite.")
    _state_flag(p)  # before or after the subcommand (node0_ops.cli_flags)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a suite on a model and print the report")
    r.add_argument("--model", help="registered model NAME[@VERSION] (or a base preset such as smollm2-135m)")
    r.add_argument("--model-path", help="a .gguf file or an HF model folder (bypasses the registry)")
    r.add_argument("--suite", default="v1", help="suite version under node0_ops/evals/suite (default v1)")
    r.add_argument("--backend", choices=("gguf", "hf"), help="gguf = llama-cpp-python, hf = transformers (default: gguf when available)")
    r.add_argument("--constrained", choices=("both", "on", "off"), default="both",
                   help="JSON-schema constrained decoding for structured tasks (default both)")
    r.add_argument("--json", action="store_true", help="print JSON instead of tables")
    r.add_argument("--cases", action="store_true", help="with --json: include every case (answers, errors)")
    r.add_argument("--out", help="write the full report(s) as JSON to this file")
    r.add_argument("--limit", type=int, help="run only the first N tasks")
    r.add_argument("--category", action="append", help="only this category (repeatable)")
    r.add_argument("--role", action="append", help="only tasks of this role (repeatable)")
    r.add_argument("--corpus-examples", help="JSONL of corpus examples; TEST-split ones with bd/gt commands become extra tasks")
    r.add_argument("--max-new-tokens", type=int, default=256, help="generation budget per answer (default 256)")
    r.add_argument("--threads", type=int, help="llama.cpp threads (default 1)")
    r.add_argument("--thresholds", help="EvalThresholds YAML (default: the packaged suite/thresholds.yaml)")
    r.add_argument("--gate-role", help="gate the result for this role; exit 1 when it fails")
    r.add_argument("--base-report", help="saved report of the model being replaced (regression gate)")
    r.add_argument("-q", "--quiet", action="store_true", help="no per-case progress on stderr")
    r.set_defaults(func=_cmd_run)
    rs = sub.add_parser("rescore", help="re-check the answers of a saved report with the current checkers")
    rs.add_argument("report")
    rs.add_argument("--suite", default="v1")
    rs.add_argument("--out", help="write the re-scored report(s) here")
    rs.set_defaults(func=_cmd_rescore)
    c = sub.add_parser("compare", help="side-by-side table of two saved reports")
    c.add_argument("base")
    c.add_argument("candidate")
    c.set_defaults(func=_cmd_compare)
    share_flags(sub, _state_flag)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``node0-eval``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SystemExit as exc:
        return int(exc.code or 0)


if __name__ == "__main__":
    sys.exit(main())
