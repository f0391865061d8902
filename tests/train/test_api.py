"""run_in_subprocess: the same training in a child process, progress streamed back."""

from node0_ops.train.api import run_in_subprocess


def test_run_in_subprocess_streams_progress_and_returns_the_result(tmp_path, tiny_cfg, chat_rows):
    events = []
    res = run_in_subprocess("role", tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 3}), chat_rows[:10],
                            chat_rows[20:], tmp_path / "adapter", db=tmp_path / "state" / "lineage.duckdb",
                            run_meta={"role": "crew"}, progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] in ("data", "memory") and kinds[-1] == "end"
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert res.status == "completed" and res.adapter_dir == str(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    pid_info = (tmp_path / "state" / "artifacts" / "train_runs" / res.run_id / "pid").read_text()
    assert f'"pid": {__import__("os").getpid()}' not in pid_info  # it really ran in another process
