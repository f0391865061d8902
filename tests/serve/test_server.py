"""The OpenAI-compatible server on the real SmolLM2 GGUF with two LoRA adapters (one model load for the module)."""

import json
import threading

import httpx
import pytest

from node0_ops.serve.app import InferenceServer
from node0_ops.serve.engine import LlamaEngine
from node0_ops.serve.models import spec_from_paths
from node0_ops.serve.serve_config import ServeConfig

pytestmark = pytest.mark.native  # loads llama.cpp: runs in a child pytest (tests/native_isolation.py)

KEY = "test-key-0123"
HDR = {"Authorization": f"Bearer {KEY}"}
ASK = [{"role": "user", "content": "How do I finish my work in Gas Town?"}]
STACKS = ["smol", "smol+code-review", "smol+git-workflow", "smol+code-review+git-workflow"]


@pytest.fixture(scope="module")
def server(gguf, lora_ggufs):
    spec = spec_from_paths(gguf, lora_ggufs, name="smol", adapters="code-review")
    cfg = ServeConfig(n_ctx=512, port=0, api_key=KEY, default_max_tokens=16)
    engine = LlamaEngine(spec, cfg)
    srv = InferenceServer(engine, cfg)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        engine.close()


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    c = OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=300)
    yield c
    c.close()


def post(server, body, headers=HDR, **kw):
    return httpx.post(server.url + "/v1/chat/completions", json=body, headers=headers, timeout=300, **kw)


def answer(server, model, max_tokens=16, stream=False) -> str:
    body = {"model": model, "messages": ASK, "temperature": 0, "max_tokens": max_tokens, "stream": stream}
    r = post(server, body)
    assert r.status_code == 200, r.text
    if not stream:
        return r.json()["choices"][0]["message"]["content"]
    text = ""
    for line in r.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    return text


def test_models_health_and_auth(server):
    r = httpx.get(server.url + "/v1/models", headers=HDR)
    assert r.status_code == 200
    ids = [m["id"] for m in r.json()["data"]]
    assert ids == ["smol", "smol+task-code-review", "smol+task-git-workflow", "smol+task-code-review+task-git-workflow"]
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok" and health["adapters"] == ["task-code-review", "task-git-workflow"]
    assert health["default_stack"] == "smol+task-code-review"
    from node0_ops.models.llama_open import llama_settings

    assert health["llama_settings"] == llama_settings().to_dict() == server.engine.settings.to_dict()
    assert {m["llama_settings"]["use_extra_bufts"] for m in r.json()["data"]} == {llama_settings().use_extra_bufts}
    for headers in ({}, {"Authorization": "Bearer wrong-key-000"}, {"Authorization": KEY}):
        r = httpx.get(server.url + "/v1/models", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert post(server, {"model": "smol", "messages": ASK}, headers={}).status_code == 401


def test_chat_with_openai_client_matches_engine(server, client):
    res = client.chat.completions.create(model="smol+git-workflow", messages=ASK, temperature=0, max_tokens=12)
    assert res.object == "chat.completion" and res.model == "smol+task-git-workflow"
    direct = server.engine.chat(ASK, stack=(("task-git-workflow", 1.0),), max_tokens=12)
    assert res.choices[0].message.content == direct.text and direct.text
    assert res.usage.prompt_tokens == direct.prompt_tokens and res.usage.completion_tokens > 0
    assert res.choices[0].finish_reason in ("stop", "length")


def test_streaming_sse_matches_non_streaming(server, client):
    kw = dict(model="smol", messages=ASK, temperature=0, max_tokens=12)
    full = client.chat.completions.create(**kw).choices[0].message.content
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full and len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    raw = post(server, {**kw, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream") and raw.text.rstrip().endswith("data: [DONE]")


def test_json_schema_constrains_decoding(client):
    import jsonschema

    schema = {"type": "object", "properties": {"bead": {"type": "string", "pattern": "^gt-[a-z0-9]{4}$"},
                                               "priority": {"type": "integer", "minimum": 0, "maximum": 4},
                                               "action": {"enum": ["nudge", "escalate", "ignore"]}},
              "required": ["bead", "priority", "action"], "additionalProperties": False}
    res = client.chat.completions.create(
        model="smol", temperature=0, max_tokens=60,
        messages=[{"role": "user", "content": "Polecat on gt-ab12 is stuck. Decide."}],
        response_format={"type": "json_schema", "json_schema": {"name": "decision", "schema": schema}})
    obj = json.loads(res.choices[0].message.content)
    jsonschema.validate(obj, schema)
    res = client.chat.completions.create(model="smol", temperature=0, max_tokens=40, messages=ASK,
                                         response_format={"type": "json_object"})
    json.loads(res.choices[0].message.content)


def test_adapters_switch_on_the_live_model(server):
    """Each stack gives its own greedy answer; switching back restores the base; no reload happens."""
    engine = server.engine
    llm_before, switches = id(engine.llm), engine.switches
    answers = [answer(server, m) for m in STACKS]
    assert len(set(answers)) == len(STACKS), answers
    assert answer(server, "smol") == answers[0]
    assert id(engine.llm) == llm_before and engine.switches >= switches + len(STACKS)
    # no model field -> the --adapters default stack (code-review)
    r = post(server, {"messages": ASK, "temperature": 0, "max_tokens": 16})
    assert r.json()["model"] == "smol+task-code-review" and r.json()["choices"][0]["message"]["content"] == answers[1]
    # a scale of 0 is the base model
    assert answer(server, "smol+code-review:0") == answers[0]


def test_concurrent_requests_with_different_stacks_equal_alone(server):
    alone = {m: answer(server, m) for m in STACKS}
    jobs = [(m, stream) for m in STACKS for stream in (False, True)]
    results: dict = {}

    def run(i, model, stream):
        results[i] = answer(server, model, stream=stream)

    threads = [threading.Thread(target=run, args=(i, m, s)) for i, (m, s) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == len(jobs)
    for i, (model, _) in enumerate(jobs):
        assert results[i] == alone[model], (model, results[i], alone[model])


@pytest.mark.parametrize("body, status, code", [
    ({"model": "polecat-v9", "messages": ASK}, 404, "model_not_found"),
    ({"model": "smol+nope", "messages": ASK}, 404, "adapter_not_found"),
    ({"model": "smol", "messages": [{"role": "user", "content": "word " * 600}]}, 400, "context_length_exceeded"),
    ({"model": "smol", "messages": ASK, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"type": 12}}}}}}, 400, "invalid_schema"),
    ({"model": "smol", "messages": "hi"}, 400, "invalid_request_error"),
    ({"model": "smol", "messages": ASK, "temperature": 9}, 400, "invalid_request_error")])
