"""Child-process entry point: ``python -m node0_ops.train.worker <run_dir>/spec.json``.

Runs :func:`node0_ops.train.runner.execute` with SIGTERM/SIGINT turned into a graceful stop
(checkpoint, then status ``paused``, or ``cancelled`` when the run folder holds a ``CANCEL``
marker). Progress goes to stdout as one JSON object per line (``{"event": "step", ...}``, last
``{"event": "end", "result": {...}}``); logs go to stderr. If the parent process dies the worker
stops gracefully too, so no orphan keeps training.

Exit codes: 0 completed/paused/cancelled, 1 failed (message on stderr and in ``train_runs.error``).

Environment: ``GTFT_TRAIN_STEP_SLEEP_S`` sleeps that many seconds after each step (tests and demos
use it to interrupt a tiny run at a known step; it does not change any number).
"""

import json
import os
import sys
import threading
import time


def _watch_parent(stop, parent: int) -> None:
    while not stop.requested:
        if os.getppid() != parent:
            stop.request("parent exited")
            return
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m node0_ops.train.worker SPEC_JSON", file=sys.stderr)
        return 2
    from node0_ops.train import checkpoint as ckpt
    from node0_ops.train.runner import execute

    spec = json.loads(open(argv[0]).read())
    stop = ckpt.GracefulStop().install()
    threading.Thread(target=_watch_parent, args=(stop, os.getppid()), daemon=True).start()
    delay = float(os.environ.get("GTFT_TRAIN_STEP_SLEEP_S") or 0)

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    try:
        execute(spec, stop=stop, progress=emit, on_step=(lambda m: time.sleep(delay)) if delay else None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, exit code 1
        import traceback

        traceback.print_exc()
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
