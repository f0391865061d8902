"""Train/eval leakage checks: is a held-out suite prompt in the training corpus, exactly or as a
near-duplicate, and do the suite builder and the corpus generators share string templates?

- Exact: a suite message text (normalised: lower-case, whitespace collapsed) equals a training
  message text or is contained in one.
- Near-duplicate: Jaccard similarity of character k-gram shingle sets (Broder 1997, "On the
  resemblance and containment of documents"; k=5 by default) >= ``threshold`` (default 0.8).
  Candidate pairs come from an inverted index over a *prefix* of each suite shingle set
  (prefix filtering, Chaudhuri et al. 2006 / Bayardo et al. 2007 "All-pairs"): J(A, B) >= t
  implies |A & B| >= ceil(t |A|), so B must contain one of any |A| - ceil(t |A|) + 1 elements of
  A; we index the rarest ones. A size filter (t |A| <= |B| <= |A| / t) drops the rest before the
  exact Jaccard. No false negatives, no extra package.
- Shared templates: string literals of at least ``min_len`` characters (``ast`` constants and
  the constant parts of f-strings; docstrings skipped) of one set of Python files that occur in
  the source text of the other set, except facts of the tools (bare ``bd``/``gt``/``git`` command
  lines and the fixed messages in :data:`TOOL_OUTPUTS`).

Usage::

    from node0_ops.evals.leakage import check_leakage, shared_templates
    report = check_leakage(load_suite("v2"), corpus_export_dir)     # folder with sft_*.jsonl, dpo_*.jsonl
    assert report.ok, report.summary()
    shared_templates([Path("node0_ops/evals/suite/build_v2.py")], sorted(Path("node0_ops/corpus").rglob("*.py")))
"""

import ast
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", str(text or "")).strip().lower()


def shingles(text: str, k: int = 5) -> set[str]:
    """Set of character ``k``-grams of :func:`normalize` (text) (the whole text when shorter)."""
    t = normalize(text)
    if len(t) <= k:
        return {t} if t else set()
    return {t[i:i + k] for i in range(len(t) - k + 1)}


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b| (0.0 for two empty sets)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class Match:
    """A suite text found in the corpus: ``query`` id (``task_id:message#``), training ``target`` id,
    ``kind`` (``exact``, ``contained`` or ``near``) and Jaccard ``similarity``."""

    query: str
    target: str
    kind: str
    similarity: float


class NearDuplicateIndex:
    """Prefix-filtered inverted index over query shingle sets (see the module docstring).

    Args:
        queries: ``{id: text}`` (the held-out prompts).
        threshold: Jaccard threshold in (0, 1].  k: shingle length (characters).

    Raises:
        ValueError: threshold outside (0, 1] or k < 1.
    """

    def __init__(self, queries: dict[str, str], threshold: float = 0.8, k: int = 5):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold={threshold}: use a Jaccard similarity in (0, 1], e.g. 0.8")
        if k < 1:
            raise ValueError(f"k={k}: shingles need at least 1 character")
        self.threshold, self.k = threshold, k
        self.sets = {q: shingles(t, k) for q, t in queries.items()}
        self.sets = {q: s for q, s in self.sets.items() if s}
        freq = Counter(s for sh in self.sets.values() for s in sh)
        self.index: dict[str, list[str]] = defaultdict(list)
        for q, sh in self.sets.items():
            n_prefix = len(sh) - math.ceil(threshold * len(sh)) + 1
            for s in sorted(sh, key=lambda x: (freq[x], x))[:n_prefix]:
                self.index[s].append(q)

    def matches(self, target_id: str, text: str) -> list[Match]:
        """Queries whose Jaccard similarity with ``text`` is >= the threshold."""
        b = shingles(text, self.k)
        if not b:
            return []
        cands = {q for s in b if s in self.index for q in self.index[s]}
        out = []
        for q in sorted(cands):
            a = self.sets[q]
            if not (self.threshold * len(a) <= len(b) <= len(a) / self.threshold):
                continue
            sim = jaccard(a, b)
            if sim >= self.threshold:
                out.append(Match(q, target_id, "near", round(sim, 4)))
        return out


