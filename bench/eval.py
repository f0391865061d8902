"""Eval-suite throughput: transformers (fp32 HF folder) vs exported GGUF in llama-cpp-python.

    .venv/bin/python bench/eval.py [--tasks 24] [--max-new-tokens 64] [--model HF_FOLDER]

Same tasks, same greedy decoding budget, run side by side in one process. The model is the
default base (SmolLM2-135M-Instruct) or any merged HF folder (e.g. an export's ``merged/``);
its GGUFs (f16 and q4_k_m) are written with our exporter first. Prints wall time and tasks/s per
backend, the speed ratio vs transformers, and score agreement (same pass/fail per case).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run(backend, tasks, label):
    from node0_ops.evals.runner import run_suite

    t = time.perf_counter()
    rep = run_suite(backend, tasks, constrained=False, model=label, suite="v1")
    return rep, time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=24, help="first N suite tasks, spread over categories")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--model", help="merged HF folder (default: the base model)")
    args = p.parse_args()

    import torch

    from node0_ops.evals import load_suite
    from node0_ops.evals.backends import LlamaCppBackend, TransformersBackend
    from node0_ops.export.gguf_writer import quantize_gguf, write_gguf
    from node0_ops.models.base import resolve_base

    torch.set_num_threads(1)  # both runtimes single-threaded: fair on a shared 2-core box
    suite = load_suite("v1")
    by_cat: dict[str, list] = {}
    for t in suite:
        by_cat.setdefault(t.category, []).append(t)
    tasks = []
    while len(tasks) < min(args.tasks, len(suite)):
        for cat in list(by_cat):
            if by_cat[cat] and len(tasks) < args.tasks:
                tasks.append(by_cat[cat].pop(0))
    model_dir = Path(args.model) if args.model else resolve_base()
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    t = time.perf_counter()
    f16 = write_gguf(model_dir, tmp / "model-f16.gguf", "f16")
    q4 = quantize_gguf(f16, tmp / "model-q4_k_m.gguf", "q4_k_m")
    print(f"model: {model_dir}\nGGUF export f16 + q4_k_m: {time.perf_counter() - t:.1f} s\n"
          f"tasks: {len(tasks)} ({', '.join(sorted({x.category for x in tasks}))}), max_new_tokens={args.max_new_tokens}\n")

    results = {}
    hf = TransformersBackend(str(model_dir), max_new_tokens=args.max_new_tokens, device="cpu")
    results["transformers fp32"] = run(hf, tasks, "hf")
    del hf
    for label, path in (("llama.cpp f16", f16), ("llama.cpp q4_k_m", q4)):
        results[label] = run(LlamaCppBackend(str(path), max_new_tokens=args.max_new_tokens, n_ctx=2048, n_threads=1),
                             tasks, label)

    ref_rep, ref_s = results["transformers fp32"]
    ref_pass = [c.passed for c in ref_rep.cases]
    print(f"{'backend':20} {'wall s':>8} {'tasks/s':>8} {'speedup':>8} {'pass rate':>10} {'agreement':>10}")
    for label, (rep, secs) in results.items():
        agree = sum(a == c.passed for a, c in zip(ref_pass, rep.cases)) / len(tasks)
        print(f"{label:20} {secs:8.1f} {len(tasks) / secs:8.2f} {ref_s / secs:7.2f}x {rep.overall.rate:10.3f} {agree:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
