"""Run a candidate Python solution against unit tests in a sandboxed subprocess.

The sandbox is a fresh temporary directory holding ``solution.py`` and
``test_solution.py``; a small runner executes the tests with ``python -I -S`` (isolated
mode: no user site, no env vars, no implicit path entries), a scrubbed environment,
``resource.setrlimit`` caps on CPU seconds, address space, written file size and open
files, a wall-clock timeout (the whole process group is killed), and a best-effort
network block (``socket.socket.connect``/``getaddrinfo`` raise). The tests may be
``unittest.TestCase`` classes or bare ``test_*`` functions using ``assert``.

Not a security boundary against hostile code (no namespaces/seccomp): it bounds runaway
loops, memory blow-ups and accidental network use by small-model output.

Usage::

    from node0_ops.evals.sandbox import run_python_tests
    r = run_python_tests("def add(a, b):\\n    return a + b\\n",
                         "from solution import add\\ndef test_add():\\n    assert add(2, 3) == 5\\n")
    r.passed, r.n_tests, r.n_failed   # True, 1, 0
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_RUNNER = r'''
import json, socket, sys, traceback, unittest, types
sys.path.insert(0, sys.argv[1])
def _blocked(*a, **k):
    raise OSError("network access is disabled in the eval sandbox")
socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.getaddrinfo = _blocked
result = {"n_tests": 0, "n_failed": 0, "errors": []}
try:
    mod = __import__("test_solution")
except BaseException as exc:
    result["errors"].append("import failed: " + "".join(traceback.format_exception_only(type(exc), exc)).strip())
    result["n_failed"] = 1
else:
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(mod)
    for name in sorted(dir(mod)):
        fn = getattr(mod, name)
        if name.startswith("test") and isinstance(fn, types.FunctionType):
            suite.addTest(unittest.FunctionTestCase(fn, description=name))
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=1)
    res = runner.run(suite)
    result["n_tests"] = res.testsRun
    result["n_failed"] = len(res.failures) + len(res.errors)
    for case, tb in res.failures + res.errors:
        result["errors"].append(str(case) + ": " + tb.strip().splitlines()[-1])
print("__SANDBOX_RESULT__" + json.dumps(result))
'''


@dataclass
class SandboxResult:
    """Outcome of one sandboxed test run.

    Attributes:
        passed: all tests ran and none failed (and at least one test ran).
        returncode: runner exit code (negative: killed by that signal).
        n_tests / n_failed: counts from the test runner (n_failed includes errors).
        errors: one line per failing test, or why nothing ran.
        stdout / stderr: captured output, truncated to ``max_output`` chars each.
        timed_out: killed by the wall-clock timeout.  duration_s: wall time in seconds.
    """

    passed: bool
    returncode: int
    n_tests: int
    n_failed: int
    errors: list[str]
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _limits(cpu_seconds: int, memory_mb: int, max_file_mb: int):
    def apply() -> None:
        import resource

        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = max_file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_python_tests(solution: str, tests: str, *, cpu_seconds: int = 10, memory_mb: int = 512,
                     wall_timeout_s: float = 30.0, max_file_mb: int = 16, max_output: int = 4000,
                     extra_files: dict[str, str] | None = None) -> SandboxResult:
    """Run ``tests`` against ``solution`` in a throw-away directory.

    Args:
        solution: Python source written to ``solution.py``.
        tests: Python source written to ``test_solution.py`` (``from solution import ...``).
        cpu_seconds: RLIMIT_CPU (SIGXCPU/SIGKILL after that much CPU time).
        memory_mb: RLIMIT_AS address-space cap in MiB.
        wall_timeout_s: wall-clock limit in seconds; the process group is killed after it.
        max_file_mb: RLIMIT_FSIZE cap for files the code writes, in MiB.
        max_output: stdout/stderr characters kept in the result.
        extra_files: more files (name -> text) to place next to the solution.

    Returns:
        A :class:`SandboxResult`; never raises for failures of the candidate code.

    Raises:
        ValueError: when a file name in ``extra_files`` escapes the sandbox directory.
    """
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="node0-eval-") as tmp:
        root = Path(tmp)
        (root / "solution.py").write_text(solution)
        (root / "test_solution.py").write_text(tests)
        for name, text in (extra_files or {}).items():
            path = (root / name).resolve()
            if root.resolve() not in path.parents:
                raise ValueError(f"extra file {name!r} would be written outside the sandbox")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (root / "_runner.py").write_text(_RUNNER)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(root / "_runner.py"), tmp],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_limits(cpu_seconds, memory_mb, max_file_mb),
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=wall_timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
    duration = time.monotonic() - start
    marker = "__SANDBOX_RESULT__"
    report = {"n_tests": 0, "n_failed": 0, "errors": []}
    visible = out
    if marker in out:
        visible, _, tail = out.rpartition(marker)
        try:
            report = json.loads(tail.strip().splitlines()[0])
        except (ValueError, IndexError):
            report["errors"].append("could not read the runner's result line")
    elif timed_out:
        report["errors"].append(f"wall-clock timeout after {wall_timeout_s:.0f} s")
    elif proc.returncode and proc.returncode < 0:
        report["errors"].append(f"killed by signal {-proc.returncode} (CPU or memory limit?)")
    else:
        last = (err.strip().splitlines() or ["no output"])[-1]
        report["errors"].append(f"runner exited with code {proc.returncode}: {last}")
    passed = (not timed_out and proc.returncode == 0 and report["n_tests"] > 0 and report["n_failed"] == 0)
    if report["n_tests"] == 0 and not report["errors"]:
        report["errors"].append("no tests ran")
    return SandboxResult(passed, proc.returncode, report["n_tests"], report["n_failed"], report["errors"],
                         visible[-max_output:], err[-max_output:], timed_out, round(duration, 3))
