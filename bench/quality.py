"""Learning curve: held-out score vs minutes of training, per base model and patrol role.

For each base (SmolLM2-135M; Qwen2.5-Coder-0.5B when its preset is installed) and role (deacon,
witness) one LoRA SFT run trains on the role's town-core mixture of the main job's corpus
(embedded town + ../shared/gastown-real when present), keeping a checkpoint every
``max_steps / points`` steps. Each checkpoint (and step 0 = the base itself) is exported the way
the main job exports (merged, q4_k_m GGUF) and scored with llama.cpp on

- suite v2, the role's gate tasks (its own patrol cases + the shared conventions/bead commands),
  unconstrained: patrol-decision pass rate, valid JSON with an allowed action, bead-management,
  conventions, forbidden commands, answers that hit max_tokens;
- the corpus's held-out TEST split of the role's decision scenarios (checked like v2).

The table gives each point's minutes of training (wall clock of the training child up to that
checkpoint), so settings are picked from the curve, not one number.

Usage::

    .venv/bin/python bench/quality.py                                  # both bases, deacon + witness
    .venv/bin/python bench/quality.py --bases smollm2-135m --roles deacon --max-steps 120 --points 3
    .venv/bin/python bench/quality.py --lr 1e-3 --max-seq-len 512 --json out.json
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def ensure_corpus(state: Path) -> str:
    """Corpus version of ``state``; builds it (embedded town + real extras) when there is none."""
    from node0_ops.corpus import store
    from node0_ops.paths import lineage_db_path, real_data_extras

    os.environ["GASTOWN_FT_HOME"] = str(state)
    db_file = lineage_db_path(state)
    if db_file.exists():
        version = store.latest_corpus_version(store.open_db(db_file))
        if version:
            return version
    from gastown_assets.cli import corpus as corpus_cli

    corpus_cli.main(["--state-dir", str(state), "build", *[a for e in real_data_extras() for a in ("--extra", str(e))]])
    return store.latest_corpus_version(store.open_db(db_file))


def load_rows(state: Path, version: str, role: str, mixture: dict):
    """``(train, val, test_examples, MixtureReport)`` for one role."""
    from node0_ops.corpus import store
    from node0_ops.paths import lineage_db_path
    from node0_ops.train.mixture_config import MixtureConfig, build_mixture

    db = store.open_db(lineage_db_path(state))
    cfg = MixtureConfig.from_dict(mixture)
    train, report = build_mixture(store.load_examples(db, version, split="train"), role, cfg)
    flat = MixtureConfig(**{**cfg.to_dict(), "role_weight": 1.0, "core_weight": 1.0, "task_weights": {}})
    val, _ = build_mixture(store.load_examples(db, version, split="val"), role, flat)
    test = store.load_examples(db, version, role=role, split="test")
    strip = lambda rows: [{"messages": r["messages"]} if r.get("messages") else {"text": r["text"]} for r in rows]  # noqa: E731
    return strip(train), strip(val)[:64], test, report


def checkpoint_adapter(ckpt: Path, final_adapter: Path, out: Path) -> Path:
    """A gastown adapter folder holding a checkpoint's LoRA weights (metadata from the final adapter)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("gastown_adapter.json", "chat_template.jinja", "adapter_config.json"):
        shutil.copy(final_adapter / name, out / name)
    shutil.copy(ckpt / "adapter_model.safetensors", out / "adapter_model.safetensors")
    return out


def score(gguf: str, tasks, max_new_tokens: int) -> dict:
    """Unconstrained scores of one GGUF on ``tasks`` (see the module docstring), in a llama.cpp child."""
    from node0_ops.evals.isolated import BackendSpec, IsolatedBackend
    from node0_ops.evals.quality import summarize
    from node0_ops.evals.runner import run_suite

    with IsolatedBackend(BackendSpec("gguf", str(gguf), n_ctx=2048, max_new_tokens=max_new_tokens)) as backend:
        return summarize(run_suite(backend, tasks, constrained=False, model=Path(gguf).stem))


def _reused(out: Path, state: Path, clock: dict):
    """The finished run behind ``out/adapter`` (``--reuse``), its clock rebuilt from metrics.jsonl; None if absent."""
    from types import SimpleNamespace

    meta_file = out / "adapter" / "gastown_adapter.json"
    if not meta_file.exists():
        return None
    run_dir = state / "artifacts" / "train_runs" / json.loads(meta_file.read_text())["run_id"]
    total = 0.0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        ev = json.loads(line)
        total += float(ev.get("step_time_s") or 0)
        clock[int(ev["step"])] = total
    print(f"   reusing {run_dir.name} ({len(clock) - 1} steps, {total / 60:.1f} min)", flush=True)
    return SimpleNamespace(run_dir=str(run_dir), adapter_dir=str(out / "adapter"))


