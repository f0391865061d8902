"""DuckDB run tracking and loss curves."""

from node0_ops.train import tracking
from node0_ops.train.trainer import StepMetrics


def test_run_lifecycle_metrics_and_compare(tmp_path):
    db = tracking.open_db(tmp_path / "lineage.duckdb")
    for rid, lr in (("a", 1e-4), ("b", 2e-4)):
        tracking.start_run(db, run_id=rid, kind="role", role="polecat", task=None, base="smollm2-135m",
                           base_fingerprint="f" * 16, corpus_version="v1", corpus_hash="c" * 16,
                           config={"learning_rate": lr, "lora": {"r": 16}}, run_dir=str(tmp_path / rid))
    row = tracking.get_run(db, "a")
    assert row["status"] == "running" and row["pid"] > 0 and row["config"]["lora"]["r"] == 16
    w = tracking.MetricsWriter(db, "a", flush_every=3)
    for s in range(1, 6):
        w(StepMetrics(step=s, epoch=0, loss=3.0 - 0.1 * s, lr=1e-4, grad_norm=1.0, tokens=100, tokens_per_s=50.0,
                      step_time_s=2.0, val_loss=2.5 if s == 4 else None, ts=1.7e9 + s))
    assert [r["step"] for r in tracking.run_metrics(db, "a")] == [1, 2, 3, 4]  # flushed at 3 and on the val step
    w.flush()
    assert len(tracking.run_metrics(db, "a")) == 5
    tracking.finish_run(db, "a", "completed", adapter_path="/x", metrics={"val_loss": 2.4, "train_loss": 2.5})
    tracking.finish_run(db, "b", "failed", error="boom")
    a, b = tracking.get_run(db, "a"), tracking.get_run(db, "b")
    assert a["status"] == "completed" and a["ended_at"] is not None and b["error"] == "boom"
    table = tracking.compare_table(a, b)
    assert "config.learning_rate  0.0001" in table and "metrics.val_loss" in table and "completed" in table
    assert "config.lora.r" not in table  # identical values are not repeated
    assert [r["run_id"] for r in tracking.list_runs(db)] == ["b", "a"]


def test_loss_curve_png(tmp_path):
    hist = [{"step": s, "loss": 3.0 / s, "val_loss": (1.5 if s == 3 else None)} for s in range(1, 6)]
    path = tracking.plot_loss_curve(hist, tmp_path / "curve.png", title="t")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
