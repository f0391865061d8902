"""Tokenization, assistant-only labels, packing plans, data sources."""

import json

import pytest

from node0_ops.train.data import (IGNORE, DataError, build_row, content_hash, load_examples_db, plan_rows,
                                  read_jsonl, resolve_jsonl, tokenize_chat, tokenize_examples)


def real_tool_example() -> list[dict]:
    """A sample-town chat example with assistant tool calls (the corpus builder's output)."""
    try:
        from node0_ops.corpus.collect import collect_town
        from node0_ops.corpus.format_sft import build_examples
        from node0_ops.paths import EMBEDDED_TOWN

        examples = build_examples(collect_town(EMBEDDED_TOWN).records)
        for e in examples:
            if e.messages and any(m.get("tool_calls") for m in e.messages) and \
                    any(m["role"] == "assistant" and m.get("content") for m in e.messages):
                return e.messages
    except ImportError:
        pass
    from node0_ops.corpus.examples_common import assistant, bash_call, role_card, system, tool, user

    return [system(role_card("polecat", "gastown")), user("Claim gt-abc and start."),
            assistant("Claiming it.", [bash_call("bd update gt-abc --claim", "c1")]), tool("c1", "ok"),
            assistant("Claimed; starting on the fix.")]


def expected_assistant_text(m: dict) -> str:
    parts = [m.get("content") or ""]
    for call in m.get("tool_calls") or []:
        fn = call["function"]
        args = fn["arguments"] if isinstance(fn["arguments"], str) else json.dumps(fn["arguments"])
        parts.append('<tool_call>\n{"name": "%s", "arguments": %s}\n</tool_call>' % (fn["name"], args))
    return "\n".join(p for p in parts if p) + "<|im_end|>"


def labelled_segments(ex) -> list[tuple[int, int]]:
    segs, start = [], None
    for i, lab in enumerate(ex.labels + [IGNORE]):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            segs.append((start, i))
            start = None
    return segs


def test_labels_of_a_real_example_are_exactly_the_assistant_turns(tokenizer):
    msgs = real_tool_example()
    ex = tokenize_chat(msgs, tokenizer)
    assert len(ex.input_ids) == len(ex.labels)
    assert all(lab in (IGNORE, tid) for lab, tid in zip(ex.labels, ex.input_ids))
    turns = [m for m in msgs if m["role"] == "assistant"]
    segs = labelled_segments(ex)
    assert len(segs) == len(turns)
    for (s, e), m in zip(segs, turns):
        assert tokenizer.decode(ex.input_ids[s:e]) == expected_assistant_text(m)
        assert tokenizer.decode(ex.input_ids[:s]).endswith("<|im_start|>assistant\n")  # header not labelled
    unlabelled = tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab == IGNORE])
    for m in msgs:
        if m["role"] in ("system", "user", "tool") and m.get("content"):
            assert m["content"].strip()[:200] in unlabelled


def test_text_examples_label_everything_plus_eos(tokenizer):
    exs, rep = tokenize_examples([{"text": "Gas Town conventions: use gt done."}], tokenizer, 64)
    assert rep.n_used == 1
    assert exs[0].labels == exs[0].input_ids and exs[0].input_ids[-1] == tokenizer.eos_token_id