def curve(base: str, role: str, args, state: Path, version: str, work: Path) -> list[dict]:
    """Train one run and score step 0 and every kept checkpoint."""
    from node0_ops.evals.eval_config import EvalThresholds
    from node0_ops.evals.quality import scenario_tasks
    from node0_ops.evals.tasks import load_suite
    from node0_ops.export.export import export_model
    from node0_ops.models.base import base_gguf
    from node0_ops.train import api
    from node0_ops.train.checkpoint import list_checkpoints
    from node0_ops.train.sft_config import SFTConfig

    train, val, test, mix = load_rows(state, version, role, json.loads(args.mixture))
    tasks = EvalThresholds().gate_tasks(load_suite(args.suite), role)
    held = scenario_tasks(test, limit=args.held_out)
    print(f"\n== {base} / {role}: {len(train)} mixture rows {mix.counts}; v2 gate tasks {len(tasks)}, held-out {len(held)}",
          flush=True)
    every = max(1, args.max_steps // args.points)
    cfg = SFTConfig(base=base, max_steps=args.max_steps, learning_rate=args.lr, max_seq_len=args.max_seq_len,
                    gradient_accumulation_steps=args.grad_accum, lora={"r": args.lora_r, "lora_alpha": 2 * args.lora_r, "top_layers": args.lora_top_layers},
                    checkpoint_every=every, save_total_limit=args.points + 1, eval_every=0, warmup_ratio=0.05)
    clock = {0: 0.0}
    t0 = [None]

    def progress(ev):
        if ev.get("event") == "step":
            t0[0] = t0[0] or time.perf_counter() - float(ev.get("elapsed_s") or 0)
            clock[int(ev["step"])] = time.perf_counter() - t0[0]
            if ev["step"] % 10 == 0:
                print(f"   step {ev['step']}: loss {ev.get('loss')}", flush=True)

    out = work / f"{base}-{role}"
    res = _reused(out, state, clock) if args.reuse else None
    if res is None:
        res = api.run_in_subprocess("role", cfg, train, val, out / "adapter", run_meta={"role": role, "corpus_version": version},
                                    progress=progress)
    points = [(0, base_gguf(base)[0])]
    for ck in list_checkpoints(res.run_dir):
        step = int(ck.name.split("-")[1])
        folder = checkpoint_adapter(ck, Path(res.adapter_dir), out / f"ckpt-{step}")
        exp = export_model(base, [folder], out / f"export-{step}", name=f"{role}-{step}", quants=("q4_k_m",),
                           lineage={"role": role}, overwrite=True)
        points.append((step, exp.ggufs["q4_k_m"]))
    if args.max_steps not in {s for s, _ in points}:     # the final adapter is not a kept checkpoint
        exp = export_model(base, [Path(res.adapter_dir)], out / f"export-{args.max_steps}", name=f"{role}-{args.max_steps}",
                           quants=("q4_k_m",), lineage={"role": role}, overwrite=True)
        points.append((args.max_steps, exp.ggufs["q4_k_m"]))
        clock.setdefault(args.max_steps, max(clock.values()))
    rows = []
    from concurrent.futures import ThreadPoolExecutor

    # one single-threaded llama.cpp child per core: v2 and the held-out split of a point at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [(step, pool.submit(score, str(gguf), tasks, args.max_new_tokens),
                 pool.submit(score, str(gguf), held, args.max_new_tokens) if held else None) for step, gguf in points]
    for step, v2_job, held_job in jobs:
        s_v2, s_held = v2_job.result(), held_job.result() if held_job else {}
        minutes = clock.get(step, max(clock.values())) / 60
        row = {"base": base, "role": role, "step": step, "minutes": round(minutes, 2), **{f"v2_{k}": v for k, v in s_v2.items()},
               "held_patrol": s_held.get("patrol"), "held_valid": s_held.get("valid_json")}
        rows.append(row)
        print("   " + _fmt(row), flush=True)
    return rows


COLS = [("base", "{:<20}"), ("role", "{:<8}"), ("step", "{:>5}"), ("minutes", "{:>7.1f}"), ("v2_patrol", "{:>9.2f}"),
        ("v2_valid_json", "{:>10.2f}"), ("v2_bead", "{:>7.2f}"), ("v2_conventions", "{:>7.2f}"), ("v2_forbidden", "{:>9}"),
        ("v2_hit_max_tokens", "{:>7}"), ("held_patrol", "{:>11.2f}"), ("held_valid", "{:>10.2f}")]


def _fmt(row: dict) -> str:
    out = []
    for k, f in COLS:
        v = row.get(k)
        out.append(f.format(v) if v is not None else f"{'-':>{len(f.format(0)) if 'd' in f else 5}}")
    return " ".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bases", default="smollm2-135m,qwen2.5-coder-0.5b")
    p.add_argument("--roles", default="deacon,witness")
    p.add_argument("--suite", default="v2")
    p.add_argument("--max-steps", type=int, default=160)
    p.add_argument("--points", type=int, default=4, help="checkpoints scored along the run (plus step 0)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-top-layers", type=int, default=0, help="LoRA on the top N decoder layers only (0 = all)")
    p.add_argument("--max-seq-len", type=int, default=512)
    p.add_argument("--grad-accum", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--held-out", type=int, default=40, help="held-out scenario cases per role")
    p.add_argument("--mixture", default="{}", help="JSON overrides of MixtureConfig")
    p.add_argument("--state", default=str(REPO / ".state-bench-quality"))
    p.add_argument("--json", default="")
    p.add_argument("--reuse", action="store_true", help="score the finished run of a previous invocation (same --state) again")
    args = p.parse_args(argv)
    from node0_ops.models.base import PRESETS, preset_gguf
    from node0_ops.models.cpu import cpu_features

    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    version = ensure_corpus(state)
    print(f"CPU: {cpu_features().summary()}; corpus {version}", flush=True)
    rows = []
    for base in args.bases.split(","):
        try:
            if base in PRESETS:
                preset_gguf(base)
        except FileNotFoundError as exc:
            print(f"skip {base}: {exc}")
            continue
        for role in args.roles.split(","):
            rows += curve(base, role, args, state, version, state / "quality")
    print("\n" + " ".join(k.rjust(len(f.format(0)) if "d" in f or "f" in f else 5) if i > 1 else k.ljust(8 if i else 20)
                          for i, (k, f) in enumerate(COLS)))
    for r in rows:
        print(_fmt(r))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
