"""Training data: load chat examples, tokenize with the adapter chat template, mask, pack.

Tokenization renders OpenAI-shape ``messages`` with :mod:`node0_ops.train.chat_template` and
labels only assistant tokens (content, Hermes ``<tool_call>`` blocks and the closing
``<|im_end|>``): every system/user/tool token gets label -100 (ignored by the loss).
``text`` examples (continued pre-training) are labelled on every token plus a final EOS.

Packing puts several examples in one row of at most ``max_seq_len`` tokens with
``position_ids`` restarting at 0 per example and no padding. The trainer's model uses
:mod:`node0_ops.train.varlen_attention` (one causal SDPA call per example segment); with stock
sdpa/eager attention, ``attention_mask=None`` and ``use_cache=False``, transformers
(``masking_utils.find_packed_sequence_indices``) turns the position resets into a block-diagonal
causal mask instead. Either way no token attends across examples (``tests/train/test_packing.py``:
packed logits equal per-example logits within 1e-4 for sdpa, eager and varlen). Targets are
shifted per example before concatenation, so no example predicts the next example's first token,
and tokens after an example's last label are dropped (they cannot affect any loss term).

Sources: TRL-ready JSONL (``{"messages": [...]}`` or ``{"text": ...}`` per line; a folder with
``sft_train.jsonl``/``sft_val.jsonl`` as written by ``node0_ops.corpus.pipeline.write_trl_jsonl``)
or the lineage DB ``examples`` table (joined with ``corpus_version_members``).

Usage::

    rows = read_sft_jsonl("sft_train.jsonl")
    examples, report = tokenize_examples(rows, tokenizer, max_seq_len=512)
    plan = plan_rows([len(e) for e in examples], capacity=512, seed=0, epoch=0)
    batch = build_row([examples[i] for i in plan[0]])     # PackedRow, tensors of shape [1, T]
"""

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from node0_ops.train.chat_template import END_OF_TURN, normalize_messages, render

IGNORE = -100
_ASSISTANT_HEADER = "<|im_start|>assistant\n"


class DataError(ValueError):
    """Training data cannot be used (empty after filtering, unreadable file, ...)."""


