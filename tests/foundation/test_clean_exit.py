"""Every CLI and the main job exit without nanobind's ``leaked instance/type/function`` report.

nanobind (DuckDB's binding) prints that wall at interpreter exit when a DuckDB object (here the
``DuckDBPyConnection`` type) is still referenced after finalization. Dagster's definition graph
outlives finalization once torch is imported, so any DuckDB class held in a resource's method
annotations (or typing's generic-alias cache) leaked; see ``node0_ops/lineage/db.py``.

The CLIs run as child processes (console scripts next to the test interpreter) on a copy of the
embedded town and a fresh state dir, so the check sees exactly what a user's terminal shows.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEAK = "leaked"  # nanobind: leaked N instances! / - leaked type "..." / leaked functions


def _env(state: Path) -> dict:
    env = {**os.environ, "GASTOWN_FT_HOME": str(state), "DAGSTER_HOME": str(state / "dagster_home"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    env.pop("GT_ROOT", None)
    return env


def _run(cmd: list[str], state: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=_env(state), capture_output=True, text=True, timeout=timeout)


def _assert_clean(res: subprocess.CompletedProcess, what: str) -> None:
    assert res.returncode == 0, f"{what} exited {res.returncode}:\n{res.stderr[-3000:]}"
    leaks = [line for line in res.stderr.splitlines() if LEAK in line]
    assert not leaks, f"{what} printed nanobind's leak report at exit:\n" + "\n".join(leaks[:12])


def test_lineage_resource_in_dagster_definitions_exits_clean(tmp_path):
    """The smallest reproduction: torch imported + a Definitions holding LineageResource."""
    code = ("import torch, dagster as dg\n"
            "from resources import LineageResource\n"
            "@dg.asset\n"
            "def a():\n    return 1\n"
            "dg.Definitions(assets=[a], resources={'lineage': LineageResource()})\n")
    _assert_clean(_run([sys.executable, "-c", code], tmp_path / "state"), "Definitions(LineageResource)")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(town, state, build result) after ``node0-corpus build`` on a copy of the embedded town."""
    from node0_ops.paths import EMBEDDED_TOWN

    base = tmp_path_factory.mktemp("clean_exit")
    town, state = base / "town", base / "state"
    shutil.copytree(EMBEDDED_TOWN, town)
    res = _run([str(BIN / "node0-corpus"), "build", "--town", str(town), "--state-dir", str(state)], state)
    return town, state, res


def test_corpus_build_exits_clean(built):
    _assert_clean(built[2], "node0-corpus build")


@pytest.mark.parametrize("cmd", [["node0-corpus", "stats"], ["gt-model", "list"], ["gt-model", "status"],
                                 ["node0-finetune", "runs"], ["node0-eval", "--help"],
                                 ["node0-inference", "prime", "--role", "polecat", "--report"]])
def test_cli_exits_clean(built, cmd):
    _, state, res = built
    assert res.returncode == 0, res.stderr[-2000:]
    _assert_clean(_run([str(BIN / cmd[0]), *cmd[1:]], state), " ".join(cmd))


def test_main_job_corpus_stage_exits_clean(built):
    town, state, res = built
    assert res.returncode == 0, res.stderr[-2000:]
    job = _run([sys.executable, "-m", "gastown_assets.main_job", "--skip-training", "--no-real-data",
                "--town", str(town)], state)
    _assert_clean(job, "python -m gastown_assets.main_job --skip-training")