def test_bad_requests_get_openai_errors_and_server_keeps_serving(server, body, status, code):
    r = post(server, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["type"] == "invalid_request_error"
    assert answer(server, "smol", max_tokens=2)


def test_malformed_json_unknown_route_and_method(server):
    r = httpx.post(server.url + "/v1/chat/completions", content=b'{"model": "smol", "messages": [', headers=HDR)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.get(server.url + "/v1/completions", headers=HDR)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(server.url + "/v1/chat/completions", headers=HDR)
    assert r.status_code == 405
    assert httpx.get(server.url + "/health").status_code == 200


def test_http_backend_of_the_agent_uses_the_server(server):
    from node0_ops.serve.backends import HttpBackend

    backend = HttpBackend(server.url + "/v1", "smol+git-workflow", api_key=KEY, max_tokens=12)
    try:
        reply = backend.complete(ASK)
    finally:
        backend.close()
    assert reply.text == server.engine.chat(ASK, stack=(("task-git-workflow", 1.0),), max_tokens=12).text
    assert reply.usage["completion_tokens"] > 0


def test_gastown_role_injects_the_compact_context(server):
    from starlette.testclient import TestClient

    from node0_ops.serve.app import make_app

    seen = []

    def context_for(role, query):
        if role not in ("polecat", "witness"):
            raise ValueError(f"role {role!r} is not a Gas Town role")
        seen.append((role, query))
        return f"You are the Gas Town {role}. " + "Always finish with gt done. " * 10

    app = make_app(server.engine, ServeConfig(n_ctx=512, port=0), context_for=context_for)
    with TestClient(app) as tc:
        body = {"model": "smol", "messages": ASK, "temperature": 0, "max_tokens": 2}
        plain = tc.post("/v1/chat/completions", json=body).json()
        primed = tc.post("/v1/chat/completions", json={**body, "gastown_role": "polecat"}).json()
        bad = tc.post("/v1/chat/completions", json={**body, "gastown_role": "janitor"})
    assert seen == [("polecat", ASK[0]["content"])]
    assert primed["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "gastown_role"
    r = post(server, {**body, "gastown_role": "polecat"})  # the main server was started without a town
    assert r.status_code == 400 and "no town context" in r.json()["error"]["message"]
