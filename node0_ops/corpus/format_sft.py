"""Format stage: scrubbed ``Record`` s -> role/task-tagged SFT ``Example`` s.

Generators (one module each, all returning ``(examples, skipped)``):

- :mod:`examples_transcript` — windows of successful sessions (outcome from the transcript)
- :mod:`examples_beads`      — bead-management / planning with real ``bd`` syntax
- :mod:`examples_formula`    — formula Q&A and authoring (patrol formulas -> patrol-decision)
- :mod:`examples_docs`       — conventions Q&A from rules, role configs, and ``text`` documents
- :mod:`examples_commands`   — operator requests -> exact, validator-checked ``bd``/``gt`` commands
- :mod:`examples_scenarios`  — patrol decisions from evidence, labelled by the formulas' own rules

Chat examples use the OpenAI ``messages`` shape (system role card, user, assistant with
``tool_calls``, ``tool`` results); documents are ``kind="text"``. Records that cannot give a
correct example are skipped with a reason rather than filled in.

Usage::

    from node0_ops.corpus.format_sft import build_examples, format_records
    examples = build_examples(records)
    result = format_records(records)        # also: result.skipped, result.counts()
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from node0_ops.corpus.examples_beads import beads_examples
from node0_ops.corpus.examples_commands import command_examples
from node0_ops.corpus.examples_docs import doc_examples
from node0_ops.corpus.examples_formula import formula_examples
from node0_ops.corpus.examples_scenarios import scenario_examples
from node0_ops.corpus.examples_transcript import transcript_examples
from node0_ops.corpus.schema import Example, Record

GENERATORS = (transcript_examples, beads_examples, formula_examples, doc_examples, command_examples,
              scenario_examples)


@dataclass
class FormatResult:
    """Examples plus the records that gave none.

    Attributes:
        examples: unique by ``example_id``, in generator order.
        skipped: ``(record_id, reason)`` for records that produced no example.
        errors: ``(record_id, message)`` for records whose payload broke a generator.
    """

    examples: list[Example] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """``{"<role>/<task>": n}`` over the examples."""
        return dict(sorted(Counter(f"{e.role}/{e.task}" for e in self.examples).items()))


def format_records(records: Sequence[Record]) -> FormatResult:
    """Run every generator over ``records`` (already scrubbed), isolating failures per record.

    A generator that raises on the batch is re-run record by record so one malformed payload
    is reported in ``errors`` (with the record id and message) and the rest still format.
    """
    res, seen = FormatResult(), set()
    for gen in GENERATORS:
        try:
            made, skipped = gen(records)
        except Exception:   # noqa: BLE001 - isolate the bad record below
            made, skipped = [], []
            for rec in records:
                try:
                    m, s = gen([rec])
                except Exception as exc:  # noqa: BLE001
                    res.errors.append((rec.record_id, f"{gen.__name__}: {type(exc).__name__}: {exc} "
                                                      f"(kind={rec.kind}, path={rec.provenance.path})"))
                    continue
                made += m
                skipped += s
        for ex in made:
            if ex.example_id not in seen:
                seen.add(ex.example_id)
                res.examples.append(ex)
        res.skipped += skipped
    return res


def message_problems(messages: list[dict]) -> list[str]:
    """Problems with an OpenAI-shape chat (empty list = valid).

    Checks: first message ``system`` then a ``user``, or a ``user`` first (a chat with no system
    prompt; the chat template adds its default); roles in system/user/assistant/tool;
    string contents; every ``tool_calls`` entry is ``{"id", "type": "function", "function":
    {"name", "arguments": <JSON object string>}}``; each ``tool`` message answers a pending call
    of the previous assistant turn, and all calls are answered before the next assistant/user
    turn; the last message is from the assistant.
    """
    import json

    probs, pending = [], set()
    first = messages[0].get("role") if messages else None
    if first not in ("system", "user"):
        probs.append("first message is neither system nor user")
    elif first == "system" and (len(messages) < 2 or messages[1].get("role") != "user"):
        probs.append("second message is not user")
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            probs.append(f"message {i}: bad role {role!r}")
        if not isinstance(m.get("content"), str):
            probs.append(f"message {i}: content is not a string")
        if role in ("assistant", "user") and pending:
            probs.append(f"message {i}: tool calls {sorted(pending)} unanswered")
            pending = set()
        if role == "assistant":
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                try:
                    ok = isinstance(json.loads(fn.get("arguments", "")), dict)
                except (TypeError, json.JSONDecodeError):
                    ok = False
                if c.get("type") != "function" or not c.get("id") or not fn.get("name") or not ok:
                    probs.append(f"message {i}: malformed tool call {c!r:.120}")
                pending.add(c.get("id"))
        elif role == "tool":
            if m.get("tool_call_id") not in pending:
                probs.append(f"message {i}: tool result for unknown call {m.get('tool_call_id')!r}")
            pending.discard(m.get("tool_call_id"))
    if messages and messages[-1].get("role") != "assistant":
        probs.append("last message is not from the assistant")
    return probs


def build_examples(records: Sequence[Record]) -> list[Example]:
    """SFT examples from scrubbed records; see :func:`format_records` for skip/error reporting."""
    return format_records(records).examples
