"""OpenAI-compatible HTTP server over one :class:`~node0_ops.serve.engine.LlamaEngine` (Starlette + uvicorn).

Routes::

    POST /v1/chat/completions   OpenAI chat completion; "stream": true answers SSE chunks
                                ("chat.completion.chunk", then "data: [DONE]")
    GET  /v1/models             the model and every adapter stack ("polecat-v3+task-code-review")
    GET  /health                {"status": "ok", model, adapters, active_stack, queued, n_ctx, llama_settings} (no auth)

Non-streaming answers turn the model's Hermes ``<tool_call>`` blocks (the training format) into
OpenAI ``message.tool_calls`` (``finish_reason: "tool_calls"``); streaming sends the raw text.
``model`` may name a stack ``MODEL+ADAPTER[:SCALE]+...`` (:mod:`.models`); without ``model`` the
``--adapters`` default stack runs. Requests go through one FIFO worker thread (the engine's lock
makes adapter switch + generation atomic). A request that names ``"gastown_role": "polecat"``
(extension) gets the role's compact RAG context (:mod:`.prime`) as its system message, when the
server was given a town.

Errors follow OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``:
401 missing/wrong ``Authorization: Bearer`` (with ``--api-key``), 400 malformed JSON / bad field /
prompt over the context / invalid JSON schema, 404 unknown model, adapter or route, 405 wrong
method, 503 queue full. A bad request never stops the server.

Usage::

    srv = InferenceServer(engine, ServeConfig(port=0)).start()   # background thread
    srv.url  ->  "http://127.0.0.1:PORT";  srv.stop()
    InferenceServer(engine, cfg).serve_forever()                 # CLI: until SIGINT/SIGTERM
"""

import asyncio
import contextlib
import hmac
import json
import logging
import queue
import socket
import threading
import time
import uuid

from node0_ops.serve.engine import GenResult, LlamaEngine, RequestError, parse_chat_request
from node0_ops.serve.prompting import hermes_calls, openai_tool_calls
from node0_ops.serve.serve_config import ServeConfig

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 8 << 20  # larger request bodies get 413
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
          405: "invalid_request_error", 500: "server_error", 503: "server_error"}


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    """OpenAI error JSON."""
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "param": param,
                      "code": code}}


class _Job:
    def __init__(self, prep, loop: asyncio.AbstractEventLoop, stream: bool):
        self.prep, self.loop, self.stream = prep, loop, stream
        self.events: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()

    def emit(self, kind: str, value) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # event loop closed (server shutting down)
            self.cancelled.set()


class Scheduler:
    """One worker thread runs queued generations in arrival order (FIFO)."""

    def __init__(self, engine: LlamaEngine, max_queue: int = 64):
        self.engine, self.max_queue = engine, max_queue
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="node0-generate", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._q.qsize()

    def submit(self, job: _Job) -> None:
        """Queue ``job``. Raises RequestError (503) when ``max_queue`` requests already wait."""
        if self._q.qsize() >= self.max_queue:
            raise RequestError(f"{self._q.qsize()} requests are queued; retry later", 503, "queue_full")
        self._q.put(job)

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            if job.cancelled.is_set():
                continue
            try:
                res = self.engine.generate(job.prep, on_text=(lambda t, j=job: j.emit("text", t)) if job.stream else None,
                                           cancelled=job.cancelled)
                job.emit("done", res)
            except Exception as exc:  # reported to that request only; the worker keeps serving
                log.exception("generation failed")
                job.emit("error", exc)

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)


def _completion(res: GenResult, model_id: str, cid: str, created: int) -> dict:
    calls, rest = hermes_calls(res.text)
    tool_calls = openai_tool_calls(calls)
    message: dict = {"role": "assistant", "content": res.text}
    finish = res.finish_reason
    if tool_calls:
        message = {"role": "assistant", "content": rest or None, "tool_calls": tool_calls}
        finish = "tool_calls"
    return {"id": cid, "object": "chat.completion", "created": created, "model": model_id,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": res.usage, "system_fingerprint": model_id}


def _chunk(cid: str, created: int, model_id: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_id,
            "system_fingerprint": model_id, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                                         "logprobs": None}]}


