"""Read-only registry API through a real server on 127.0.0.1:0 (both backends)."""

import json
import urllib.error
import urllib.request

import pytest

from node0_ops.registry.api import start_server


def _get(url: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("application/json")
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"].startswith("application/json")
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("backend", ["starlette", "stdlib"])
def test_api_serves_models_and_adapters(db, make_model, backend):
    make_model("polecat", task_adapter=True)
    make_model("witness")
    srv = start_server(db, "127.0.0.1", 0, backend=backend)
    try:
        assert srv.port > 0 and srv.backend == backend
        status, body = _get(f"{srv.url}/models")
        assert status == 200 and [m["name"] for m in body["models"]] == ["polecat-v1", "witness-v1"]
        assert body["models"][0]["eval"]["overall"]["rate"] == 1.0
        status, body = _get(f"{srv.url}/models?role=witness")
        assert [m["name"] for m in body["models"]] == ["witness-v1"]
        for ref in ("polecat-v1", "polecat@1", "polecat-v1@1", "polecat"):
            status, body = _get(f"{srv.url}/models/{ref}")
            assert status == 200 and body["ref"] == "polecat-v1@1"
        assert body["gguf_path"].endswith("model-q4_k_m.gguf") and set(body["adapters"]) == {"role-polecat", "task-git-workflow"}
        status, body = _get(f"{srv.url}/models/polecat-v1/lineage")
        assert status == 200 and body["model"]["name"] == "polecat-v1"
        status, body = _get(f"{srv.url}/adapters")
        assert status == 200 and {a["name"] for a in body["adapters"]} == {"role-polecat", "task-git-workflow", "role-witness"}
        status, body = _get(f"{srv.url}/models/polecat-v7")
        assert status == 404 and "unknown model 'polecat-v7'" in body["error"]
        status, body = _get(f"{srv.url}/models/NOT%20A%20NAME")
        assert status == 404 and "error" in body
        status, body = _get(f"{srv.url}/nothing-here")
        assert status == 404 and "no route" in body["error"]
        status, body = _get(f"{srv.url}/models", method="POST")
        assert status == 405 and "read-only" in body["error"]
    finally:
        srv.stop()


def test_serve_api_command_in_a_subprocess(state, make_model):
    import subprocess
    import sys

    make_model("deacon")
    proc = subprocess.Popen([sys.executable, "-m", "node0_ops.registry.cli", "--state-dir", str(state), "serve-api",
                             "--port", "0", "--backend", "stdlib"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("gt-model API on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[3]
        status, body = _get(f"{url}/models/deacon")
        assert status == 200 and body["ref"] == "deacon-v1@1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # a loaded machine: the assertions above are what this test checks
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
