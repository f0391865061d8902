"""Read-only HTTP API over the model registry (JSON).

Routes (GET only; anything else answers 405)::

    GET /models                    list (query: ?role=polecat&status=active)
    GET /models/{name}             one model, resolved (gguf_path, hf_path, adapters, chat_template)
    GET /models/{name}/lineage     model + train run + corpus version + adapters + deployments
    GET /adapters                  adapter versions (query: ?task=git-workflow&model=polecat-v3)
    GET /healthz                   {"ok": true}

Unknown routes and unknown or malformed model names answer ``404 {"error": "..."}``.
``{name}`` takes every model reference form (``polecat-v3``, ``polecat@3``, ``polecat``).

Two servers share :func:`route`: Starlette + uvicorn (installed with dagster-webserver)
and, when those are missing, the standard library's ``ThreadingHTTPServer``. Both bind the
given host/port; port 0 picks a free one (``server.port``).

Usage::

    from node0_ops.registry.api import start_server
    srv = start_server(db, "127.0.0.1", 0)      # background thread
    print(srv.url); ...; srv.stop()
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from node0_ops.lineage.db import LineageDB
from node0_ops.registry.store import RegistryError, lineage, list_adapters, list_models, resolve_model


def _summary(m: dict) -> dict:
    out = {k: v for k, v in m.items() if k != "eval_report"}
    report = m.get("eval_report") or {}
    out["eval"] = {"overall": report.get("overall"), "by_category": report.get("by_category"),
                   "by_role": report.get("by_role")} if report else None
    return out


def route(db: LineageDB, method: str, target: str) -> tuple[int, Any]:
    """Answer one request: ``(HTTP status, JSON-serializable body)``."""
    if method != "GET":
        return 405, {"error": f"{method} not allowed: this API is read-only (GET)"}
    parts = urlsplit(target)
    path = unquote(parts.path).rstrip("/") or "/"
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    segs = [s for s in path.split("/") if s]
    try:
        if segs == ["healthz"]:
            return 200, {"ok": True}
        if segs == ["models"]:
            return 200, {"models": [_summary(m) for m in list_models(db, role=query.get("role"), status=query.get("status"))]}
        if len(segs) == 2 and segs[0] == "models":
            return 200, resolve_model(db, segs[1])
        if len(segs) == 3 and segs[0] == "models" and segs[2] == "lineage":
            return 200, lineage(db, segs[1])
        if segs == ["adapters"]:
            return 200, {"adapters": list_adapters(db, task=query.get("task"), model=query.get("model"))}
    except RegistryError as exc:
        return 404, {"error": str(exc)}
    return 404, {"error": f"no route {path}; try /models, /models/{{name}}, /adapters"}


def _body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    db: LineageDB  # set on the subclass built per server

    def _answer(self) -> None:
        status, payload = route(self.db, self.command, self.path)
        data = _body(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, fmt: str, *args) -> None:  # quiet by default
        pass


def make_app(db: LineageDB):
    """Starlette ASGI app answering :func:`route` (mount it or run it with uvicorn).

    Raises:
        ImportError: Starlette is not installed.
    """
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def handle(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        status, payload = route(db, request.method, target)
        return Response(_body(payload), status_code=status, media_type="application/json")

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route("/", handle, methods=methods), Route("/{path:path}", handle, methods=methods)])


class RegistryServer:
    """A running API server (background thread). ``port`` is the bound port, ``url`` its base URL."""

    def __init__(self, db: LineageDB, host: str = "127.0.0.1", port: int = 0, backend: str = "auto"):
        self.host = host
        if backend == "auto":
            try:
                import starlette  # noqa: F401
                import uvicorn  # noqa: F401
                backend = "starlette"
            except ImportError:
                backend = "stdlib"
        if backend not in ("starlette", "stdlib"):
            raise ValueError(f"backend={backend!r}: use 'starlette', 'stdlib' or 'auto'")
        self.backend = backend
        if backend == "stdlib":
            handler = type("RegistryHandler", (_Handler,), {"db": db})
            self._httpd = ThreadingHTTPServer((host, port), handler)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        else:
            import uvicorn

            self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self.port = self._sock.getsockname()[1]
            self._uv = uvicorn.Server(uvicorn.Config(make_app(db), lifespan="off", log_level="warning", access_log=False))
            self._thread = threading.Thread(target=self._uv.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> "RegistryServer":
        """Start serving in a daemon thread; returns once the socket accepts requests.

        Raises:
            TimeoutError: the server did not come up within ``timeout_s``.
        """
        self._thread.start()
        if self.backend == "starlette":
            deadline = time.monotonic() + timeout_s
            while not self._uv.started:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    raise TimeoutError(f"registry API did not start on {self.url}")
                time.sleep(0.05)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        if self.backend == "stdlib":
            self._httpd.shutdown()
            self._httpd.server_close()
        else:
            self._uv.should_exit = True
            self._thread.join(10)
            self._sock.close()


def start_server(db: LineageDB, host: str = "127.0.0.1", port: int = 0, backend: str = "auto") -> RegistryServer:
    """Start the API in a background thread (see :class:`RegistryServer`)."""
    return RegistryServer(db, host, port, backend).start()