def exact_matches(queries: dict[str, str], targets: Iterable[tuple[str, str]], min_chars: int = 40) -> list[Match]:
    """Queries equal to a target text, or (when at least ``min_chars`` long) contained in one,
    after :func:`normalize`."""
    qn = {q: normalize(t) for q, t in queries.items()}
    by_text = defaultdict(list)
    for q, t in qn.items():
        if t:
            by_text[t].append(q)
    targets = [(tid, normalize(text)) for tid, text in targets]
    out, seen = [], set()
    for tid, t in targets:
        for q in by_text.get(t, ()):
            out.append(Match(q, tid, "exact", 1.0))
            seen.add(q)
    blob = "\x00".join(t for _, t in targets)  # one C-level substring search per query, then locate
    for q, qt in qn.items():
        if q in seen or len(qt) < min_chars or qt not in blob:
            continue
        tid = next(tid for tid, t in targets if qt in t)
        out.append(Match(q, tid, "contained", 1.0))
    return out


def suite_texts(tasks, min_chars: int = 1) -> dict[str, str]:
    """``{"<task_id>:<i>": content}`` for the system/user messages of eval tasks (dicts or
    :class:`~node0_ops.evals.tasks.EvalTask`)."""
    out = {}
    for t in tasks:
        tid = t["task_id"] if isinstance(t, dict) else t.task_id
        msgs = t["messages"] if isinstance(t, dict) else t.messages
        for i, m in enumerate(msgs):
            if m.get("role") in ("system", "user") and len(str(m.get("content") or "")) >= min_chars:
                out[f"{tid}:{i}"] = str(m["content"])
    return out


def training_texts(corpus_dir: Path) -> Iterable[tuple[str, str]]:
    """``(id, text)`` for every system/user message (and plain ``text`` row) of the corpus export:
    ``sft_<split>.jsonl`` (``messages`` or ``text``) and ``dpo_<split>.jsonl`` (``prompt``, a
    message list or a string), all splits. Ids are ``<file>:<line>:<message#>``.

    Raises:
        FileNotFoundError: when ``corpus_dir`` holds no ``sft_*.jsonl``.
        ValueError: a line that is not JSON (file:line named).
    """
    corpus_dir = Path(corpus_dir)
    files = sorted(corpus_dir.glob("sft_*.jsonl")) + sorted(corpus_dir.glob("dpo_*.jsonl"))
    if not any(f.name.startswith("sft_") for f in files):
        raise FileNotFoundError(f"no sft_*.jsonl under {corpus_dir}: pass a corpus export folder (pipeline.write_trl_jsonl)")
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{f.name}:{n}: invalid JSON: {exc}") from exc
            msgs = row.get("messages") if "messages" in row else row.get("prompt")
            if isinstance(msgs, str):
                yield f"{f.name}:{n}:0", msgs
            elif isinstance(msgs, list):
                for i, m in enumerate(msgs):
                    if isinstance(m, dict) and m.get("role") in ("system", "user"):
                        yield f"{f.name}:{n}:{i}", str(m.get("content") or "")
            if isinstance(row.get("text"), str):
                yield f"{f.name}:{n}:text", row["text"]


@dataclass
class LeakageReport:
    """Result of :func:`check_leakage`: ``exact`` and ``near`` matches, counts scanned."""

    exact: list[Match] = field(default_factory=list)
    near: list[Match] = field(default_factory=list)
    n_queries: int = 0
    n_targets: int = 0
    threshold: float = 0.8

    @property
    def ok(self) -> bool:
        return not self.exact and not self.near

    def summary(self, limit: int = 10) -> str:
        lines = [f"{self.n_queries} suite texts vs {self.n_targets} training texts: {len(self.exact)} exact/contained, "
                 f"{len(self.near)} near-duplicates (Jaccard >= {self.threshold})"]
        lines += [f"  {m.kind} {m.query} ~ {m.target} ({m.similarity})" for m in (self.exact + self.near)[:limit]]
        return "\n".join(lines)


