"""The native-test runner: a marked test that segfaults is reported as failed (naming SIGSEGV), the
session still prints its summary, and the module's other marked tests still run."""

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from native_isolation import (pytest_configure, pytest_runtest_logfinish, pytest_runtest_logreport,
                              pytest_runtest_logstart, pytest_runtest_protocol)
"""
INI = "[pytest]\nmarkers =\n    native: loads native code\n"
CASES = """
import os, signal
import pytest

@pytest.fixture(scope="module")
def pid():
    return os.getpid()

@pytest.mark.native
def test_before_crash(pid):
    assert pid == os.getpid()

@pytest.mark.native
def test_segfaults():
    os.kill(os.getpid(), signal.SIGSEGV)

@pytest.mark.native
def test_after_crash():
    assert 1 + 1 == 2

@pytest.mark.native
def test_fails_normally():
    assert 1 == 2, "ordinary failure"

def test_in_parent():
    assert os.environ.get("GTFT_NATIVE_CHILD") is None
"""
IN_CHILD = """
import os
import pytest

@pytest.mark.native
def test_runs_in_a_child():
    assert os.environ.get("GTFT_NATIVE_CHILD") == "1"
"""


def _run(tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_child.py").write_text(IN_CHILD)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("GTFT_NATIVE")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_segfaulting_native_test_is_a_failed_test_not_a_dead_session(tmp_path):
    res = _run(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out  # tests failed; not -11 (the session survived)
    assert "2 failed, 4 passed" in out, out  # summary line printed
    assert "FAILED test_cases.py::test_segfaults" in out and "SIGSEGV" in out
    assert "FAILED test_cases.py::test_fails_normally" in out and "ordinary failure" in out
    assert "test_after_crash" not in out.split("short test summary")[-1]
