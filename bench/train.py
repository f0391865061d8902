"""Benchmark: our LoRA SFT loop vs TRL ``SFTTrainer`` on the same base, data and hyperparameters.

Runs side by side in one invocation, each in its own child process (peak RSS per run):

- ``peak``        (measured, not a run) 2048x2048 matmul microbenchmark in fp32 and in bf16 with
                  the thread count the runs use, ~2 s per dtype, before and after the runs (the
                  best of both is kept: interference only slows it down);
- ``ours``        node0_ops.train Trainer with its defaults: ``precision=auto`` (on a CPU with
                  native bf16, AMX bf16 or avx512_bf16: frozen linears stored in bf16 under bf16
                  autocast, embeddings/norms fp32, LoRA/AdamW fp32; else fp32;
                  :mod:`node0_ops.train.precision`), packed rows (position_ids restart, no
                  padding), varlen attention (one causal SDPA call per packed example), LM head
                  only on assistant-label positions;
- ``ours_fp32``   the same loop with ``precision=fp32``;
- ``trl_default`` TRL SFTTrainer with its default data path (one example per micro-batch, padding
                  collator, loss on every token) in fp32 (``bf16=False``);
- ``trl_bf16``    the same with ``bf16=True``, TRL's own default precision (CPU bf16 autocast over
                  fp32 weights);
- ``trl_packing`` TRL SFTTrainer with ``packing=True`` (BFD packing, which turns on
                  ``padding_free``: position_ids, no padding) and its default ``bf16=True``;
- ``trl_packing_fp32`` (opt-in) packing in fp32.

The headline ratio is ours / the best TRL run on this machine (highest non-pad tokens/s among the
TRL runs that ran), not TRL's fp32 path.

Same for all: SmolLM2-135M (sdpa), LoRA r=16 / alpha 32 / dropout 0 on q,k,v,o,gate,up,down,
AdamW lr 2e-4 with cosine decay and no warmup, max_grad_norm 1, batch 1 x gradient accumulation
4, max length 512, the same number of optimizer steps, gradient checkpointing off, the same chat
template (TRL's SFTConfig defaults turn on gradient checkpointing; it is off for everyone).

Data: chat examples built from the embedded sample town by the corpus stage
(``node0_ops.corpus``), at most 512 tokens; synthetic Gas Town chats if that stage is unavailable.

Reported per run: the precision its matmuls run in, non-padding tokens/s of the training call
(wall clock) and its ratio to TRL's best, tokens per CPU-second (less sensitive to other load on
the machine), the trainer's own last logged loss, train and val loss measured the same way for
every run (mean cross-entropy on assistant tokens, ``SFTObjective.evaluate`` without autocast),
peak RSS, achieved model GFLOP/s and MFU. MFU = model FLOPs / (wall time x measured peak of the
precision the run computes in: fp32 peak for fp32 runs, bf16 peak for bf16 runs). Model FLOPs per
run are counted from the tokens each run processed: frozen linear layers 4 x params per token
(forward + input gradient), LoRA 6 x params, attention 6 x layers x hidden x sum(l^2) (causal half
of QK^T and AV, forward + backward), LM head 4 x vocab x hidden per scored position.

The machine is shared: ``--repeat N`` runs the whole list N times interleaved and keeps each
run's best tokens/s (interference only slows a run down); all values are in the raw JSON.

Usage::

    .venv/bin/python bench/train.py                 # ~15 min on 2 idle cores
    .venv/bin/python bench/train.py --steps 4 --runs ours,trl_bf16 --repeat 2
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

RUNS = ("ours", "ours_fp32", "trl_default", "trl_bf16", "trl_packing", "trl_packing_fp32")
DEFAULT_RUNS = "ours,ours_fp32,trl_default,trl_bf16,trl_packing"
PEAK_N = 2048


def trl_bf16(run: str) -> bool:
    """TRL runs use TRL's own default ``bf16=True`` unless named ``trl_default`` or ``*_fp32``."""
    return run.startswith("trl") and run != "trl_default" and not run.endswith("_fp32")


