"""Test harness: swarm peers as separate OS processes on 127.0.0.1, with guaranteed cleanup.

Each peer is ``python -m node0_ops.swarm.cli swarm ...`` started in its own session (process
group), so a peer, its forked hivemind children and its ``p2pd`` can be killed together with
``os.killpg`` (that is also how a peer "dies" in the SIGKILL test). Unix sockets go under a short
private folder in /tmp (``--socket-dir``); p2pd command lines contain that folder, which lets the
leak check find exactly our daemons even when other jobs run hivemind on the same machine.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# a fast, loopback swarm: ~3-5 s per round on 2 busy cores
FAST = ["--target-batch-size", "24", "--batch-size-per-step", "2", "--matchmaking-time", "1",
        "--averaging-timeout", "8", "--step-delay", "0.2", "--tiny", "--log-values", "--verbose"]


def pgrep(pattern: str) -> set[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return {int(x) for x in out.stdout.split()} - {os.getpid()}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextmanager
def hard_timeout(seconds: float, what: str):
    """Raise TimeoutError in the main thread after ``seconds`` (SIGALRM), so finally-blocks still run."""
    def fire(signum, frame):
        raise TimeoutError(f"{what} exceeded its hard timeout of {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Swarm:
    """Peer processes of one test; always use as a context manager (cleanup in ``__exit__``)."""

    def __init__(self, keep: Path | None = None) -> None:
        self.keep = keep  # copy logs here before deleting the run folder (debugging failures)
        self.root = Path(tempfile.mkdtemp(prefix="gtsw-", dir="/tmp"))  # short: unix socket paths <= 107 chars
        self.sockets = self.root / "s"
        self.sockets.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.p2pd_before = pgrep("p2pd")
        self.leftovers: list[str] = []

    def __enter__(self) -> "Swarm":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ------------------------------------------------------------ processes
    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(REPO), GASTOWN_FT_HOME=str(self.root / "state"),
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "node0_ops.swarm.cli", "swarm", *args, "--socket-dir", str(self.sockets)]
        with open(self.root / f"{name}.out", "w") as out, open(self.root / f"{name}.err", "w") as err:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the peer's whole process group (python, hivemind children, p2pd)."""
        try:
            os.killpg(self.procs[name].pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, names: list[str], timeout: float = 40.0) -> dict[str, int | None]:
        """SIGTERM each peer (graceful shutdown), wait; return exit codes (None: still running)."""
        for name in names:
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        codes = {}
        for name in names:
            try:
                codes[name] = self.procs[name].wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                codes[name] = None
        return codes

    def cleanup(self) -> None:
        """Kill every process group we started, reap them, record leftovers, delete sockets and files."""
        for name, proc in self.procs.items():
            if proc.poll() is None:
                self.kill(name, signal.SIGTERM)
        deadline = time.time() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for name, proc in self.procs.items():
            self.kill(name, signal.SIGKILL)  # children of a peer that already exited may still live
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        ours = pgrep(str(self.root))
        new_p2pd = {pid for pid in pgrep("p2pd") - self.p2pd_before if str(self.root) in cmdline(pid)}
        self.leftovers = [f"{pid}: {cmdline(pid)[:160]}" for pid in sorted(ours | new_p2pd)]
        for pid in ours | new_p2pd:  # never leave them running, even when the test is going to fail
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # a peer that stopped cleanly (rc 0) must have removed its private socket folder gtsw<pid>-*;
        # sockets of SIGKILLed peers cannot be cleaned by them and are removed here
        clean_pids = {proc.pid for proc in self.procs.values() if proc.returncode == 0}
        self.sockets_left = sorted(str(p) for p in self.sockets.rglob("hivemind-*.sock")
                                   if any(p.parent.name.startswith(f"gtsw{pid}-") for pid in clean_pids))
        self.sockets_removed = sorted(str(p) for p in self.sockets.rglob("hivemind-*.sock"))
        for sock in self.sockets.rglob("hivemind-*"):
            sock.unlink(missing_ok=True)
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            for f in self.root.glob("*.*"):
                if f.suffix in (".jsonl", ".out", ".err"):
                    shutil.copy(f, self.keep / f.name)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------ observation
    def log(self, name: str) -> list[dict]:
        """Complete JSON lines of a peer's progress log."""
        path = self.root / f"{name}.jsonl"
        if not path.exists():
            return []
        lines = path.read_text().split("\n")[:-1]  # the last element is a partial line or ""
        return [json.loads(line) for line in lines if line]

    def epoch(self, name: str) -> int:
        recs = [r for r in self.log(name) if r["event"] != "init"]
        return recs[-1]["epoch"] if recs else -1

    def text(self, name: str, stream: str = "err") -> str:
        path = self.root / f"{name}.{stream}"
        return path.read_text(errors="replace") if path.exists() else ""

    def describe(self) -> str:
        parts = []
        for name, proc in self.procs.items():
            parts.append(f"--- {name} rc={proc.poll()} epoch={self.epoch(name)}\n"
                         f"stdout: {self.text(name, 'out')[-1500:]}\nstderr: {self.text(name)[-2500:]}")
        return "\n".join(parts)

    def wait_for(self, predicate, timeout: float, what: str, alive: list[str] = ()) -> None:
        """Poll ``predicate()`` every 0.5 s; fail early when a peer in ``alive`` exited."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            dead = [n for n in alive if self.procs[n].poll() is not None]
            if dead:
                raise AssertionError(f"peer(s) {dead} exited while waiting for {what}\n{self.describe()}")
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.describe()}")

    def join_info(self, run_dir: Path, timeout: float = 120.0, alive: list[str] = ()) -> dict:
        self.wait_for(lambda: (run_dir / "join.json").exists(), timeout, f"{run_dir}/join.json", alive)
        return json.loads((run_dir / "join.json").read_text())
