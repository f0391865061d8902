"""Model-free parts of node0_ops.serve: stacks, tool-call parsing, policy, transcript, agent loop, registry resolution."""

import io
import json

import pytest

from node0_ops.serve.agent import TerminalAgent
from node0_ops.serve.agent_config import AgentConfig
from node0_ops.serve.backends import EchoScriptBackend
from node0_ops.serve.engine import RequestError, parse_chat_request, response_schema, schema_to_gbnf
from node0_ops.serve.models import AdapterSpec, ModelSpec, StackError, parse_adapter_list, spec_from_paths
from node0_ops.serve.policy import CommandPolicy
from node0_ops.serve.prompting import extract_tool_calls, render_prompt
from node0_ops.serve.transcript import TranscriptWriter


@pytest.fixture
def spec(tmp_path) -> ModelSpec:
    files = {}
    for name in ("base", "task-code-review", "task-git-workflow"):
        files[name] = tmp_path / f"{name}.gguf"
        files[name].write_bytes(b"GGUF")
    return ModelSpec("polecat-v3", files["base"], [
        AdapterSpec("task-code-review", files["task-code-review"], ("code-review",)),
        AdapterSpec("task-git-workflow", files["task-git-workflow"], ("git-workflow",))], aliases=("polecat-v3@3",))


# ----------------------------------------------------------------------------- stacks


def test_parse_stack_aliases_scales_and_canonical_order(spec):
    assert spec.parse_stack("polecat-v3") == ()
    assert spec.parse_stack("polecat-v3@3+git-workflow+code-review") == (("task-code-review", 1.0),
                                                                          ("task-git-workflow", 1.0))
    assert spec.parse_stack("polecat-v3+task-git-workflow:0.5") == (("task-git-workflow", 0.5),)
    assert spec.stack_id((("task-git-workflow", 0.5),)) == "polecat-v3+task-git-workflow:0.5"


@pytest.mark.parametrize("model, status, code", [
    ("polecat-v9", 404, "model_not_found"), ("polecat-v3+nope", 404, "adapter_not_found"),
    ("polecat-v3+code-review+task-code-review", 400, "invalid_request_error"),
    ("polecat-v3+code-review:9", 400, "invalid_request_error"), ("polecat-v3+", 400, "invalid_request_error")])
def test_parse_stack_errors(spec, model, status, code):
    with pytest.raises(StackError) as err:
        spec.parse_stack(model)
    assert (err.value.status, err.value.code) == (status, code)


def test_listed_stacks_are_every_subset(spec):
    assert spec.listed_stacks() == ["polecat-v3", "polecat-v3+task-code-review", "polecat-v3+task-git-workflow",
                                    "polecat-v3+task-code-review+task-git-workflow"]


def test_spec_from_paths_default_stack_and_missing_file(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"x")
    (tmp_path / "a.gguf").write_bytes(b"x")
    spec = spec_from_paths(tmp_path / "m.gguf", {"task-a": tmp_path / "a.gguf"}, adapters="a:0.5")
    assert spec.name == "m" and spec.default_stack == (("task-a", 0.5),)
    assert parse_adapter_list("a, b:2") == [("a", None), ("b", 2.0)]
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        spec_from_paths(tmp_path / "missing.gguf")


def test_resolve_spec_through_registry(state, tmp_path):
    """A registered model with GGUF artifacts resolves to its files, adapters and aliases."""
    from node0_ops.registry.schema import registry_db
    from node0_ops.registry.store import register_model
    from node0_ops.serve.models import resolve_spec

    model = tmp_path / "polecat-q4_k_m.gguf"
    model.write_bytes(b"GGUF-model")
    lora = tmp_path / "task-code-review.lora.gguf"
    lora.write_bytes(b"GGUF-lora")
    adapter = tmp_path / "adapters" / "cr"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    (adapter / "adapter_model.safetensors").write_bytes(b"w" * 64)
    (adapter / "gastown_adapter.json").write_text(json.dumps({"kind": "task", "task": "code-review",
                                                              "base": "smollm2-135m"}))
    ref = register_model(registry_db(state), "polecat", "smollm2-135m", adapters=[{"path": adapter}],
                         artifacts={"gguf_q4_k_m": model, "lora_gguf:task-code-review": lora})
    spec = resolve_spec("polecat", "code-review", state=state)
    assert spec.ref == ref and spec.gguf == model.resolve()
    assert [a.name for a in spec.adapters] == ["task-code-review"] and spec.adapters[0].gguf == lora.resolve()
    assert spec.default_stack == (("task-code-review", 1.0),)
    assert spec.parse_stack("polecat+code-review") == (("task-code-review", 1.0),)
    with pytest.raises(StackError):
        resolve_spec("polecat", "git-workflow", state=state)