# ----------------------------------------------------------------------------- data

def synthetic_examples(n: int) -> list[dict]:
    roles = ["polecat", "witness", "refinery", "mayor", "deacon"]
    out = []
    for i in range(n):
        r = roles[i % len(roles)]
        cmd = ["bd update gt-%d --claim" % i, "gt done", "gt nudge gastown/polecats/nux 'status?'",
               "git rebase origin/main", "gt sling gt-%d gastown" % i][i % 5]
        out.append({"example_id": f"syn{i}", "messages": [
            {"role": "system", "content": f"You are the Gas Town {r}. Work through gt and bd commands."},
            {"role": "user", "content": f"Bead gt-{i} needs attention: " + "context line. " * (5 + i % 30)},
            {"role": "assistant", "content": "On it.", "tool_calls": [
                {"id": f"c{i}", "type": "function", "function": {"name": "Bash", "arguments": json.dumps({"command": cmd})}}]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": "ok"},
            {"role": "assistant", "content": f"Done with gt-{i}: " + "checked the result. " * (1 + i % 6)}]})
    return out


def build_data(n_train: int, n_val: int, max_len: int) -> tuple[list[dict], list[dict], str]:
    from transformers import AutoTokenizer

    from node0_ops.models.base import resolve_base
    from node0_ops.train.data import tokenize_chat

    tok = AutoTokenizer.from_pretrained(str(resolve_base("smollm2-135m")))
    source = "sample_town"
    try:
        from node0_ops.corpus.collect import collect_town
        from node0_ops.corpus.format_sft import build_examples
        from node0_ops.paths import EMBEDDED_TOWN

        rows = [{"example_id": e.example_id, "messages": e.messages}
                for e in build_examples(collect_town(EMBEDDED_TOWN).records) if e.kind == "chat"]
    except Exception as exc:  # noqa: BLE001 - the corpus stage is optional for the bench
        print(f"[bench] sample-town corpus unavailable ({exc}); using synthetic chats", file=sys.stderr)
        rows, source = synthetic_examples(4 * (n_train + n_val)), "synthetic"
    keep = []
    for r in sorted(rows, key=lambda r: r["example_id"]):
        ex = tokenize_chat(r["messages"], tok)
        if len(ex) <= max_len - 2 and ex.n_labels > 0:
            keep.append(r)
    if len(keep) < n_train + n_val:
        raise SystemExit(f"only {len(keep)} examples <= {max_len} tokens; lower --n-train/--n-val")
    step = len(keep) / (n_train + n_val)
    picked = [keep[int(i * step)] for i in range(n_train + n_val)]
    return picked[:n_train], picked[n_train:], source


# ----------------------------------------------------------------------------- child runs

def _flops(shape: dict, n_lora: int, rows: list[list[int]], scored: int) -> float:
    """Model FLOPs (see the module docstring) for rows of example lengths and scored LM-head positions."""
    h, L, V = shape["hidden"], shape["layers"], shape["vocab"]
    body = shape["params"] - V * h  # linear layers + norms (tied embedding excluded)
    tokens = sum(sum(r) for r in rows)
    attn = 6 * L * h * sum(l * l for r in rows for l in r)
    return 4 * body * tokens + 6 * n_lora * tokens + attn + 4 * V * h * scored


def child(args) -> dict:
    import torch

    from node0_ops.train import adapters as A
    from node0_ops.train.checkpoint import seed_everything
    from node0_ops.train.data import tokenize_examples
    from node0_ops.train.resources_guard import model_shape
    from node0_ops.train.sft_config import SFTConfig
    from node0_ops.train.trainer import SFTObjective, Trainer

    data = json.loads(Path(args.data).read_text())
    train_rows, val_rows = data["train"], data["val"]
    torch.set_num_threads(args.threads)
    cfg = SFTConfig(base="smollm2-135m", max_steps=args.steps, gradient_accumulation_steps=args.accum,
                    max_seq_len=args.seq, learning_rate=2e-4, lr_scheduler="cosine", warmup_steps=0,
                    max_grad_norm=1.0, checkpoint_every=0, device="cpu", precision="fp32", seed=args.seed,
                    check_memory=False)
    seed_everything(args.seed)
    run = args.child
    plan = None
    if run.startswith("ours"):
        cfg.precision = "fp32" if run == "ours_fp32" else "auto"
        plan = A.resolve_precision(cfg)
        model, tok, folder = A.load_base_model(cfg)
    else:  # TRL gets the stock model (sdpa attention), exactly as a TRL user would load it
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from node0_ops.models.base import resolve_base

        folder = resolve_base(cfg.base)
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="sdpa")
        tok = AutoTokenizer.from_pretrained(str(folder))
    shape = model_shape(json.loads((Path(folder) / "config.json").read_text()))
    n_lora = cfg.lora.n_params(shape["hidden"], shape["intermediate"], shape["layers"], shape["heads"],
                               shape["kv_heads"], shape["head_dim"])
    if run.startswith("ours"):
        autocast = plan.autocast()
        compute = "bf16" if autocast is not None else "fp32"
        pm = A.new_adapter(model, cfg.lora, "role")
        train, _ = tokenize_examples(train_rows, tok, cfg.max_seq_len)
        trainer = Trainer(pm, cfg, train, None, device="cpu", autocast_dtype=autocast)
        rows, scored_box = [], [0]
        loss_fn = trainer.objective.loss

        def counting_loss(model_, items):  # records what each micro-batch computed (for FLOPs)
            rows.append([len(e) for e in items])
            scored_box[0] += int(trainer.objective.weight(items))
            return loss_fn(model_, items)

        trainer.objective.loss = counting_loss
        t0, cpu0 = time.perf_counter(), time.process_time()
        out = trainer.train()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        tokens = sum(h["tokens"] for h in out.history)
        own_loss = out.history[-1]["loss"]
        scored = scored_box[0]
        model_eval = pm
    else:
        from datasets import Dataset
        from trl import SFTConfig as TRLConfig
        from trl import SFTTrainer

        from node0_ops.train.chat_template import chat_template, normalize_messages
        from node0_ops.train.varlen_attention import segments

        tok.chat_template = chat_template()
        ds = Dataset.from_list([{"messages": normalize_messages(r["messages"])} for r in train_rows])
        targs = TRLConfig(output_dir=str(Path(args.out).parent / f"trl-{run}"), per_device_train_batch_size=1,
                          gradient_accumulation_steps=args.accum, max_steps=args.steps, learning_rate=2e-4,
                          lr_scheduler_type="cosine", warmup_steps=0, max_grad_norm=1.0, weight_decay=0.0,
                          max_length=args.seq, packing=run.startswith("trl_packing"), gradient_checkpointing=False,
                          bf16=trl_bf16(run), fp16=False, use_cpu=True, report_to="none", save_strategy="no",
                          eval_strategy="no", logging_steps=1, seed=args.seed, data_seed=args.seed,
                          dataloader_num_workers=0, disable_tqdm=True)
        trainer = SFTTrainer(model=model, args=targs, train_dataset=ds, processing_class=tok,
                             peft_config=cfg.lora.to_peft())
        seen: list[list[int]] = []
        collate = trainer.data_collator

        def counting(batch):
            out = collate(batch)
            if len(seen) < args.steps * args.accum:
                if "position_ids" in out and "attention_mask" not in out:
                    seen.append([e - s for s, e in segments(out["position_ids"][0])])
                else:
                    seen.append([int(m.sum()) for m in out["attention_mask"]])
            return out

        trainer.data_collator = counting
        t0, cpu0 = time.perf_counter(), time.process_time()
        trainer.train()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rows = seen
        tokens = sum(sum(r) for r in rows)
        scored = tokens  # TRL scores every position on CPU (its fused LM head is compact only on Triton)
        own_loss = [h["loss"] for h in trainer.state.log_history if "loss" in h][-1]
        model_eval = trainer.model
        compute = "bf16" if targs.bf16 else "fp32"
    ev = SFTObjective(SFTConfig(max_seq_len=args.seq, check_memory=False))
    model_eval.eval()
    val_exs, _ = tokenize_examples(val_rows, tok, args.seq)
    train_exs, _ = tokenize_examples(train_rows[:32], tok, args.seq)
    val_loss = ev.evaluate(model_eval, val_exs)["val_loss"]
    train_loss = ev.evaluate(model_eval, train_exs)["val_loss"]
    return {"run": run, "compute": compute, "precision_plan": plan.to_dict() if plan else None,
            "steps": args.steps, "tokens": tokens, "wall_s": wall, "cpu_s": cpu,
            "tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu, "own_last_loss": own_loss,
            "train_loss": train_loss, "val_loss": val_loss, "flops": _flops(shape, n_lora, rows, scored),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "micro_batches": len(rows), "examples_per_micro_batch": sum(len(r) for r in rows) / max(len(rows), 1)}


