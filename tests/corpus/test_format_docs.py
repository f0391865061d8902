"""Conventions Q&A and text examples (node0_ops.corpus.examples_docs)."""

from node0_ops.corpus.conventions import extract_rules, render_template_vars
from node0_ops.corpus.examples_docs import CHUNK_CHARS, chunk_text, doc_examples, doc_task
from node0_ops.corpus.schema import Provenance, Record

POLECAT_TMPL = """# Polecat Context

You are a polecat in {{ .RigName }}.

## Rules

- **NEVER push directly to main** — the Refinery merges from the MQ.
- Always run `{{ cmd }} done` when the work is complete.
- Don't use pkill or tmux kill-session to stop agents.

You do NOT:
- Close your own issue (Refinery closes after merge)
- Wait for merge

```bash
# never run this example: it is code
```
"""


def _rec(kind, path, text, role=None, rig="gastown"):
    return Record(kind, f"file:{path}", {"text": text, "title": path.rsplit("/", 1)[-1]},
                  Provenance(path, "4" * 64, None, 0, kind, rig, role))


def test_extract_rules_polarity_actions_and_lead_in_lists():
    rules = extract_rules(POLECAT_TMPL)
    got = {(r.polarity, r.action) for r in rules}
    assert (-1, "push directly to main") in got
    assert (1, "run gt done when the work is complete") in got        # {{ cmd }} rendered as gt
    assert (-1, "use pkill or tmux kill-session to stop agents") in got
    assert (-1, "Close your own issue") in got and (-1, "Wait for merge") in got
    split = {r.action for r in extract_rules("Never commit on main and never git push origin main.")}
    assert split == {"commit on main", "git push origin main"}
    assert not any("example" in r.action for r in rules)             # code fences skipped
    assert render_template_vars("{{ .TownRoot }}/{{ cmd }}") == "<town_root>/gt"


def test_rule_qa_quotes_the_source_and_answers_by_polarity():
    rec = _rec("role_template", "/town/templates/roles/polecat.md.tmpl", POLECAT_TMPL)
    examples, skipped = doc_examples([rec])
    assert not skipped
    qa = [e for e in examples if e.meta["generator"] == "rule"]
    assert qa and all(e.role == "polecat" and e.task == "conventions" for e in qa)
    by_q = {e.messages[1]["content"]: e.messages[2]["content"] for e in qa}
    push = by_q["As a polecat, is it OK to push directly to main?"]
    assert push.startswith("No. The polecat role template says:") and "NEVER push directly to main" in push
    done = by_q["As a polecat, do I have to run gt done when the work is complete?"]
    assert done.startswith("Yes.")
    texts = [e for e in examples if e.kind == "text"]
    assert texts and all(e.task == "conventions" and "{{" not in e.text for e in texts)


def test_directive_is_a_convention_source_for_its_role():
    rec = _rec("doc", "/town/directives/witness.md", "# Witness directive\n\nNever nudge a polecat more than 3 times per hour.\n")
    examples, _ = doc_examples([rec])
    qa = [e for e in examples if e.meta["generator"] == "rule"]
    assert len(qa) == 1 and qa[0].role == "witness"
    assert "The town's witness directive says" in qa[0].messages[2]["content"]


def test_docs_become_chunked_text_with_a_task():
    body = "\n\n".join(f"## Part {i}\n\n" + ("The formula step uses bd cook and mol-polecat-work. " * 30) for i in range(6))
    rec = _rec("doc", "/town/docs/formulas.md", "# Formulas\n\n" + body)
    examples, _ = doc_examples([rec])
    assert len(examples) >= 3
    assert all(e.kind == "text" and len(e.text) <= CHUNK_CHARS + 100 for e in examples)
    assert {e.task for e in examples} == {"formula"}
    assert all(e.role == "crew" for e in examples)     # generic docs default to crew
    assert doc_task("hello world") == "conventions"


def test_chunk_text_covers_everything():
    text = "# T\n\n" + "\n\n".join(f"para {i} " + "x" * 400 for i in range(20))
    chunks = chunk_text(text, 1000)
    assert all(len(c) <= 1000 for c in chunks)
    for i in range(20):
        assert any(f"para {i} " in c for c in chunks)


def test_role_config_examples_from_collector_shape():
    cfg = {"role": "witness", "scope": "rig", "nudge": "Run 'gt prime' to check worker status and begin patrol cycle.",
           "session": {"pattern": "{prefix}-witness", "work_dir": "{town}/{rig}/witness"},
           "health": {"ping_timeout": "30s", "stuck_threshold": "1h"}}
    rec = Record("role_config", "file:roles/witness.toml", {"role": "witness", "data": cfg, "text": ""},
                 Provenance("/town/roles/witness.toml", "5" * 64, None, 0, "role_config", None, "witness"))
    examples, _ = doc_examples([rec])
    answers = " ".join(e.messages[2]["content"] for e in examples)
    assert "`{prefix}-witness`" in answers and "stuck_threshold: 1h" in answers
    assert cfg["nudge"] in answers
    assert {e.task for e in examples} == {"conventions", "patrol-decision"}


def test_empty_text_is_skipped_with_reason():
    rec = _rec("claude_md", "/town/CLAUDE.md", "   ")
    examples, skipped = doc_examples([rec])
    assert examples == [] and skipped == [(rec.record_id, "claude_md record has no text")]
