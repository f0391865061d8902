"""The main job (`make run`): the whole pipeline on the configured town (default: embedded sample).

    python -m gastown_assets.main_job [--state-dir S] [--town T] [--role deacon] [--base auto]
                                      [--train-minutes 8.5] [--max-steps N] [--learning-rate LR]
                                      [--skip-training] [--no-real-data]

One run of ``role_model_job`` (:mod:`gastown_assets.defs.jobs`) on the state's Dagster instance:
corpus -> role adapter -> exported model (safetensors, GGUF, Modelfile) -> eval report (base vs
candidate) -> registry entry (blocking eval-threshold check) -> deployment into the town settings.
The UI shows that one run with the whole lineage; this script only sets the knobs, launches it,
prints a line per step and the summary. ``--skip-training`` runs ``corpus_job`` instead.
The default role is deacon: the first stage of the progressive rollout (deacon and boot first).
"""

import argparse
import logging
import sys
import time

import dagster as dg

from gastown_assets.cli.common import add_common_flags, apply_common_flags
from node0_ops.paths import dagster_home, lineage_db_path, state_dir, town_root


STEPS = {"collected_records": "corpus: collect town sources", "scrubbed_records": "corpus: scrub secrets and PII",
         "corpus_version": "corpus: format SFT examples and DPO pairs, version",
         "role_adapter": "role adapter (LoRA SFT)",
         "exported_model": "export (merge, safetensors, GGUF f16/q8_0/q4_k_m, Modelfile)",
         "eval_report": "eval report (base vs candidate)", "registry_entry": "registry entry",
         "role_deployment": "deploy into the town settings"}
GATE = "registry_entry_eval_threshold"


class _Progress(logging.Handler):
    """Prints a line when a step of the run starts, ends or fails, and each check's outcome (the
    Dagster console logger stays off: one run, readable output). ``after`` runs a callback when a step
    succeeds (the corpus stats after ``corpus_version``)."""

    def __init__(self, partition: str | None, after: dict):
        super().__init__(level=logging.DEBUG)
        self.partition, self.after, self.started, self.n = partition, after, {}, 0

    def emit(self, record):
        meta = getattr(record, "dagster_meta", None)
        ev = meta.get("dagster_event") if isinstance(meta, dict) else None
        if ev is None or not ev.step_key:
            return
        kind, step = ev.event_type_value, ev.step_key
        try:
            if kind == "STEP_START" and step in STEPS:
                self.n += 1
                self.started[step] = time.perf_counter()
                part = f" [{self.partition}]" if self.partition and step.startswith(("role", "exp", "eval", "reg")) else ""
                print(f"\n== {self.n}. {STEPS[step]}{part}", flush=True)
            elif kind == "STEP_SUCCESS" and step in self.started:
                print(f"   done in {time.perf_counter() - self.started[step]:.0f} s", flush=True)
                if step in self.after:
                    self.after[step]()
            elif kind == "ASSET_CHECK_EVALUATION":
                data = ev.event_specific_data
                if data.check_name != GATE:
                    outcome = "passed" if data.passed else "FAILED" if getattr(data, "blocking", True) else \
                        "failed (a warning: not blocking)"
                    print(f"   check {data.check_name}: {outcome}", flush=True)
            elif kind == "STEP_FAILURE" and step in STEPS:
                print(f"   FAILED: {_step_failure(ev)}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - progress output never fails the run
            print(f"   (progress output failed: {type(exc).__name__}: {exc})", file=sys.stderr)


def _step_failure(ev) -> str:
    data = ev.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip().splitlines()[0] if data.error else "see the run in the Dagster UI"


def run_job(name: str, resources: dict, partition: str | None, after: dict | None = None) -> dg.ExecuteInProcessResult:
    """One in-process run of the code location's job ``name`` on the state's instance (shown in the UI
    as one run), with ``resources`` and progress lines instead of Dagster's console log."""
    from gastown_assets import definitions as d

    handler = _Progress(partition, after or {})

    @dg.logger
    def progress(_init_context):
        log = logging.Logger("gtft.main_job", level=logging.DEBUG)
        log.addHandler(handler)
        return log

    defs = dg.Definitions(assets=list(d.defs.assets), asset_checks=list(d.defs.asset_checks), jobs=list(d.defs.jobs),
                          resources=resources, loggers={"progress": progress})
    return defs.resolve_job_def(name).execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key=partition, raise_on_error=False,
        run_config={"loggers": {"progress": {}}}, tags={"gtft/trigger": "make run"})