def matmul_peak(threads: int, seconds: float = 2.0, n: int = PEAK_N) -> dict:
    """Measured matmul FLOP/s of this machine: best single ``n x n @ n x n`` (2 n^3 FLOPs) over
    ~``seconds`` per dtype, fp32 and bf16, with ``threads`` torch threads.

    Returns ``{"fp32": FLOP/s, "bf16": FLOP/s, "n": n, "threads": threads}``."""
    import torch

    torch.set_num_threads(threads)
    out = {"n": n, "threads": threads}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        c = torch.empty(n, n, dtype=dtype)
        for _ in range(2):  # warm-up: oneDNN kernel selection, page faults
            torch.mm(a, b, out=c)
        best, t_end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
        out[name] = 2 * n ** 3 / best
    return out


# ----------------------------------------------------------------------------- parent

def run_child(run: str, args, tmp: Path, rnd: int) -> dict | None:
    """One child process (``run`` or ``peak``); its JSON result, or None when it failed."""
    out = tmp / f"{run}-{rnd}.json"
    cmd = [sys.executable, __file__, "--child", run, "--data", str(tmp / "data.json"), "--out", str(out),
           "--steps", str(args.steps), "--accum", str(args.accum), "--seq", str(args.seq),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[{run}] failed:\n{proc.stderr[-3000:]}")
        return None
    return json.loads(out.read_text())


def best_trl(results: dict[str, dict]) -> str | None:
    """Name of the TRL run with the highest tokens/s (None when no TRL run finished)."""
    trl = [r for r in results if r.startswith("trl")]
    return max(trl, key=lambda r: results[r]["tokens_per_s"]) if trl else None


def format_table(results: dict[str, dict], peak: dict) -> tuple[list[list[str]], str | None]:
    """Rows (header first) of the side-by-side table and the name of TRL's best run."""
    best = best_trl(results)
    ref = results[best] if best else None
    cols = ["run", "matmuls", "tokens", "train s", "tok/s", f"x {best or 'trl best'}", "tok/cpu-s", "own loss",
            "train loss", "val loss", "peak RSS GB", "GFLOP/s", "MFU %", "rows/mb"]
    table = [cols]
    for name in ("fp32", "bf16"):
        table.append([f"peak {name}", name, "", "", "", "", "", "", "", "", "", f"{peak[name] / 1e9:.0f}", "100.0", ""])
    for run, r in results.items():
        ratio = r["tokens_per_s"] / ref["tokens_per_s"] if ref else float("nan")
        achieved = r["flops"] / r["wall_s"]
        table.append([run, r["compute"], str(r["tokens"]), f"{r['wall_s']:.0f}", f"{r['tokens_per_s']:.1f}",
                      f"{ratio:.2f}", f"{r['tokens_per_cpu_s']:.1f}", f"{r['own_last_loss']:.3f}",
                      f"{r['train_loss']:.3f}", f"{r['val_loss']:.3f}", f"{r['peak_rss_gb']:.2f}",
                      f"{achieved / 1e9:.1f}", f"{100 * achieved / peak[r['compute']]:.1f}",
                      f"{r['examples_per_micro_batch']:.1f}"])
    return table, best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=15, help="optimizer steps per run")
    ap.add_argument("--accum", type=int, default=4, help="gradient accumulation (micro-batches per step)")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--n-train", type=int, default=80)
    ap.add_argument("--n-val", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default=DEFAULT_RUNS, help=f"comma list of {RUNS}")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds; the best tokens/s per run is kept")
    ap.add_argument("--child", choices=RUNS + ("peak",), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        res = matmul_peak(args.threads) if args.child == "peak" else child(args)
        Path(args.out).write_text(json.dumps(res))
        return 0
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    train, val, source = build_data(args.n_train, args.n_val, args.seq)
    (tmp / "data.json").write_text(json.dumps({"train": train, "val": val}))
    print(f"data: {len(train)} train / {len(val)} val chat examples from {source}; {args.steps} steps x "
          f"{args.accum} micro-batches, seq {args.seq}, {args.threads} threads; load average {os.getloadavg()[0]:.1f}")
    from node0_ops.models.cpu import cpu_features

    print(f"CPU: {cpu_features().summary()}")
    peaks = [p for p in [run_child("peak", args, tmp, 0)] if p]
    results: dict[str, dict] = {}
    all_results: dict[str, list[dict]] = {}
    for rnd in range(args.repeat):
        for run in (runs if rnd % 2 == 0 else list(reversed(runs))):
            t0 = time.time()
            load0 = os.getloadavg()[0]
            r = run_child(run, args, tmp, rnd)
            if r is None:
                continue
            r["load"] = (load0 + os.getloadavg()[0]) / 2
            all_results.setdefault(run, []).append(r)
            if run not in results or r["tokens_per_s"] > results[run]["tokens_per_s"]:
                results[run] = r
            print(f"[{run} #{rnd + 1}] {r['tokens_per_s']:.1f} tok/s, {time.time() - t0:.0f} s "
                  f"(load ~{r['load']:.1f})", flush=True)
    peaks += [p for p in [run_child("peak", args, tmp, 1)] if p]
    if not peaks:
        raise SystemExit("the matmul peak microbenchmark failed (see above); no MFU without it")
    peak = {k: max(p[k] for p in peaks) for k in ("fp32", "bf16")}
    all_results["peak"] = peaks
    results = {run: results[run] for run in runs if run in results}
    table, best = format_table(results, peak)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print()
    for row in table:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print(f"\nmeasured peak ({PEAK_N}x{PEAK_N} matmul, {args.threads} threads, best of ~2 s before and after the "
          f"runs): fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s "
          f"({peak['bf16'] / peak['fp32']:.1f}x); MFU is against the peak of the run's matmul precision")
    if "ours" in results and results["ours"].get("precision_plan"):
        pp = results["ours"]["precision_plan"]
        print(f"ours precision: layout {pp['layout']} (base linears {pp['weight_dtype']}, autocast "
              f"{pp['autocast_dtype']}, LoRA {pp['lora_dtype']}; {pp['reason']})")
    print("train/val loss: mean CE on assistant tokens (same evaluator for every run); own loss: the trainer's last "
          "logged step loss (TRL default: all tokens).")
    if best and "ours" in results:
        o, b = results["ours"], results[best]
        verdict = "holds" if o["val_loss"] <= b["val_loss"] else "WORSE"
        print(f"headline: ours / TRL best ({best}) = {o['tokens_per_s'] / b['tokens_per_s']:.2f}x tokens/s with val "
              f"loss {o['val_loss']:.3f} vs {b['val_loss']:.3f} ({verdict})")
    if "ours" in results and "ours_fp32" in results:
        o, f = results["ours"], results["ours_fp32"]
        print(f"ours auto / ours fp32 = {o['tokens_per_s'] / f['tokens_per_s']:.2f}x tokens/s, val loss "
              f"{o['val_loss']:.3f} vs {f['val_loss']:.3f} ({'equal or better' if o['val_loss'] <= f['val_loss'] else 'worse'})")
    (tmp / "results.json").write_text(json.dumps(all_results, indent=2))
    print(f"raw results: {tmp / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