@dataclass
class TokenizedExample:
    """One tokenized example.

    Attributes:
        input_ids: token ids (list of int, length L <= max_seq_len).
        labels: same length; the token id where the loss applies, else -100 (not yet shifted).
        example_id: the source id (lineage) or ``line:<n>``.
    """

    input_ids: list[int]
    labels: list[int]
    example_id: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_labels(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class DataReport:
    """What happened to the input rows: counts plus up to 20 named problems."""

    n_in: int = 0
    n_used: int = 0
    n_truncated: int = 0
    n_dropped: int = 0
    problems: list[str] = field(default_factory=list)
    n_tokens: int = 0
    n_label_tokens: int = 0

    def add_problem(self, msg: str) -> None:
        self.n_dropped += 1
        if len(self.problems) < 20:
            self.problems.append(msg)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def assistant_spans(messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """Render normalized ``messages`` and return ``(text, [(start, end), ...])`` character spans
    of each assistant turn's trainable part (content + tool calls + ``<|im_end|>``).

    Spans are found by rendering the conversation up to each assistant turn and checking the
    full rendering extends it (the template is prefix-stable).

    Raises:
        ValueError: the template is not prefix-stable for these messages.
    """
    text = render(messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        upto = render(messages[: i + 1])
        if not text.startswith(upto):
            raise ValueError("chat template is not prefix-stable: cannot locate assistant tokens")
        start = upto.rfind(_ASSISTANT_HEADER) + len(_ASSISTANT_HEADER)
        end = upto.rfind(END_OF_TURN) + len(END_OF_TURN)
        spans.append((start, end))
    return text, spans


def tokenize_chat(messages: list[dict], tokenizer, first_labelled_turn: int = 0) -> TokenizedExample:
    """Tokenize one chat; labels are the assistant tokens (any token overlapping an assistant span).

    Args:
        messages: OpenAI-shape messages (normalized here).
        tokenizer: a fast HF tokenizer (needs ``return_offsets_mapping``).
        first_labelled_turn: only assistant turns at message index >= this get labels
            (DPO labels the completion only, not assistant turns inside the prompt).
    Returns:
        TokenizedExample with untruncated ``input_ids``/``labels``.
    """
    msgs = normalize_messages(messages)
    text, spans = assistant_spans(msgs)
    turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    spans = [sp for sp, i in zip(spans, turns) if i >= first_labelled_turn]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    j = 0
    for t, (s, e) in enumerate(enc["offset_mapping"]):
        while j < len(spans) and spans[j][1] <= s:
            j += 1
        if j < len(spans) and e > spans[j][0] and s < spans[j][1]:
            labels[t] = ids[t]
    return TokenizedExample(ids, labels)


def tokenize_text(text: str, tokenizer) -> TokenizedExample:
    """Tokenize a plain document (continued pre-training): every token plus EOS is a label."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return TokenizedExample(ids, list(ids))


def trim_after_last_label(ex: TokenizedExample) -> TokenizedExample:
    """Drop tokens after the last labelled one: with causal attention they influence no loss
    term, so running them would be wasted compute (e.g. a trailing tool result or user turn)."""
    last = max((i for i, x in enumerate(ex.labels) if x != IGNORE), default=len(ex) - 1)
    if last == len(ex) - 1:
        return ex
    return TokenizedExample(ex.input_ids[:last + 1], ex.labels[:last + 1], ex.example_id)


def tokenize_examples(rows: Iterable[dict], tokenizer, max_seq_len: int, truncate_long: bool = True
                      ) -> tuple[list[TokenizedExample], DataReport]:
    """Tokenize rows (``messages`` or ``text``), truncating or dropping long ones.

    Bad rows (no messages/text, malformed messages, no assistant token left) are dropped and
    named in ``DataReport.problems``; the rest carry on.
    """
    report = DataReport()
    out = []
    for n, row in enumerate(rows):
        report.n_in += 1
        rid = str(row.get("example_id") or f"row:{n}")
        try:
            if row.get("messages"):
                ex = tokenize_chat(row["messages"], tokenizer)
            elif row.get("text"):
                ex = tokenize_text(row["text"], tokenizer)
            else:
                report.add_problem(f"{rid}: neither messages nor text")
                continue
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            report.add_problem(f"{rid}: {exc}")
            continue
        ex.example_id = rid
        if len(ex) > max_seq_len:
            if not truncate_long:
                report.add_problem(f"{rid}: {len(ex)} tokens > max_seq_len={max_seq_len} (truncate_long=false)")
                continue
            ex = TokenizedExample(ex.input_ids[:max_seq_len], ex.labels[:max_seq_len], rid)
            truncated = True
        else:
            truncated = False
        if sum(1 for x in ex.labels[1:] if x != IGNORE) == 0:
            report.add_problem(f"{rid}: no assistant tokens within max_seq_len={max_seq_len}")
            continue
        report.n_truncated += truncated
        ex = trim_after_last_label(ex)
        out.append(ex)
        report.n_used += 1
        report.n_tokens += len(ex)
        report.n_label_tokens += ex.n_labels
    return out, report


# ----------------------------------------------------------------------------- packing

@dataclass
class PackedRow:
    """One micro-batch: examples concatenated in a single row, no padding.

    Attributes:
        input_ids: LongTensor [1, T].
        position_ids: LongTensor [1, T], restarting at 0 at every example.
        targets: LongTensor [1, T]; ``targets[t]`` is the label of token t+1 of the same example
            (-100 at each example's last token and on unlabelled tokens).
        seq_lens: example lengths (sum = T).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    targets: torch.Tensor
    seq_lens: list[int]

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def n_targets(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device) -> "PackedRow":
        return PackedRow(self.input_ids.to(device), self.position_ids.to(device), self.targets.to(device), self.seq_lens)


def build_row(examples: Sequence[TokenizedExample]) -> PackedRow:
    """Concatenate examples into one :class:`PackedRow`."""
    ids, pos, tgt, lens = [], [], [], []
    for ex in examples:
        n = len(ex)
        ids.extend(ex.input_ids)
        pos.extend(range(n))
        tgt.extend(ex.labels[1:])
        tgt.append(IGNORE)
        lens.append(n)
    as_t = lambda x: torch.tensor([x], dtype=torch.long)  # noqa: E731
    return PackedRow(as_t(ids), as_t(pos), as_t(tgt), lens)


def plan_rows(lengths: Sequence[int], capacity: int, seed: int, epoch: int, bucket: int = 0,
              pack: bool = True) -> list[list[int]]:
    """Assign example indices to rows for one epoch (deterministic in ``seed`` and ``epoch``).

    Examples are shuffled, then packed first-fit-decreasing (Johnson 1973) into rows of at most
    ``capacity`` tokens within buckets of ``bucket`` examples (0: one bucket), then rows are
    shuffled. With ``pack=False`` every example is its own row.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not pack:
        return [[i] for i in order]
    size = bucket or len(order) or 1
    rows: list[list[int]] = []
    for b in range(0, len(order), size):
        chunk = sorted(order[b:b + size], key=lambda i: -lengths[i])
        bins: list[list[int]] = []
        free: list[int] = []
        for i in chunk:
            for k, room in enumerate(free):
                if lengths[i] <= room:
                    bins[k].append(i)
                    free[k] -= lengths[i]
                    break
            else:
                bins.append([i])
                free.append(capacity - lengths[i])
        rows.extend(bins)
    rng.shuffle(rows)
    return rows


# ----------------------------------------------------------------------------- sources

def read_jsonl(path: str | Path) -> tuple[list[dict], list[str]]:
    """Read a JSONL file; returns ``(rows, problems)`` where problems name ``file:line: reason``.

    Raises:
        DataError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"training data file {p} does not exist")
    rows, problems = [], []
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{p}:{n}: invalid JSON ({exc.msg} at col {exc.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{p}:{n}: not a JSON object")
                continue
            obj.setdefault("example_id", f"{p.name}:{n}")
            rows.append(obj)
    return rows, problems


def resolve_jsonl(path: str | Path, kind: str = "sft") -> tuple[Path, Path | None]:
    """``(train_file, val_file_or_None)`` for a JSONL file or an export folder holding
    ``<kind>_train.jsonl`` / ``<kind>_val.jsonl``.

    Raises:
        DataError: neither a file nor a folder with ``<kind>_train.jsonl``.
    """
    p = Path(path)
    if p.is_dir():
        train = p / f"{kind}_train.jsonl"
        if not train.is_file():
            raise DataError(f"{p} is a folder without {kind}_train.jsonl (write it with node0-corpus export)")
        val = p / f"{kind}_val.jsonl"
        return train, (val if val.is_file() else None)
    if not p.is_file():
        raise DataError(f"training data {p} does not exist")
    return p, None


def read_slice(path: str | Path, kind: str = "sft") -> tuple[list[dict], list[dict]]:
    """``(train, val)`` rows of a ``node0-corpus export`` folder or one JSONL file (val ``[]``).

    Raises:
        DataError: the path is missing, or has malformed lines (every ``file:line: reason`` named).
    """
    train_file, val_file = resolve_jsonl(path, kind)
    train, problems = read_jsonl(train_file)
    val, more = read_jsonl(val_file) if val_file else ([], [])
    if problems or more:
        bad = problems + more
        raise DataError(f"{path}: {len(bad)} bad lines: " + "; ".join(bad[:10]))
    return train, val


def load_examples_db(db, corpus_version: str, *, role: str | None = None, task: str | None = None,
                     split: str | None = None) -> list[dict]:
    """Example rows of a corpus version (:func:`node0_ops.corpus.store.load_examples`), ordered by
    ``example_id``; ``messages`` decoded (or ``text``).

    Raises:
        DataError: the corpus version is unknown.
    """
    from node0_ops.corpus import store

    if not db.scalar("select count(*) from corpus_version_members where corpus_version = ?", [corpus_version]):
        raise DataError(f"corpus version {corpus_version!r} has no members in {db.path}; "
                        "`node0-corpus stats` names the current one")
    return store.load_examples(db, corpus_version, role=role, task=task, split=split)


def load_pairs_db(db, corpus_version: str, *, role: str | None = None, task: str | None = None,
                  split: str | None = None) -> list[dict]:
    """DPO pair rows of a corpus version (:func:`node0_ops.corpus.store.load_pairs`; ``prompt`` decoded)."""
    from node0_ops.corpus import store

    return store.load_pairs(db, corpus_version, role=role, task=task, split=split)


def content_hash(rows: Sequence[dict], keys: Sequence[str] = ("messages", "text", "prompt", "chosen", "rejected")) -> str:
    """16-hex sha256 of the training content (order-independent): the corpus hash of a run."""
    items = sorted(json.dumps({k: r.get(k) for k in keys if r.get(k) is not None}, sort_keys=True,
                              ensure_ascii=False) for r in rows)
    h = hashlib.sha256()
    for it in items:
        h.update(it.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