# ----------------------------------------------------------------------------- requests


def test_parse_chat_request_validation(spec):
    ok = parse_chat_request({"model": "polecat-v3+code-review", "messages": [{"role": "user", "content": "hi"}],
                             "temperature": 0, "max_tokens": 5, "stop": "x"}, spec)
    assert ok.stack == (("task-code-review", 1.0),) and ok.temperature == 0.0 and ok.stop == ["x"]
    bad = [({"messages": []}, "messages"), ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
           ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
           ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
           ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n")]
    for body, param in bad:
        with pytest.raises(RequestError) as err:
            parse_chat_request(body, spec)
        assert err.value.status == 400 and err.value.param == param


def test_response_format_and_schema_errors():
    assert response_schema(None) == (False, None)
    assert response_schema({"type": "json_object"}) == (True, None)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert response_schema({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}) == (True, schema)
    assert "root" in schema_to_gbnf(schema)
    for rf in ({"type": "xml"}, {"type": "json_schema", "json_schema": {"name": "x"}}):
        with pytest.raises(RequestError):
            response_schema(rf)
    with pytest.raises(RequestError) as err:
        schema_to_gbnf({"type": "object", "properties": {"a": {"type": "not-a-type"}}})
    assert err.value.code == "invalid_schema"


# ----------------------------------------------------------------------------- prompting


def test_render_prompt_uses_training_template():
    text = render_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                          {"role": "assistant", "content": "", "tool_calls": [
                              {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": {"command": "ls"}}}]},
                          {"role": "tool", "tool_call_id": "c1", "content": "out"}])
    assert text.startswith("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>")
    assert '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call>' in text
    assert text.endswith("<|im_start|>tool\nout<|im_end|>\n<|im_start|>assistant\n")


def test_extract_tool_calls_all_formats():
    calls, rest = extract_tool_calls('Checking.\n<tool_call>\n{"name": "bash", "arguments": {"command": "gt hook"}}\n'
                                     '</tool_call>')
    assert [(c.command, c.source) for c in calls] == [("gt hook", "hermes")] and rest == "Checking."
    calls, _ = extract_tool_calls('{"tool_calls": [{"id": "x1", "type": "function", "function": {"name": "bash", '
                                  '"arguments": "{\\"command\\": \\"bd ready\\"}"}}]}')
    assert [(c.id, c.command, c.source) for c in calls] == [("x1", "bd ready", "openai")]
    calls, _ = extract_tool_calls("Run:\n```bash\n# look\n$ ls -la\ngit log \\\n  --oneline\n```\nthen\n$ gt done\n")
    assert [(c.command, c.source) for c in calls] == [("ls -la", "fence"), ("git log --oneline", "fence"),
                                                      ("gt done", "dollar")]
    calls, _ = extract_tool_calls('<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call>')
    assert calls[0].command is None and "unknown tool" in calls[0].error
    assert extract_tool_calls("Just prose, costs $ 5.")[0] == []


# ----------------------------------------------------------------------------- policy


@pytest.mark.parametrize("command, allowed, rule", [
    ("ls -la && git status", True, None), ("git log --oneline | head -5", True, None), ("bd ready --json", True, None),
    ("gt done", True, None), ("rm -rf build", False, "not_allowed"),
    ("pkill -f polecat", False, "pkill"), ("killall claude", False, "killall"),
    ("git push --force origin main", False, "force_push"), ("git commit --no-verify -m x", False, "no_verify"),
    ("rm -rf /", False, "rm_rf_outside"), ("cat .beads/issues.jsonl", False, "raw_beads_file"),
    ("git reset --hard HEAD~1", False, "git_reset_hard"), ("echo hi > notes.txt", False, "redirect_write"),
    ("ls $(pkill x)", False, "pkill"), ("npm test", False, "not_allowed"), ("sed -i s/a/b/ f", False, "sed_in_place")])
def test_policy(command, allowed, rule, tmp_path):
    d = CommandPolicy(tmp_path).check(command)
    assert d.allowed is allowed, d.message
    if rule:
        assert rule in d.rules and d.message.startswith("refused: ")


def test_policy_extra_allowed_and_rm_in_work_tree(tmp_path):
    p = CommandPolicy(tmp_path, extra_allowed=("npm", "rm"))
    assert p.check("npm test").allowed
    assert p.check(f"rm -rf {tmp_path}/build").allowed
    assert not p.check("rm -rf ../other").allowed


# ----------------------------------------------------------------------------- transcript + agent loop


def test_agent_loop_runs_refuses_logs_and_corpus_reads_transcript(tmp_path):
    """Scripted model: runs `ls`, refuses `pkill`, feeds outputs back, stops when no more commands."""
    from node0_ops.corpus.collect import collect_paths

    work = tmp_path / "gt" / "gastown" / "polecats" / "toast"
    work.mkdir(parents=True)
    (work / "README.md").write_text("hello")
    backend = EchoScriptBackend(["Looking.\n```bash\nls\npkill -f polecat\n```", "Done: README.md is there."])
    log = TranscriptWriter(work, directory=tmp_path / "transcripts", model="echo-script")
    out = io.StringIO()
    seen = []
    agent = TerminalAgent(backend, AgentConfig(role="polecat", work_tree=str(work), use_rag=False),
                          context_for=lambda q: seen.append(q) or "You are the Gas Town polecat.", transcript=log,
                          out=out)
    status = agent.run(io.StringIO("Check the tree\n/exit\n"))
    text = out.getvalue()
    assert status == 0 and seen == ["Check the tree"]
    assert "$ ls" in text and "README.md" in text and "[exit 0]" in text
    assert "refused: pkill" in text and "Done: README.md is there." in text and text.rstrip().endswith("bye")
    assert [(c.command, c.allowed) for c in agent.commands] == [("ls", True), ("pkill -f polecat", False)]
    tool_msgs = [m for m in agent.history if m["role"] == "tool"]
    assert "README.md" in tool_msgs[0]["content"] and tool_msgs[1]["content"].startswith("refused: pkill")

    lines = [json.loads(x) for x in log.path.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["user", "assistant", "user", "user", "assistant"]
    assert all(x["sessionId"] == log.session_id and x["cwd"] == str(work) for x in lines)
    assert [x["parentUuid"] for x in lines[1:]] == [x["uuid"] for x in lines[:-1]]
    uses = [b for b in lines[1]["message"]["content"] if b["type"] == "tool_use"]
    assert [u["input"]["command"] for u in uses] == ["ls", "pkill -f polecat"]
    results = [x["message"]["content"][0] for x in lines[2:4]]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert [r["is_error"] for r in results] == [False, True]

    result = collect_paths([], transcript_dirs=[log.path.parent], town_root=tmp_path / "gt")
    assert not result.quarantine and len(result.records) == 1
    rec = result.records[0]
    assert rec.source_key == f"session:{log.session_id}" and rec.provenance.role == "polecat"
    assert rec.provenance.rig == "gastown" and rec.payload["n_lines"] == 5
    assert rec.payload["entries"][1]["content"][1]["input"]["command"] == "ls"


def test_transcript_default_location_is_claude_projects(tmp_path, monkeypatch):
    from node0_ops.corpus.transcripts import find_home_transcripts, mangle_cwd

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    town = tmp_path / "gt"
    work = town / "webapp" / "crew" / "bob"
    work.mkdir(parents=True)
    log = TranscriptWriter(work)
    log.user_text("hi")
    assert log.path == tmp_path / "claude" / "projects" / mangle_cwd(str(work)) / f"{log.session_id}.jsonl"
    assert find_home_transcripts(town) == [log.path]


def test_echo_script_file_formats(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(["one", "two"]))
    (tmp_path / "b.txt").write_text("one\n---\ntwo\nlines\n")
    assert EchoScriptBackend.from_file(tmp_path / "a.json").replies == ["one", "two"]
    b = EchoScriptBackend.from_file(tmp_path / "b.txt")
    assert b.replies == ["one", "two\nlines"]
    b.complete([]), b.complete([])
    assert b.complete([{"role": "user", "content": "ping"}]).text == "echo: ping"
    (tmp_path / "c.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError):
        EchoScriptBackend.from_file(tmp_path / "c.json")


def test_agent_config_validation(tmp_path):
    with pytest.raises(ValueError, match="role"):
        AgentConfig(role="janitor", work_tree=str(tmp_path))
    with pytest.raises(ValueError, match="max_steps"):
        AgentConfig(role="polecat", work_tree=str(tmp_path), max_steps=0)
    with pytest.raises(ValueError, match="not a folder"):
        AgentConfig(role="polecat", work_tree=str(tmp_path / "nope"))


def test_bounded_integers_become_enums_for_the_grammar():
    from node0_ops.serve.engine import lower_integer_bounds

    schema = {"type": "object", "properties": {"p": {"type": "integer", "minimum": 0, "maximum": 4},
                                               "q": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
                                               "r": {"type": "integer", "minimum": 0}}}
    low = lower_integer_bounds(schema)
    assert low["properties"]["p"] == {"enum": [0, 1, 2, 3, 4]} and low["properties"]["q"] == {"enum": [1, 2]}
    assert low["properties"]["r"] == {"type": "integer", "minimum": 0} and schema["properties"]["p"]["maximum"] == 4


def test_completion_turns_hermes_tool_calls_into_openai_tool_calls():
    from node0_ops.serve.app import _completion
    from node0_ops.serve.engine import GenResult

    res = GenResult('Claiming.\n<tool_call>\n{"name": "bash", "arguments": {"command": "bd update gt-1 --claim"}}\n'
                    '</tool_call>', "stop", 10, 20)
    body = _completion(res, "polecat-v3", "chatcmpl-1", 0)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Claiming."
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "bash"
    assert json.loads(call["function"]["arguments"]) == {"command": "bd update gt-1 --claim"}
    plain = _completion(GenResult("hello", "length", 1, 1), "m", "c", 0)["choices"][0]
    assert plain["message"] == {"role": "assistant", "content": "hello"} and plain["finish_reason"] == "length"


def test_agent_structured_calls_and_context_overflow(tmp_path):
    """Hermes calls go back into history as tool_calls; when the context is full, old turns are dropped."""
    from node0_ops.serve.backends import ContextTooLong, Reply

    class Small:
        name = "small"

        def __init__(self):
            self.sizes = []

        def complete(self, messages):
            if len(messages) > 4:  # system + at most 3 messages fit
                raise ContextTooLong("prompt is too long")
            self.sizes.append(len(messages))
            last = messages[-1]
            if last["role"] == "user" and last["content"] == "status?":
                return Reply('<tool_call>\n{"name": "bash", "arguments": {"command": "pwd"}}\n</tool_call>')
            return Reply("ok")

    backend = Small()
    out = io.StringIO()
    agent = TerminalAgent(backend, AgentConfig(role="witness", work_tree=str(tmp_path), use_rag=False),
                          context_for=lambda q: "card", out=out)
    agent.turn("status?")
    call_msg = agent.history[1]
    assert call_msg["content"] == "" and call_msg["tool_calls"][0]["function"]["arguments"] == '{"command": "pwd"}'
    assert agent.history[2] == {"role": "tool", "tool_call_id": call_msg["tool_calls"][0]["id"],
                                "content": str(tmp_path) + "\n"}
    agent.turn("second")
    agent.turn("third")
    assert [m["content"] for m in agent.history] == ["second", "ok", "third", "ok"]  # first turn dropped
    assert max(backend.sizes) <= 4 and "ok" in out.getvalue()


# ----------------------------------------------------------------------------- review mends


@pytest.mark.parametrize("command", ["git --namespace x reset --hard", "git --exec-path /tmp reset --hard HEAD"])
def test_policy_git_global_options_with_values_do_not_hide_the_subcommand(command, tmp_path):
    plain, hidden = CommandPolicy(tmp_path).check("git reset --hard"), CommandPolicy(tmp_path).check(command)
    assert not plain.allowed and not hidden.allowed, hidden.message
    assert hidden.rules == plain.rules == ["git_reset_hard"]


def test_fractional_exclusive_integer_bounds():
    from node0_ops.serve.engine import lower_integer_bounds

    assert lower_integer_bounds({"type": "integer", "minimum": 1, "exclusiveMaximum": 3.5}) == {"enum": [1, 2, 3]}
    assert lower_integer_bounds({"type": "integer", "exclusiveMinimum": -0.5, "maximum": 2}) == {"enum": [0, 1, 2]}
    assert lower_integer_bounds({"type": "integer", "exclusiveMinimum": -2.5, "exclusiveMaximum": -0.5}) == \
        {"enum": [-2, -1]}


def test_bead_whose_newest_row_is_a_tombstone_stays_deleted(tmp_path):
    from node0_ops.corpus.schema import Provenance, Record
    from node0_ops.serve.rag import chunk_records

    def row(line, **payload):
        prov = Provenance(str(tmp_path / ".beads" / "issues.jsonl"), "0" * 64, line=line, source_kind="beads")
        return Record("beads_issue", f"bead:{payload.get('id')}", {"status": "open", "title": "t", **payload}, prov)

    records = [row(1, id="gt-1", updated_at="2025-01-01T00:00:00Z", title="old live row"),
               row(2, id="gt-1", updated_at="2025-01-02T00:00:00Z", tombstone=True),
               row(3, id="gt-2", updated_at="2025-01-03T00:00:00Z", title="v2"),
               row(4, id="gt-2", updated_at="2025-01-01T00:00:00Z", title="v1"),
               row(5, id="gt-3", ephemeral=True), row(6, title="no id")]
    beads = {c.metadata["title"]: c.text for c in chunk_records(records, tmp_path) if c.metadata["kind"] == "bead"}
    assert list(beads) == ["bead gt-2"] and ": v2" in beads["bead gt-2"]


def test_tokenizer_path_resolves_the_base_once(tmp_path, monkeypatch):
    import node0_ops.models.base as base
    from node0_ops.serve.tokens import tokenizer_path

    (tmp_path / "tokenizer.json").write_text("{}")
    calls = []
    monkeypatch.setattr(base, "resolve_base", lambda spec: calls.append(spec) or tmp_path)
    tokenizer_path.cache_clear()
    try:
        assert tokenizer_path("fake-base") == tokenizer_path("fake-base") == tmp_path / "tokenizer.json"
        assert calls == ["fake-base"]
    finally:
        tokenizer_path.cache_clear()


def test_command_timeout_survives_an_already_gone_process_group(tmp_path, monkeypatch):
    import os

    from node0_ops.serve.agent import run_command

    def gone(pid, sig):
        raise ProcessLookupError(pid)

    monkeypatch.setattr(os, "killpg", gone)
    out, code = run_command("sleep 0.5", str(tmp_path), timeout_s=0.05, max_chars=1000)
    assert code is None and "timed out" in out


def test_budget_default_comes_from_prime(tmp_path):
    from node0_ops.serve.cli import agent_parser, sub_parser
    from node0_ops.serve.prime import DEFAULT_BUDGET

    assert AgentConfig(work_tree=str(tmp_path)).budget_tokens == DEFAULT_BUDGET
    assert agent_parser().get_default("budget") == sub_parser("prime").get_default("budget") == DEFAULT_BUDGET