def _failures(result) -> list[str]:
    """``step: message`` of each failed step except the eval gate (a failed gate is an expected outcome)."""
    gate = {e.step_key for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == GATE}
    return [f"{e.step_key}: {_step_failure(e)}" for e in result.all_events
            if e.event_type_value == "STEP_FAILURE" and e.step_key not in gate]


def _md(result, key):
    for mat in result.get_asset_materialization_events():
        if mat.asset_key.to_user_string() == key:
            return {k: v.value for k, v in mat.materialization.metadata.items()}
    return {}


def _num(v) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


# SFTConfig settings per base from bench/quality.py's learning curves on this 2-core CPU (most optimizer
# steps, peak LoRA lr, batch and LoRA shape). The run itself is bounded by --train-minutes (the trainer fits
# its step count and LR schedule to the budget after timing a few steps), so `make run` stays near 20 minutes
# on this CPU and trains proportionally longer on an AMX CPU or a GPU. Precedence: SFTConfig defaults <
# these (except steps and lr) < <state>/resources.yaml's trainer.sft < these steps and lr < the flags.
CURVE_SETTINGS = {"max_steps": 600, "learning_rate": 1e-3, "gradient_accumulation_steps": 2, "max_seq_len": 512,
                  "lora.r": 16, "lora.lora_alpha": 32, "lora.top_layers": 0}
BASE_SETTINGS = {"smollm2-135m": CURVE_SETTINGS, "qwen2.5-coder-0.5b": CURVE_SETTINGS}
OTHER_BASE = {**CURVE_SETTINGS, "max_steps": 150}
TRAIN_MINUTES = 8.5
PREFERRED_BASES = ("qwen2.5-coder-0.5b", "smollm2-135m")


