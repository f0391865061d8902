"""The eval backend in a child process: a native crash (llama.cpp, torch) is a clear error, not a dead job.

:class:`IsolatedBackend` is a generation callable ``(messages, json_schema|None) -> str`` like the
in-process backends (:mod:`.backends`), so :func:`~node0_ops.evals.runner.run_suite` runs it
unchanged. It starts ``python -m node0_ops.evals.isolated SPEC.json`` in its own session (as the
trainer's ``subprocess`` mode does), which loads the model once and answers one JSON line per
request; llama.cpp's and transformers' own output goes to a log file, never into the protocol.

When the child dies, the next call raises :class:`BackendCrash` (killed by a signal such as
SIGSEGV: the message names the model file, the backend settings including ``use_extra_bufts``,
the signal and the fix-it hint ``GTFT_LLAMA_EXTRA_BUFTS=0``) or :class:`BackendDied` (it exited).
The runner lets these through (every later case would fail the same way); ordinary generation
errors still become failed cases.

Usage::

    from node0_ops.evals.isolated import BackendSpec, IsolatedBackend
    with IsolatedBackend(BackendSpec("gguf", "model.Q4_1.gguf", max_new_tokens=96)) as gen:
        report = run_suite(gen, tasks, constrained=False)
    report.meta = gen.meta   # {"backend", "model_file", "adapters", "llama_settings", "isolation"}

Protocol (one JSON object per line): parent -> child ``{"messages": [...], "schema": S|null}``;
child -> parent ``{"event": "ready", "meta": {...}}`` once, then ``{"text": "..."}`` or
``{"error": "Type: message"}`` per request. EOF on stdin ends the child.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_CMD = [sys.executable, "-m", "node0_ops.evals.isolated"]  # + SPEC.json
LOG_TAIL_CHARS = 3000


class BackendDied(RuntimeError):
    """The eval backend's child process ended while the eval still needed it.

    Attributes:
        model_file: the model being evaluated.  backend: ``gguf`` | ``hf``.
        settings: backend settings (``llama_settings`` for gguf: ``use_extra_bufts``, reason, cpu).
        returncode: the child's exit status (negative: killed by that signal).
        log_path: the child's stderr log.  log_tail: its last characters.  hint: what to try.
    """

    def __init__(self, message: str, *, model_file: str, backend: str, settings: dict, returncode: int | None,
                 log_path: str, log_tail: str, hint: str):
        super().__init__(message)
        self.model_file, self.backend, self.settings = model_file, backend, settings
        self.returncode, self.log_path, self.log_tail, self.hint = returncode, log_path, log_tail, hint

    def metadata(self) -> dict:
        """Flat JSON-ready fields for a ``dg.Failure`` or a report."""
        return {"model_file": self.model_file, "backend": self.backend, "returncode": self.returncode,
                "signal": getattr(self, "signal_name", None), "settings": self.settings, "hint": self.hint,
                "log_path": self.log_path, "log_tail": self.log_tail}


class BackendCrash(BackendDied):
    """The child was killed by a signal (SIGSEGV, SIGABRT, SIGKILL ...): ``signal_name`` says which."""

    def __init__(self, message: str, *, signal_name: str, **kw):
        super().__init__(message, **kw)
        self.signal_name = signal_name


@dataclass
class BackendSpec:
    """What the child loads.

    Attributes:
        kind: ``gguf`` (llama-cpp-python, :class:`~.backends.LlamaCppBackend`) or ``hf``
            (transformers, :class:`~.backends.TransformersBackend`).
        model_path: GGUF file (gguf) or HF folder / ``.gguf`` (hf).
        adapters: GGUF LoRA files (gguf) or PEFT folders (hf), applied in order.
        n_ctx: context window in tokens (gguf).  max_new_tokens: answer budget (tokens).
        structured_max_new_tokens: budget with a JSON schema (gguf; None = backend default).
        n_threads: llama.cpp threads (None = backend default 1).
        llama_settings: :meth:`LlamaSettings.to_dict` the child must load with; filled from this
            machine (:func:`~node0_ops.models.llama_open.llama_settings`) when None and kind is gguf.
    """

    kind: str
    model_path: str
    adapters: list[str] = field(default_factory=list)
    n_ctx: int = 4096
    max_new_tokens: int = 256
    structured_max_new_tokens: int | None = None
    n_threads: int | None = None
    llama_settings: dict | None = None

    def __post_init__(self):
        if self.kind not in ("gguf", "hf"):
            raise ValueError(f"BackendSpec.kind={self.kind!r}: use 'gguf' (llama.cpp) or 'hf' (transformers)")
        self.model_path = str(self.model_path)
        self.adapters = [str(a) for a in self.adapters or []]


def build_backend(spec: BackendSpec):
    """The in-process generation callable for ``spec`` (what the child runs)."""
    from node0_ops.evals.backends import LlamaCppBackend, TransformersBackend

    if spec.kind == "gguf":
        from node0_ops.models.llama_open import LlamaSettings

        settings = LlamaSettings(**spec.llama_settings) if spec.llama_settings else None
        return LlamaCppBackend(spec.model_path, lora_paths=spec.adapters or None, n_ctx=spec.n_ctx,
                               max_new_tokens=spec.max_new_tokens, n_threads=spec.n_threads, settings=settings,
                               structured_max_new_tokens=spec.structured_max_new_tokens)
    return TransformersBackend(spec.model_path, max_new_tokens=spec.max_new_tokens, adapters=spec.adapters or None)


def crash_hint(spec: BackendSpec) -> str:
    """The fix-it line for a crashed child, from what it was loaded with."""
    from node0_ops.models.llama_open import ENV_VAR, FIX_HINT

    if spec.kind != "gguf":
        return "the transformers backend crashed in native code (torch); rerun with --backend gguf to compare"
    if (spec.llama_settings or {}).get("use_extra_bufts", True):
        return FIX_HINT
    return (f"extra buffer types were already off ({ENV_VAR}=0 has no further effect); try the transformers "
            "backend (node0-eval --backend hf) or an f16 GGUF, and report the crash with the log")


class IsolatedBackend:
    """A backend living in a child process (see the module docstring).

    Args:
        spec: :class:`BackendSpec`.  worker_cmd: the child's command without the spec path
            (default :data:`WORKER_CMD`).  env: extra environment for the child.

    Raises:
        FileNotFoundError: the model or an adapter is missing (checked before starting).
        BackendCrash / BackendDied: the child died while loading the model.
        ValueError: bad ``GTFT_LLAMA_EXTRA_BUFTS``.
    """

    def __init__(self, spec: BackendSpec, *, worker_cmd: list[str] | None = None, env: dict | None = None):
        for p in [spec.model_path, *spec.adapters]:
            if not Path(p).exists():
                raise FileNotFoundError(f"eval backend: model/adapter file not found: {p}")
        if spec.kind == "gguf" and spec.llama_settings is None:
            from node0_ops.models.llama_open import llama_settings

            spec.llama_settings = llama_settings().to_dict()
        self.spec = spec
        self.last_hit_max_tokens: bool | None = None
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="gtft-eval-child-"))
        (self._dir / "spec.json").write_text(json.dumps(asdict(spec)))
        self.log_path = self._dir / "child.log"
        child_env = dict(os.environ, **(env or {}))
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH")) if p)
        child_env.setdefault("PYTHONFAULTHANDLER", "1")  # Python traceback of a native crash into the log
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*(worker_cmd or WORKER_CMD), str(self._dir / "spec.json")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env=child_env, start_new_session=True,
                                     text=True, bufsize=1)
        try:
            ready = self._read()
        except BackendDied:
            self.close()
            raise
        if ready.get("event") != "ready":
            self.close()
            raise self._died(f"the eval backend did not start: {ready.get('error', ready)}")
        self.meta = {"backend": spec.kind, "model_file": spec.model_path, "adapters": spec.adapters,
                     "llama_settings": spec.llama_settings, "isolation": "subprocess", **ready.get("meta", {})}

    # ------------------------------------------------------------------ protocol

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise self._died("the eval backend's child process ended")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return {"error": f"unreadable reply from the eval child: {line[:200]!r}"}

    def _tail(self) -> str:
        try:
            self._log.flush()
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def _died(self, what: str) -> BackendDied:
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()
            rc = self.proc.returncode
        spec = self.spec
        settings = {"llama_settings": spec.llama_settings} if spec.kind == "gguf" else {}
        kw = dict(model_file=spec.model_path, backend=spec.kind, settings=settings, returncode=rc,
                  log_path=str(self.log_path), log_tail=self._tail(), hint=crash_hint(spec))
        where = f"{spec.kind} backend on {spec.model_path}"
        shown = (f"use_extra_bufts={spec.llama_settings.get('use_extra_bufts')} ({spec.llama_settings.get('reason')})"
                 if spec.kind == "gguf" and spec.llama_settings else f"adapters={spec.adapters}")
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return BackendCrash(f"{what}: the {where} crashed with {name} (signal {-rc}); backend settings: {shown}; "
                                f"fix: {kw['hint']}; child log: {self.log_path}", signal_name=name, **kw)
        return BackendDied(f"{what} (exit status {rc}) on the {where}; backend settings: {shown}; "
                           f"child log: {self.log_path}\n{kw['log_tail'][-800:]}", **kw)

    def __call__(self, messages: list[dict], schema: dict | None = None) -> str:
        with self._lock:
            if self.proc.poll() is not None:
                raise self._died("the eval backend's child process is gone")
            try:
                self.proc.stdin.write(json.dumps({"messages": messages, "schema": schema}, ensure_ascii=False) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                raise self._died("the eval backend's child process stopped reading") from None
            reply = self._read()
        self.last_hit_max_tokens = reply.get("hit_max_tokens")  # forwarded for the eval runner
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply.get("text", "")

    # ------------------------------------------------------------------ lifetime

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def close(self) -> None:
        """End the child (EOF, then SIGKILL after 30 s) and remove its temp folder unless it crashed."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        for f in (self.proc.stdout, self.proc.stdin):
            try:
                f.close()
            except OSError:
                pass
        self._log.close()
        if self.proc.returncode == 0:
            import shutil

            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "IsolatedBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(spec_path: str) -> int:
    """Child side: load the backend, then answer requests from stdin until EOF."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # the protocol channel
    os.dup2(2, 1)  # anything else printed (llama.cpp, transformers) goes to the log
    sys.stdout = sys.stderr

    def send(obj) -> None:
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    try:
        spec = BackendSpec(**json.loads(Path(spec_path).read_text()))
        gen = build_backend(spec)
    except Exception as exc:
        send({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    settings = getattr(gen, "settings", None)
    send({"event": "ready", "meta": {"pid": os.getpid(),
                                     **({"llama_settings": settings.to_dict()} if settings is not None else {})}})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            text = gen(req["messages"], req.get("schema"))
            send({"text": text, "hit_max_tokens": getattr(gen, "last_hit_max_tokens", None)})
        except Exception as exc:  # a failed case, reported back; the child keeps serving
            send({"error": f"{type(exc).__name__}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
