"""Run ``@pytest.mark.native`` tests (they load llama.cpp) in a child pytest, so a native crash
(SIGSEGV on the first decode, an abort in ggml) is reported as a failed test naming the signal
instead of taking the whole session down with no summary.

How: the parent's ``pytest_runtest_protocol`` takes over marked items. The first marked item of a
module starts ``python -m pytest <nodeids of the module's marked items>`` (one child per module, so
module-scoped fixtures such as an export are built once) with ``GTFT_NATIVE_CHILD=1``; the child
runs them normally and writes every report (``pytest_report_to_serializable``) plus start/finish
lines to a JSON-lines file. The parent replays those reports. When the child dies from a signal,
the test that was running gets a failed report for the phase it was in ("native crash: SIGSEGV
..." with the child's output tail) and the module's remaining marked tests run in a fresh child.

Tests run without this plugin when ``GTFT_NATIVE_CHILD`` is set (the child itself) or with
``GTFT_NATIVE_INPROCESS=1`` (debugging in one process).

Hooks are imported into ``tests/conftest.py``.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHILD_ENV = "GTFT_NATIVE_CHILD"
REPORTS_ENV = "GTFT_NATIVE_REPORTS"
INPROCESS_ENV = "GTFT_NATIVE_INPROCESS"
TAIL_CHARS = 4000
_STATE: dict = {"config": None, "done": {}}


def _in_child() -> bool:
    return bool(os.environ.get(CHILD_ENV))


def _write(line: dict) -> None:
    path = os.environ.get(REPORTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # survives the crash that follows


def pytest_configure(config):
    _STATE["config"] = config


# ----------------------------------------------------------------------------- child side

def pytest_runtest_logstart(nodeid, location):
    if _in_child():
        _write({"kind": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    if _in_child() and _STATE["config"] is not None:
        data = _STATE["config"].hook.pytest_report_to_serializable(config=_STATE["config"], report=report)
        _write({"kind": "report", "nodeid": report.nodeid, "data": data})


def pytest_runtest_logfinish(nodeid, location):
    if _in_child():
        _write({"kind": "finish", "nodeid": nodeid})


# ----------------------------------------------------------------------------- parent side

def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _crash_report(item, when: str, text: str):
    from _pytest.reports import TestReport

    now = time.time()
    return TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords}, "failed", text, when,
                      sections=[], duration=0.0, start=now, stop=now)


def _run_child(config, items) -> tuple[int, list[dict], str]:
    """Run ``items`` in one child pytest; returns ``(returncode, lines, output_tail)``."""
    with tempfile.TemporaryDirectory(prefix="gtft-native-") as tmp:
        reports = Path(tmp) / "reports.jsonl"
        out = Path(tmp) / "out.txt"
        env = dict(os.environ, **{CHILD_ENV: "1", REPORTS_ENV: str(reports)})
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(config.rootpath)]
        if config.inipath:
            cmd += ["-c", str(config.inipath)]
        if config.getoption("capture") == "no":
            cmd.append("-s")
        cmd += [it.nodeid for it in items]
        with open(out, "wb") as fh:
            rc = subprocess.run(cmd, cwd=str(config.rootpath), env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
        lines = [json.loads(x) for x in reports.read_text().splitlines() if x.strip()] if reports.exists() else []
        tail = out.read_text(errors="replace")[-TAIL_CHARS:]
        if config.getoption("capture") == "no":
            sys.stdout.write(out.read_text(errors="replace"))
    return rc, lines, tail


def _run_group(config, items) -> dict[str, list]:
    """Reports per nodeid for ``items``, rerunning the rest after a crash."""
    results: dict[str, list] = {}
    pending = list(items)
    while pending:
        rc, lines, tail = _run_child(config, pending)
        started, finished = [], set()
        for line in lines:
            nid = line["nodeid"]
            if line["kind"] == "start":
                started.append(nid)
            elif line["kind"] == "finish":
                finished.add(nid)
            else:
                rep = config.hook.pytest_report_from_serializable(config=config, data=line["data"])
                results.setdefault(nid, []).append(rep)
        by_id = {it.nodeid: it for it in pending}
        crashed = next((n for n in reversed(started) if n not in finished), None)
        if rc < 0 and crashed in by_id:
            item = by_id[crashed]
            phases = [r.when for r in results.get(crashed, [])]
            when = "setup" if not phases else "call" if phases[-1] == "setup" else "teardown"
            text = (f"native crash: the child pytest running {crashed} died with {_signal_name(rc)} "
                    f"(signal {-rc}) during {when}.\nIf this is llama.cpp on an AMX CPU, try "
                    f"GTFT_LLAMA_EXTRA_BUFTS=0.\n--- child output (tail) ---\n{tail}")
            results.setdefault(crashed, []).append(_crash_report(item, when, text))
        for it in pending:
            if it.nodeid not in results and it.nodeid not in started and (rc >= 0 or crashed is None):
                why = _signal_name(rc) if rc < 0 else f"exit status {rc}"
                results[it.nodeid] = [_crash_report(it, "setup", f"the child pytest ended ({why}) without running "
                                                                 f"this test\n--- child output (tail) ---\n{tail}")]
        remaining = [it for it in pending if it.nodeid not in results]
        if len(remaining) == len(pending):  # no progress: do not loop forever
            for it in remaining:
                results[it.nodeid] = [_crash_report(it, "setup", f"the child pytest made no progress\n{tail}")]
            remaining = []
        pending = remaining
    return results


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if _in_child() or os.environ.get(INPROCESS_ENV) or item.get_closest_marker("native") is None:
        return None
    done = _STATE["done"]
    if item.nodeid not in done:
        module = item.nodeid.split("::")[0]
        group = [it for it in item.session.items if it.nodeid.split("::")[0] == module
                 and it.get_closest_marker("native") is not None and it.nodeid not in done]
        done.update(_run_group(item.config, group))
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for rep in done.pop(item.nodeid, []):
        ihook.pytest_runtest_logreport(report=rep)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    # this item never set anything up here; tear down what the previous item left for it
    item.session._setupstate.teardown_exact(nextitem)
    return True
