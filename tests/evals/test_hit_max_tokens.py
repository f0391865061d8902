"""Answers cut at ``max_tokens`` are counted per case, per category and in the report table; the
transformers backend reports whether a decode ran out of its budget."""

import pytest

from node0_ops.evals.quality import summarize
from node0_ops.evals.report import EvalReport
from node0_ops.evals.runner import rescore, run_suite
from node0_ops.evals.tasks import load_suite
from tests.evals.test_backends import _tiny_model_and_tokenizer

TASKS = [t for t in load_suite("v2") if t.category in ("patrol-decision", "bead-management")][::10]


class _CuttingGenerator:
    """Returns each task's reference; says the answer hit the budget for every other call."""

    def __init__(self, by_prompt):
        self.by_prompt, self.calls, self.last_hit_max_tokens = by_prompt, 0, None

    def __call__(self, messages, schema):
        self.calls += 1
        self.last_hit_max_tokens = self.calls % 2 == 0
        return self.by_prompt[messages[-1]["content"]].reference


def test_hits_are_recorded_counted_and_shown():
    gen = _CuttingGenerator({t.messages[-1]["content"]: t for t in TASKS})
    rep = run_suite(gen, TASKS, constrained=False, suite="v2")
    assert [c.hit_max_tokens for c in rep.cases] == [i % 2 == 1 for i in range(len(TASKS))]
    expected = {cat: sum(c.hit_max_tokens for c in rep.cases if c.category == cat) for cat in rep.by_category}
    assert {cat: s.hit_max_tokens for cat, s in rep.by_category.items()} == expected
    assert rep.overall.hit_max_tokens == len(TASKS) // 2 > 0
    assert "hit max_tokens" in rep.table() and f"| {rep.overall.hit_max_tokens} |" in rep.table().splitlines()[4]
    again = EvalReport.from_json(rep.to_json())
    assert again.to_dict() == rep.to_dict()
    assert again.to_dict()["by_category"]["patrol-decision"]["hit_max_tokens"] == expected["patrol-decision"]
    assert summarize(rep)["hit_max_tokens"] == len(TASKS) // 2
    assert [c.hit_max_tokens for c in rescore(rep, TASKS).cases] == [c.hit_max_tokens for c in rep.cases]


def test_plain_function_generators_leave_it_unknown():
    by_prompt = {t.messages[-1]["content"]: t for t in TASKS}
    rep = run_suite(lambda m, s: by_prompt[m[-1]["content"]].reference, TASKS, constrained=False)
    assert all(c.hit_max_tokens is None for c in rep.cases)
    assert rep.overall.hit_max_tokens is None and "| - |" in rep.table()
    old = rep.to_dict()
    for c in old["cases"]:
        c.pop("hit_max_tokens")  # reports saved before the field existed still load
    assert EvalReport.from_dict(old).cases[0].hit_max_tokens is None


@pytest.mark.parametrize("favour_eos", [True, False])
def test_transformers_backend_reports_budget_cuts(favour_eos):
    torch = pytest.importorskip("torch")
    from node0_ops.evals.backends import TransformersBackend

    model, tok = _tiny_model_and_tokenizer()
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():  # constant logits: always the end-of-turn token, or always the letter "a"
        head.weight.zero_()
        head.bias.zero_()
        head.bias[tok.eos_token_id if favour_eos else tok.convert_tokens_to_ids("a")] = 10.0
    model.lm_head = head
    gen = TransformersBackend(model, tok, max_new_tokens=6, max_reason_tokens=5, device="cpu")
    text = gen([{"role": "user", "content": "Say OK."}], None)
    assert gen.last_hit_max_tokens is (not favour_eos)
    assert text == ("" if favour_eos else "aaaaaa")
    task = next(t for t in TASKS if t.structured)
    gen(task.messages, task.json_schema)  # choice path: the reason decode stops at a quote or the budget
    assert gen.last_hit_max_tokens is (not favour_eos)


@pytest.mark.slow
@pytest.mark.native
def test_llama_cpp_backend_reports_finish_reason_length():
    pytest.importorskip("llama_cpp")
    from node0_ops.evals.backends import LlamaCppBackend
    from tests.evals.test_backends import _smollm2_gguf

    gen = LlamaCppBackend(_smollm2_gguf(), max_new_tokens=3, n_ctx=1024)
    gen([{"role": "user", "content": "Write a long story about a lighthouse keeper."}], None)
    assert gen.last_hit_max_tokens is True
    gen.max_new_tokens = 64
    gen([{"role": "user", "content": "Reply with just the word OK."}], None)
    assert gen.last_hit_max_tokens is False
