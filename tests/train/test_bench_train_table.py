"""bench/train.py table logic: the headline ratio is against TRL's fastest run and each run's MFU
is against the measured peak of the precision its matmuls use (no timing asserted)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(compute, tps, flops=1e12, wall=10.0):
    return {"compute": compute, "tokens": int(tps * wall), "wall_s": wall, "tokens_per_s": tps, "tokens_per_cpu_s": tps / 2,
            "own_last_loss": 1.0, "train_loss": 1.0, "val_loss": 1.0, "peak_rss_gb": 2.0, "flops": flops,
            "examples_per_micro_batch": 1.0}


def test_ratio_is_against_the_fastest_trl_run_and_mfu_against_the_runs_precision_peak(bench):
    results = {"ours": _run("bf16", 90.0), "ours_fp32": _run("fp32", 40.0), "trl_default": _run("fp32", 20.0),
               "trl_bf16": _run("bf16", 45.0), "trl_packing": _run("bf16", 30.0)}
    peak = {"fp32": 200e9, "bf16": 800e9}
    table, best = bench.format_table(results, peak)
    assert best == "trl_bf16"
    rows = {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    assert rows["ours"]["x trl_bf16"] == "2.00" and rows["trl_default"]["x trl_bf16"] == "0.44"
    assert rows["peak fp32"]["GFLOP/s"] == "200" and rows["peak bf16"]["GFLOP/s"] == "800"
    assert rows["ours"]["MFU %"] == f"{100 * 1e11 / 800e9:.1f}"       # 1e12 FLOPs / 10 s vs the bf16 peak
    assert rows["ours_fp32"]["MFU %"] == f"{100 * 1e11 / 200e9:.1f}"  # vs the fp32 peak
    assert bench.best_trl({"ours": results["ours"]}) is None


def test_trl_runs_use_trls_own_bf16_default_except_the_fp32_reference(bench):
    assert not bench.trl_bf16("trl_default") and not bench.trl_bf16("trl_packing_fp32")
    assert bench.trl_bf16("trl_bf16") and bench.trl_bf16("trl_packing") and not bench.trl_bf16("ours")
    assert set(bench.DEFAULT_RUNS.split(",")) <= set(bench.RUNS)


def test_matmul_peak_reports_both_precisions(bench):
    peak = bench.matmul_peak(threads=1, seconds=0.05, n=64)
    assert peak["fp32"] > 0 and peak["bf16"] > 0 and peak["n"] == 64