def test_truncation_and_drops_are_reported(tokenizer):
    long_user = {"role": "user", "content": "word " * 300}
    rows = [{"example_id": "long-prompt", "messages": [long_user, {"role": "assistant", "content": "ok"}]},
            {"example_id": "empty"},
            {"example_id": "bad", "messages": [{"content": "no role"}]},
            {"example_id": "fine", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo " * 100}]}]
    exs, rep = tokenize_examples(rows, tokenizer, max_seq_len=64)
    assert [e.example_id for e in exs] == ["fine"]
    assert len(exs[0]) == 64 and rep.n_truncated == 1 and rep.n_dropped == 3
    text = " | ".join(rep.problems)
    assert "long-prompt: no assistant tokens" in text and "empty: neither" in text and "bad: message 0 has no role" in text
    exs, rep = tokenize_examples(rows[3:], tokenizer, max_seq_len=64, truncate_long=False)
    assert not exs and "truncate_long=false" in rep.problems[0]


def test_plan_rows_packs_within_capacity_deterministically():
    lengths = [50, 120, 30, 200, 90, 10, 256, 70, 60, 140]
    plan = plan_rows(lengths, 256, seed=1, epoch=0)
    assert sorted(i for row in plan for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 256 for row in plan)
    assert len(plan) == 5  # 1026 tokens: FFD reaches the lower bound ceil(1026/256)
    assert plan == plan_rows(lengths, 256, seed=1, epoch=0)
    assert plan != plan_rows(lengths, 256, seed=1, epoch=1)
    assert plan_rows(lengths, 256, 1, 0, pack=False) == [[i] for row in plan_rows(lengths, 256, 1, 0, pack=False) for i in row]
    assert len(plan_rows(lengths, 256, 1, 0, pack=False)) == 10


def test_build_row_restarts_positions_and_shifts_targets_per_example():
    from node0_ops.train.data import TokenizedExample

    a = TokenizedExample([1, 2, 3], [IGNORE, 2, 3])
    b = TokenizedExample([4, 5], [IGNORE, 5])
    row = build_row([a, b])
    assert row.input_ids.tolist() == [[1, 2, 3, 4, 5]]
    assert row.position_ids.tolist() == [[0, 1, 2, 0, 1]]
    # token 3 (end of a) must not learn to predict 4 (start of b)
    assert row.targets.tolist() == [[2, 3, IGNORE, 5, IGNORE]]
    assert row.n_targets == 3 and row.seq_lens == [3, 2]


def test_read_jsonl_reports_bad_lines(tmp_path):
    p = tmp_path / "sft_train.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "a"}]}\n{oops\n[1]\n\n')
    rows, problems = read_jsonl(p)
    assert len(rows) == 1 and rows[0]["example_id"] == "sft_train.jsonl:1"
    assert problems[0].startswith(f"{p}:2: invalid JSON") and "3: not a JSON object" in problems[1]
    (tmp_path / "sft_val.jsonl").write_text("")
    assert resolve_jsonl(tmp_path) == (p, tmp_path / "sft_val.jsonl")
    with pytest.raises(DataError, match="does not exist"):
        resolve_jsonl(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="without dpo_train.jsonl"):
        resolve_jsonl(tmp_path / "empty", "dpo")


def test_load_examples_from_lineage_db_by_corpus_version(tmp_path):
    from node0_ops.lineage.db import LineageDB, upsert

    db = LineageDB(tmp_path / "lineage.duckdb")
    msgs = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    with db.write() as con:
        upsert(con, "examples", [
            {"example_id": f"e{i}", "role": role, "task": "planning", "split": split, "messages": json.dumps(msgs)}
            for i, (role, split) in enumerate([("mayor", "train"), ("mayor", "val"), ("crew", "train"), ("mayor", "train")])])
        upsert(con, "corpus_version_members", [
            {"corpus_version": "v1", "item_kind": "example", "item_id": f"e{i}"} for i in range(3)])
    rows = load_examples_db(db, "v1", role="mayor", split="train")
    assert [r["example_id"] for r in rows] == ["e0"] and rows[0]["messages"] == msgs
    assert len(load_examples_db(db, "v1", role="mayor")) == 2
    with pytest.raises(DataError, match="corpus version 'v2'"):
        load_examples_db(db, "v2")


def test_content_hash_is_order_independent_and_content_sensitive():
    a = [{"messages": [{"role": "user", "content": "1"}]}, {"text": "t"}]
    assert content_hash(a) == content_hash(list(reversed(a)))
    assert content_hash(a) != content_hash([a[0], {"text": "u"}])


def test_trailing_unlabelled_tokens_are_trimmed(tokenizer):
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c " * 20}]
    exs, _ = tokenize_examples([{"messages": msgs}], tokenizer, 512)
    full = tokenize_chat(msgs, tokenizer)
    assert len(exs[0]) < len(full) and exs[0].labels[-1] != IGNORE
    assert tokenizer.decode(exs[0].input_ids).endswith("b<|im_end|>")


def test_read_slice_reads_an_export_folder_and_names_bad_lines(tmp_path):
    from node0_ops.train.data import read_slice

    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "bd ready"}]}
    (tmp_path / "sft_train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    (tmp_path / "sft_val.jsonl").write_text(json.dumps(row) + "\n")
    train, val = read_slice(tmp_path)
    assert [r["messages"] for r in train + val] == [row["messages"]] * 3
    (tmp_path / "sft_val.jsonl").write_text("{not json\n")
    with pytest.raises(DataError, match=r"1 bad lines: .*sft_val.jsonl:1: invalid JSON"):
        read_slice(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_slice(tmp_path / "missing.jsonl")


def test_base_gguf_of_presets_gguf_paths_and_hf_folders(tmp_path):
    from node0_ops.models.base import DEFAULT_BASE, base_gguf, preset_gguf

    assert base_gguf("smollm2-135m") == (preset_gguf("smollm2-135m"), True)
    assert base_gguf(None) == (preset_gguf(DEFAULT_BASE), True)
    assert base_gguf(str(tmp_path / "m.gguf")) == (tmp_path / "m.gguf", True)
    assert base_gguf(str(tmp_path)) == (preset_gguf(DEFAULT_BASE), False)  # HF folder: no GGUF of its own