def check_leakage(tasks, corpus, *, threshold: float = 0.8, k: int = 5) -> LeakageReport:
    """Exact and near-duplicate matches of the suite's system/user texts in a corpus.

    Args:
        tasks: eval tasks (``EvalTask`` or dicts).
        corpus: a corpus export folder (see :func:`training_texts`) or an iterable of ``(id, text)``.
        threshold / k: near-duplicate Jaccard threshold and shingle length.
    """
    queries = suite_texts(tasks)
    targets = list(training_texts(corpus) if isinstance(corpus, (str, Path)) else corpus)
    index = NearDuplicateIndex(queries, threshold, k)
    near = [m for tid, text in targets for m in index.matches(tid, text)]
    return LeakageReport(exact_matches(queries, targets), near, len(queries), len(targets), threshold)


# --------------------------------------------------------------------------- shared templates

def string_literals(source: str, min_len: int = 25, *, skip_docstrings: bool = True) -> set[str]:
    """String constants of at least ``min_len`` characters in Python ``source`` (including the
    constant parts of f-strings); module/class/function docstrings skipped when asked.

    Raises:
        SyntaxError: when ``source`` does not parse.
    """
    tree = ast.parse(source)
    docs = set()
    if skip_docstrings:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                    docs.add(id(first.value))
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) >= min_len and id(n) not in docs}


# Literals both sides must spell verbatim because they are facts of the tools, not phrasing: bare
# bd/gt/git invocations (command names and flags from the formulas and the CLI reference) and the
# fixed messages those tools print. Anything else shared counts as a template.
_CLI_LINE = re.compile(r"(?:bd|gt|git)(?: [a-z][a-z0-9-]*)+(?: --?[a-z][a-z0-9-]*(?:=[a-z_]+)?)*\s*")
TOOL_OUTPUTS = frozenset({
    "No merge requests in queue.",                          # gt mq list, empty queue
    "Successfully rebased and updated refs/heads/temp.",    # git rebase, branch temp (refinery formula)
    ": connect: connection refused",                        # Go net.Dial error suffix
    "0123456789abcdefghijklmnopqrstuvwxyz",                 # base36 alphabet of bead hash ids
})


def is_tool_fact(literal: str) -> bool:
    """True for a bare ``bd``/``gt``/``git`` command line or a fixed tool message (:data:`TOOL_OUTPUTS`)."""
    return literal in TOOL_OUTPUTS or bool(_CLI_LINE.fullmatch(literal))


def shared_templates(side_a: Iterable[Path], side_b: Iterable[Path], min_len: int = 25,
                     exempt=is_tool_fact) -> list[tuple[str, str, str]]:
    """String literals (>= ``min_len`` chars) of files in ``side_a`` that occur in the source text
    of a file in ``side_b``, and vice versa: ``[(literal, defined_in, found_in)]``. Literals for
    which ``exempt(literal)`` is true (default :func:`is_tool_fact`) are not counted; pass
    ``exempt=lambda s: False`` for the strict check.

    Raises:
        SyntaxError: naming the file that does not parse.
    """
    a = {Path(p): Path(p).read_text() for p in side_a}
    b = {Path(p): Path(p).read_text() for p in side_b}

    def lits(path: Path, src: str) -> set[str]:
        try:
            return string_literals(src, min_len)
        except SyntaxError as exc:
            raise SyntaxError(f"{path}: {exc}") from exc

    out = []
    for src_side, other in ((a, b), (b, a)):
        for path, src in src_side.items():
            for lit in sorted(lits(path, src)):
                if exempt(lit):
                    continue
                for opath, osrc in other.items():
                    if lit in osrc:
                        out.append((lit, str(path), str(opath)))
    return sorted(set(out))
