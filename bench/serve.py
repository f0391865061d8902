"""Serving benchmark: our llama.cpp server (GGUF q4_k_m / q8_0) vs transformers fp32, side by side.

Usage::

    .venv/bin/python bench/serve.py [--max-tokens 48] [--prompts 2] [--clients 4] [--json out.json]

What it measures (same SmolLM2-135M-Instruct weights, same prompts, greedy, same thread count):

0. Threads: ``--threads`` for llama.cpp and torch alike (default half the cores, as the server).
1. GGUFs exported from the HF folder of ``resolve_base("smollm2-135m")`` with the exporter
   (``node0_ops.export.gguf_writer.write_gguf`` q8_0, f16 -> ``quantize_gguf`` q4_k_m; cached in
   ``$GTFT_CACHE/bench-serve``); a random LoRA GGUF (``write_lora_gguf``) for the switch test.
   Falls back to the shipped Q4_1 GGUF when the exporter fails (and says so).
2. Through the HTTP server (``node0_ops.serve.app``, in this process, SSE streaming via httpx):
   time to first token (request sent -> first content chunk) and decode tokens/s
   ((completion_tokens - 1) / (last chunk - first chunk)).
3. transformers fp32 ``generate`` on the HF folder: TTFT (a 1-token generate) and decode tokens/s.
   Ratio = server / transformers (> 1: the server is faster).
4. Adapter switch on the live model: ``llama_set_adapters_lora`` none <-> LoRA (median / p95 µs),
   and TTFT of a request that switches stack vs one that does not.
5. Requests/s: 1 client sequential vs ``--clients`` concurrent clients (one model, FIFO queue).
7. Extra buffer types: decode tokens/s of each quantized GGUF (shipped Q4_1, q4_k_m, q8_0) loaded with
   llama.cpp's ``use_extra_bufts`` on and off (:mod:`node0_ops.models.llama_open`), each load in a
   child process: a crash (the AMX repack on Intel) prints ``crashed (SIGSEGV (signal 11))`` for that
   row. ``--bufts-only`` prints just this table.
6. Memory-bandwidth bound: bytes of weights read per token (all GGUF tensors: SmolLM2 ties the
   output matrix to the embeddings, so it is read whole for the logits) vs a numpy large-array copy
   bandwidth (read + write bytes / s); bound = bandwidth / bytes per token, and the fraction of it
   the measured decode rate reaches.

Absolute numbers depend on machine load (2 shared cores): compare ratios within one run.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPTS = [
    "You are a Gas Town polecat. Explain in three steps how you finish the bead on your hook.",
    "The witness sees polecat furiosa idle for 20 minutes on gt-k3v9. What should it do first?",
    "Write a one-paragraph summary of what the refinery does with a merge request.",
]
THREADS = max(1, (os.cpu_count() or 1) // 2)  # ServeConfig's default; --threads overrides (both runtimes)


def set_threads(n: int) -> None:
    global THREADS
    THREADS = max(1, n)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- artifacts


def export_ggufs(base_dir: Path) -> tuple[dict[str, Path], str]:
    """``{"q4_k_m": path, "q8_0": path}`` exported once (cached); note about fallbacks."""
    from node0_ops.paths import cache_dir

    out = cache_dir("bench-serve")
    paths = {"q8_0": out / "smollm2-q8_0.gguf", "q4_k_m": out / "smollm2-q4_k_m.gguf"}
    try:
        from node0_ops.export.gguf_writer import quantize_gguf, write_gguf

        if not paths["q8_0"].is_file():
            log("exporting q8_0 GGUF ...")
            write_gguf(base_dir, paths["q8_0"], "q8_0", name="smollm2-135m")
        if not paths["q4_k_m"].is_file():
            log("exporting f16 -> q4_k_m GGUF ...")
            f16 = out / "smollm2-f16.gguf"
            write_gguf(base_dir, f16, "f16", name="smollm2-135m")
            quantize_gguf(f16, paths["q4_k_m"], "q4_k_m", threads=THREADS)
            f16.unlink()
        return paths, "exported with node0_ops.export"
    except Exception as exc:  # exporter missing or broken: use the shipped file
        from node0_ops.models.base import preset_gguf

        return {"q4_1 (shipped)": preset_gguf("smollm2-135m")}, f"exporter failed ({exc}); used the shipped Q4_1 GGUF"


def make_lora_gguf(base_dir: Path) -> Path:
    """A random r=8 LoRA on q/v/down projections, written as PEFT files and converted with the exporter."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from node0_ops.export.lora_gguf import write_lora_gguf
    from node0_ops.paths import cache_dir

    out = cache_dir("bench-serve") / "lora-r8.gguf"
    if out.is_file():
        return out
    cfg = json.loads((base_dir / "config.json").read_text())
    d, ff, n_layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = cfg["num_key_value_heads"] * (d // cfg["num_attention_heads"])
    rng = np.random.default_rng(0)
    tensors = {}
    for i in range(n_layers):
        for mod, (o, n) in {"self_attn.q_proj": (d, d), "self_attn.v_proj": (kv, d), "mlp.down_proj": (d, ff)}.items():
            key = f"base_model.model.model.layers.{i}.{mod}"
            tensors[f"{key}.lora_A.weight"] = torch.from_numpy(rng.normal(0, 0.05, (8, n)).astype("float32"))
            tensors[f"{key}.lora_B.weight"] = torch.from_numpy(rng.normal(0, 0.1, (o, 8)).astype("float32"))
    folder = out.parent / "peft-lora-r8"
    folder.mkdir(exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16, "peft_type": "LORA",
                                                            "target_modules": ["q_proj", "v_proj", "down_proj"]}))
    return write_lora_gguf(folder, base_dir, out, name="bench-lora")