def default_base() -> str:
    """The first installed preset of :data:`PREFERRED_BASES` (Qwen2.5-Coder-0.5B when `make install` added
    its wheels: it reads unseen prompt framings far better than SmolLM2-135M), else SmolLM2-135M."""
    from node0_ops.models.base import preset_gguf

    for name in PREFERRED_BASES[:-1]:
        try:
            preset_gguf(name)
            return name
        except (FileNotFoundError, ValueError) as exc:
            print(f"   base {name} unavailable ({exc}); trying the next preset", flush=True)
    return PREFERRED_BASES[-1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gastown_assets.main_job", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_flags(p)
    p.add_argument("--role", default="deacon", help="role whose adapter the job trains (default deacon)")
    p.add_argument("--base", default="auto", help="base model preset, .gguf or HF folder (default auto: "
                   f"the first installed of {', '.join(PREFERRED_BASES)})")
    p.add_argument("--max-steps", type=int, default=0, help="most optimizer steps for the role adapter (0: the base's "
                   "setting, BASE_SETTINGS)")
    p.add_argument("--train-minutes", type=float, default=TRAIN_MINUTES, help="wall-clock training budget; the step "
                   f"count and LR schedule are fitted to it (default {TRAIN_MINUTES:g}; 0 = run --max-steps)")
    p.add_argument("--learning-rate", type=float, default=0.0, help="peak LoRA learning rate (0: the base's setting)")
    p.add_argument("--skip-training", action="store_true", help="stop after the corpus")
    p.add_argument("--no-real-data", action="store_true",
                   help="do not add ../shared/gastown-real (formulas, beads) to the corpus even when present")
    args = p.parse_args(argv)
    apply_common_flags(args)
    t0 = time.perf_counter()
    root = town_root(args.town)
    print(f"== gastown-finetune main job\n   town:  {root}\n   state: {state_dir()}", flush=True)

    from gastown_assets.cli import corpus as corpus_cli
    from gastown_assets.definitions import build_resources
    from node0_ops.paths import real_data_extras

    extras = [] if args.no_real_data else real_data_extras()
    if extras:
        print(f"   real Gas Town data added as extra sources: {', '.join(str(e) for e in extras)}")
    resources = build_resources()
    resources["town"] = type(resources["town"])(root=str(root), extra_sources=[str(e) for e in extras])
    after = {"corpus_version": lambda: corpus_cli.main(["stats"])}
    if args.skip_training:
        res = run_job("corpus_job", resources, None, after)
        for f in _failures(res):
            print(f"FAILED: {f}", file=sys.stderr)
        return 0 if res.success else 1

    base = default_base() if args.base == "auto" else args.base
    settings = BASE_SETTINGS.get(base, OTHER_BASE)
    max_steps = args.max_steps or settings["max_steps"]
    lr = args.learning_rate or settings["learning_rate"]
    # one validation pass at the end (each pass costs a minute on this CPU); the rest from resources.yaml
    curve = {k: v for k, v in settings.items() if k not in ("max_steps", "learning_rate")}
    resources["trainer"] = resources["trainer"].with_defaults(sft=curve).with_overrides(sft={
        "base": base, "max_steps": max_steps, "max_minutes": args.train_minutes, "learning_rate": lr,
        "eval_every": max_steps, "checkpoint_every": 25})
    budget = f"{args.train_minutes:g} min, at most {max_steps} steps" if args.train_minutes else f"{max_steps} steps"
    print(f"   role {args.role}, base {base}: {budget} at lr {lr:g}\n"
          f"   one run of role_model_job (corpus -> role adapter -> export -> eval -> registry -> gate -> deploy)",
          flush=True)
    role = args.role
    res = run_job("role_model_job", resources, role, after)
    failed = _failures(res)
    if failed:
        print("\nFAILED: " + "\n        ".join(failed), file=sys.stderr)
        print(f"   run {res.run_id}: see it in the Dagster UI (command below)", file=sys.stderr)
        return 1
    info = {key: _md(res, key) for key in ("role_adapter", "exported_model", "eval_report")}
    print(f"\n== summary [{role}] (run {res.run_id})", flush=True)
    tr = info["role_adapter"]
    print(f"   adapter: {tr.get('adapter_dir')}  steps={tr.get('steps')}  train_loss={_num(tr.get('train_loss'))}  "
          f"val_loss={_num(tr.get('val_loss'))}  run_id={tr.get('run_id')}")
    ev = info["eval_report"]
    print(f"   eval overall: base {ev['base_overall_score']:.3f} -> candidate {ev['overall_score']:.3f} "
          f"(constrained: base {ev['base_constrained_score']:.3f} -> candidate {ev['constrained_score']:.3f})")
    print(ev["base_vs_candidate"])
    q = ev.get("quality") or {}
    if q:
        keys = ("patrol", "valid_json", "bead", "conventions", "forbidden", "hit_max_tokens")
        print(f"   gate tasks (suite {ev.get('suite')} + corpus test split), unconstrained: " + "  ".join(
            f"{k} {_num(q['base'].get(k))} -> {_num(q['candidate'].get(k))}" for k in keys))

    reg = _md(res, "registry_entry")
    model = reg.get("model", "?")
    print(f"   registered {model} (candidate)")
    gate = [e for e in res.get_asset_check_evaluations() if e.check_name == "registry_entry_eval_threshold"]
    deployed = bool(_md(res, "role_deployment"))
    if gate and not gate[0].passed:
        reasons = gate[0].metadata.get("reasons")
        print("   eval gate FAILED, not deployed:")
        for r in (reasons.value if reasons else [])[:8]:
            print(f"     - {r}")
        print(f"   (override: .venv/bin/gt-model deploy {model.split('@')[0]} --town --role {role} --force --reason '...')")
    elif deployed:
        print(f"   deployed {model} as node0-{role} in {root}/settings/config.json")
    else:
        print("   not deployed: the run ended before role_deployment (see the run in the Dagster UI)")

    print(f"\n== done in {time.perf_counter() - t0:.0f} s")
    print(f"lineage DB:   {lineage_db_path()}")
    print(f"export:       {info['exported_model'].get('export_dir')}")
    print(f"serve it:     .venv/bin/node0-inference serve --model {model} --port 8008")
    print(f"agent:        .venv/bin/node0-inference --model {model} --role {role}")
    print("registry:     .venv/bin/gt-model list")
    print("browse it:    DAGSTER_HOME=" + str(dagster_home()) + " .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