def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def make_app(engine: LlamaEngine, config: ServeConfig, *, context_for=None):
    """The Starlette ASGI app.

    Args:
        engine: the loaded model.  config: auth and queue settings.
        context_for: optional ``(role, query) -> str`` giving the compact role context for requests
            with ``"gastown_role"`` (see :func:`node0_ops.serve.prime.compact_context`).
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    spec = engine.spec
    scheduler = Scheduler(engine, config.max_queue)
    settings = getattr(engine, "settings", None)  # LlamaSettings the model was loaded with
    llama_settings = settings.to_dict() if settings is not None else None
    started = int(time.time())

    def err(status: int, message: str, code: str | None = None, param: str | None = None) -> JSONResponse:
        return JSONResponse(error_body(status, message, code, param), status_code=status)

    def unauthorized(request) -> JSONResponse | None:
        if not config.api_key:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.api_key.encode()):
            return err(401, "missing or invalid API key: send 'Authorization: Bearer <key>'", "invalid_api_key")
        return None

    async def health(request):
        return JSONResponse({"status": "ok", "model": spec.name, "ref": spec.ref,
                             "adapters": [a.name for a in spec.adapters],
                             "active_stack": spec.stack_id(engine.active_stack or ()),
                             "default_stack": spec.stack_id(spec.default_stack), "queued": scheduler.queued,
                             "n_ctx": config.n_ctx, "llama_settings": llama_settings})

    async def models(request):
        if (denied := unauthorized(request)) is not None:
            return denied
        data = [{"id": sid, "object": "model", "created": started, "owned_by": "node0", "root": spec.name,
                 "adapters": sid.split("+")[1:], "llama_settings": llama_settings} for sid in spec.listed_stacks()]
        return JSONResponse({"object": "list", "data": data})

    def with_context(params, body) -> None:
        role = body.get("gastown_role")
        if role is None:
            return
        if context_for is None:
            raise RequestError("this server has no town context; start it with --town to use gastown_role",
                               param="gastown_role")
        query = next((m.get("content") for m in reversed(params.messages) if m.get("role") == "user"
                      and isinstance(m.get("content"), str)), "")
        try:
            ctx = context_for(str(role), query)
        except ValueError as exc:
            raise RequestError(str(exc), param="gastown_role") from exc
        msgs = list(params.messages)
        if msgs and msgs[0].get("role") == "system":
            msgs[0] = {**msgs[0], "content": ctx + "\n\n" + str(msgs[0].get("content") or "")}
        else:
            msgs.insert(0, {"role": "system", "content": ctx})
        params.messages = msgs

    async def chat(request):
        if (denied := unauthorized(request)) is not None:
            return denied
        raw = await request.body()
        try:
            body = json.loads(raw or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return err(400, f"request body is not valid JSON: {exc}", "invalid_json")
        try:
            params = parse_chat_request(body, spec)
            if "gastown_role" in body:
                await run_in_threadpool(with_context, params, body)
            prep = await run_in_threadpool(engine.prepare, params)
            job = _Job(prep, asyncio.get_running_loop(), params.stream)
            scheduler.submit(job)
        except RequestError as exc:
            return err(exc.status, str(exc), exc.code, exc.param)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not params.stream:
            try:
                while True:
                    kind, value = await job.events.get()
                    if kind == "done":
                        return JSONResponse(_completion(value, params.model_id, cid, created))
                    if kind == "error":
                        return err(500, f"generation failed: {value}", "generation_failed")
            finally:
                job.cancelled.set()  # no-op when done; stops decoding when the client went away

        async def events():
            try:
                yield _sse(_chunk(cid, created, params.model_id, {"role": "assistant", "content": ""}))
                while True:
                    kind, value = await job.events.get()
                    if kind == "text":
                        yield _sse(_chunk(cid, created, params.model_id, {"content": value}))
                    elif kind == "done":
                        yield _sse(_chunk(cid, created, params.model_id, {}, value.finish_reason))
                        if params.include_usage:
                            usage = {**_chunk(cid, created, params.model_id, {}), "choices": [], "usage": value.usage}
                            yield _sse(usage)
                        break
                    else:
                        yield _sse(error_body(500, f"generation failed: {value}", "generation_failed"))
                        break
                yield b"data: [DONE]\n\n"
            finally:
                job.cancelled.set()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def http_error(request, exc: HTTPException):
        msg = {404: f"no route {request.url.path}; routes: POST /v1/chat/completions, GET /v1/models, GET /health",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return err(exc.status_code, msg, {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code))

    async def server_error(request, exc: Exception):
        log.exception("unhandled error")
        return err(500, f"internal error: {exc}", "internal_error")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(scheduler.stop)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                            Route("/v1/models", models, methods=["GET"]),
                            Route("/health", health, methods=["GET"])],
                    exception_handlers={HTTPException: http_error, Exception: server_error},
                    lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.scheduler = scheduler
    return app


class InferenceServer:
    """uvicorn running :func:`make_app` on ``config.host:config.port`` (port 0 = a free port).

    Raises:
        OSError: the address cannot be bound.
    """

    def __init__(self, engine: LlamaEngine, config: ServeConfig, *, context_for=None, log_level: str = "warning"):
        import uvicorn

        self.engine, self.config = engine, config
        if not config.loopback and not config.api_key:
            log.warning("serving on %s without --api-key: anyone who can reach this address can use the model",
                        config.host)
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((config.host, config.port))
        self.host, self.port = config.host, self._sock.getsockname()[1]
        self.app = make_app(engine, config, context_for=context_for)
        self._uv = uvicorn.Server(uvicorn.Config(self.app, log_level=log_level, access_log=False, lifespan="on",
                                                 timeout_graceful_shutdown=5))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> "InferenceServer":
        """Serve from a daemon thread; returns once ``/health`` can be reached.

        Raises:
            TimeoutError: not up within ``timeout_s``.
        """
        self._thread = threading.Thread(target=self._uv.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="node0-uvicorn")
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._uv.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TimeoutError(f"inference server did not start on {self.url} within {timeout_s:.0f} s")
            time.sleep(0.05)
        return self

    def serve_forever(self) -> int | None:
        """Serve in the main thread until SIGINT/SIGTERM, shut down gracefully (queued requests finish).

        Returns the signal number that stopped the server (None when it stopped otherwise). uvicorn
        re-raises a captured signal after its shutdown; the handlers installed here absorb it so the
        process can exit with status 0.
        """
        import signal

        stopped: list[int] = []
        previous = {sig: signal.signal(sig, lambda s, f: stopped.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._uv.run(sockets=[self._sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._sock.close()
        return stopped[0] if stopped else None

    def stop(self) -> None:
        """Stop serving and join the thread (the engine stays loaded; close it yourself)."""
        self._uv.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._sock.close()