def weight_bytes(gguf: Path) -> int:
    from gguf import GGUFReader

    return int(sum(int(t.n_bytes) for t in GGUFReader(str(gguf)).tensors))


def copy_bandwidth(mb: int = 256, repeats: int = 5) -> float:
    """Best numpy copy bandwidth in GB/s, counting read + write bytes."""
    import numpy as np

    src = np.ones(mb * (1 << 20) // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best / 1e9


# ----------------------------------------------------------------------------- server


def stream_request(url: str, model: str, prompt: str, max_tokens: int) -> dict:
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
            "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    first = last = None
    usage = {}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            obj = json.loads(line[6:])
            if obj.get("usage"):
                usage = obj["usage"]
            if obj.get("choices") and obj["choices"][0]["delta"].get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
    n = usage.get("completion_tokens", 0)
    decode = (n - 1) / (last - first) if first and last and last > first and n > 1 else float("nan")
    return {"ttft_s": (first or time.perf_counter()) - t0, "tokens": n, "decode_tps": decode,
            "total_s": time.perf_counter() - t0}


def bench_server(gguf: Path, lora: Path | None, prompts: list[str], max_tokens: int, clients: int) -> dict:
    from node0_ops.serve.app import InferenceServer
    from node0_ops.serve.engine import LlamaEngine
    from node0_ops.serve.models import spec_from_paths
    from node0_ops.serve.serve_config import ServeConfig

    spec = spec_from_paths(gguf, {"lora": lora} if lora else {}, name="m")
    cfg = ServeConfig(n_ctx=1024, port=0, n_threads=THREADS)
    engine = LlamaEngine(spec, cfg)
    srv = InferenceServer(engine, cfg).start()
    try:
        stream_request(srv.url, "m", "warm up", 4)
        runs = [stream_request(srv.url, "m", p, max_tokens) for p in prompts]
        out = {"ttft_s": statistics.median(r["ttft_s"] for r in runs),
               "decode_tps": statistics.median(r["decode_tps"] for r in runs),
               "tokens": sum(r["tokens"] for r in runs)}
        if lora:
            sw = []
            for i in range(60):
                sw.append(engine.set_stack((("lora", 1.0),) if i % 2 == 0 else ()))
            sw.sort()
            same = [stream_request(srv.url, "m", prompts[0], 1)["ttft_s"] for _ in range(3)]
            switched = [stream_request(srv.url, "m+lora" if i % 2 == 0 else "m", prompts[0], 1)["ttft_s"]
                        for i in range(4)]
            out["switch_us_median"] = sw[len(sw) // 2] * 1e6
            out["switch_us_p95"] = sw[int(len(sw) * 0.95)] * 1e6
            out["ttft_same_stack_s"] = statistics.median(same)
            out["ttft_switching_s"] = statistics.median(switched)
        n_req, short = clients * 2, max(8, max_tokens // 2)
        t = time.perf_counter()
        for i in range(n_req):
            stream_request(srv.url, "m", prompts[i % len(prompts)], short)
        out["rps_1_client"] = n_req / (time.perf_counter() - t)
        errors: list = []

        def client(k: int) -> None:
            try:
                for j in range(2):
                    stream_request(srv.url, "m+lora" if (lora and k % 2) else "m", prompts[(k + j) % len(prompts)],
                                   short)
            except Exception as exc:  # reported in the table
                errors.append(repr(exc))

        t = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        out[f"rps_{clients}_clients"] = n_req / (time.perf_counter() - t)
        out["concurrent_errors"] = errors
    finally:
        srv.stop()
        engine.close()
    return out


# ----------------------------------------------------------------------------- transformers


def bench_transformers(base_dir: Path, prompts: list[str], max_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from node0_ops.serve.prompting import render_prompt

    torch.set_num_threads(THREADS)
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32).eval()
    ttfts, rates, total = [], [], 0
    with torch.no_grad():
        model.generate(**tok("warm up", return_tensors="pt"), max_new_tokens=2, do_sample=False)
        for p in prompts:
            ids = tok(render_prompt([{"role": "user", "content": p}]), return_tensors="pt", add_special_tokens=False)
            t = time.perf_counter()
            model.generate(**ids, max_new_tokens=1, do_sample=False)
            ttft = time.perf_counter() - t
            t = time.perf_counter()
            out = model.generate(**ids, max_new_tokens=max_tokens, do_sample=False)
            elapsed = time.perf_counter() - t
            n = out.shape[1] - ids["input_ids"].shape[1]
            ttfts.append(ttft)
            rates.append((n - 1) / max(elapsed - ttft, 1e-9))
            total += n
    return {"ttft_s": statistics.median(ttfts), "decode_tps": statistics.median(rates), "tokens": total}


# ----------------------------------------------------------------------------- extra buffer types


def bufts_child(path: Path, on: bool, prompt: str, max_tokens: int) -> dict:
    """(child process) Load ``path`` with ``use_extra_bufts=on`` and time greedy decode by argmax."""
    import dataclasses

    import numpy as np

    from node0_ops.models.llama_open import llama_settings, open_llama

    settings = dataclasses.replace(llama_settings(), use_extra_bufts=on, reason="bench/serve.py forces it")
    t = time.perf_counter()
    llm = open_llama(path, n_ctx=1024, n_threads=THREADS, settings=settings, seed=0)
    load_s = time.perf_counter() - t
    ids = llm.tokenize(prompt.encode(), add_bos=True)
    t = time.perf_counter()
    llm.eval(ids)
    prefill_s = time.perf_counter() - t
    out, t = [], time.perf_counter()
    for _ in range(max_tokens):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    decode_s = time.perf_counter() - t
    llm.close()
    return {"load_s": load_s, "prefill_tps": len(ids) / prefill_s, "decode_tps": len(out) / decode_s, "tokens": out}


def bench_extra_bufts(ggufs: dict[str, Path], prompt: str, max_tokens: int) -> dict:
    """``{quant: {"on": row, "off": row}}``: decode tokens/s with llama.cpp extra buffer types on and
    off, each load in its own child process so a crash (AMX repack on Intel) is a row, not the end of
    the bench: ``{"crashed": "SIGSEGV (signal 11)"}``."""
    import signal
    import subprocess

    res: dict = {}
    for quant, path in ggufs.items():
        for on in (True, False):
            cmd = [sys.executable, __file__, "--bufts-child", str(path), "--bufts-on", str(int(on)),
                   "--max-tokens", str(max_tokens), "--threads", str(THREADS)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONFAULTHANDLER="1"))
            if proc.returncode < 0:
                try:
                    name = signal.Signals(-proc.returncode).name
                except ValueError:
                    name = "signal"
                row = {"crashed": f"{name} (signal {-proc.returncode})"}
            elif proc.returncode != 0:
                row = {"crashed": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
            else:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            res.setdefault(quant, {})["on" if on else "off"] = row
            shown = row["crashed"] if "crashed" in row else f"{row['decode_tps']:.1f} decode tok/s"
            log(f"  {quant} extra buffer types {'on' if on else 'off'}: {shown}")
    return res


def print_bufts(res: dict, max_tokens: int) -> None:
    from node0_ops.models.cpu import cpu_features
    from node0_ops.models.llama_open import llama_settings

    s = llama_settings()
    print(f"\nllama.cpp extra buffer types (use_extra_bufts), greedy decode of {max_tokens} tokens, {THREADS} threads,"
          f" {cpu_features().summary()}; auto choice here: {s.use_extra_bufts} ({s.reason})")
    print(f"{'GGUF':18} {'on: decode tok/s':>17} {'off: decode tok/s':>18} {'on/off':>7} {'same tokens':>12}")
    for quant, rows in res.items():
        on, off = rows["on"], rows["off"]
        cell = lambda r: r["crashed"] if "crashed" in r else f"{r['decode_tps']:.1f}"  # noqa: E731
        both = "crashed" not in on and "crashed" not in off
        ratio = f"{on['decode_tps'] / off['decode_tps']:.2f}" if both else "-"
        same = str(on["tokens"] == off["tokens"]) if both else "-"
        print(f"{quant:18} {cell(on):>17} {cell(off):>18} {ratio:>7} {same:>12}")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--prompts", type=int, default=2, help="how many of the fixed prompts (1-3)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=THREADS, help=f"threads for both runtimes (default {THREADS})")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--bufts-only", action="store_true", help="only the extra-buffer-types on/off table")
    ap.add_argument("--bufts-child", help=argparse.SUPPRESS)
    ap.add_argument("--bufts-on", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    if args.bufts_child:
        print(json.dumps(bufts_child(Path(args.bufts_child), bool(args.bufts_on), PROMPTS[0], args.max_tokens)))
        return 0
    prompts = PROMPTS[:max(1, min(3, args.prompts))]
    t_start = time.perf_counter()

    from node0_ops.models.base import preset_gguf, resolve_base

    base_dir = Path(resolve_base("smollm2-135m"))
    ggufs, note = export_ggufs(base_dir)
    log(note)
    log("extra buffer types on/off (child processes) ...")
    bufts_ggufs = {"q4_1 (shipped)": preset_gguf("smollm2-135m"), **{q: p for q, p in ggufs.items() if "shipped" not in q}}
    bufts = bench_extra_bufts(bufts_ggufs, PROMPTS[0], args.max_tokens)
    if args.bufts_only:
        print_bufts(bufts, args.max_tokens)
        if args.json:
            Path(args.json).write_text(json.dumps({"extra_bufts": bufts, "threads": THREADS}, indent=2, default=str))
        return 0
    try:
        lora = make_lora_gguf(base_dir)
    except Exception as exc:
        log(f"LoRA GGUF failed ({exc}); skipping the adapter-switch test")
        lora = None
    bw = copy_bandwidth()
    results = {"note": note, "copy_bandwidth_gbs": bw, "threads": THREADS, "max_tokens": args.max_tokens,
               "servers": {}, "extra_bufts": bufts}
    for quant, path in ggufs.items():
        log(f"server on {quant} ...")
        r = bench_server(path, lora, prompts, args.max_tokens, args.clients)
        r["bytes_per_token"] = weight_bytes(path)
        r["bound_tps"] = bw * 1e9 / r["bytes_per_token"]
        r["fraction_of_bound"] = r["decode_tps"] / r["bound_tps"]
        r["file_mb"] = path.stat().st_size / 1e6
        results["servers"][quant] = r
    log("transformers fp32 ...")
    hf = bench_transformers(base_dir, prompts, args.max_tokens)
    hf_bytes = sum(p.stat().st_size for p in base_dir.glob("*.safetensors"))
    hf["bytes_per_token"] = hf_bytes
    hf["bound_tps"] = bw * 1e9 / hf_bytes
    hf["fraction_of_bound"] = hf["decode_tps"] / hf["bound_tps"]
    results["transformers_fp32"] = hf
    results["seconds"] = time.perf_counter() - t_start

    print(f"\nSmolLM2-135M-Instruct, greedy, {args.max_tokens} new tokens, {len(prompts)} prompts, {THREADS} threads"
          f" ({note})")
    print(f"{'runtime':24} {'TTFT ms':>8} {'decode tok/s':>13} {'x fp32':>7} {'MB/token':>9} {'bound tok/s':>12}"
          f" {'of bound':>9}")
    rows = [(f"server {q}", r) for q, r in results["servers"].items()] + [("transformers fp32", hf)]
    for name, r in rows:
        print(f"{name:24} {r['ttft_s'] * 1e3:8.1f} {r['decode_tps']:13.1f} {r['decode_tps'] / hf['decode_tps']:7.2f}"
              f" {r['bytes_per_token'] / 1e6:9.1f} {r['bound_tps']:12.1f} {r['fraction_of_bound']:9.1%}")
    print(f"copy bandwidth (numpy, read+write): {bw:.2f} GB/s")
    for q, r in results["servers"].items():
        if "switch_us_median" in r:
            print(f"[{q}] adapter switch: median {r['switch_us_median']:.0f} µs, p95 {r['switch_us_p95']:.0f} µs;"
                  f" TTFT same stack {r['ttft_same_stack_s'] * 1e3:.0f} ms vs switching {r['ttft_switching_s'] * 1e3:.0f} ms")
        print(f"[{q}] requests/s: 1 client {r['rps_1_client']:.2f}, {args.clients} clients "
              f"{r[f'rps_{args.clients}_clients']:.2f} (errors: {len(r['concurrent_errors'])})")
    print_bufts(bufts, args.max_tokens)
    print(f"total {results['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
