"""The smaller prime: a role's compact context (role card + directives + retrieved chunks under a
token budget), the size of the full prime it replaces, and the ``prime_reports`` lineage table.

**Compact context** (what the server / terminal agent puts in the system message per turn):

1. the role card (:func:`node0_ops.corpus.examples_common.role_card`, the system prompt the role
   models were trained with) plus the role's nudge from ``roles/<role>.toml``;
2. the town's (and rig's) ``directives/<role>.md`` verbatim: directives are binding
   additions to every prime of that role (formats doc §3.1), so they are never left to retrieval;
3. the top-k chunks of the town index (:mod:`.rag`) for the query (default: the role's nudge
   and duties), added nearest first while the whole text stays within ``budget_tokens``
   (default 2,500 SmolLM2 tokens, :mod:`.tokens`). Chunks that do not fit are skipped.

**Full prime** (what a live town injects into a session of the role today; our definition):

- town ``CLAUDE.md`` (Claude Code loads it from the session's ancestor folder);
- for rig roles (witness, refinery, polecat, crew) the rig's ``CLAUDE.md`` and ``AGENTS.md``
  (``<rig>/mayor/rig/``, the canonical clone every worktree is made from; also ``<rig>/`` itself);
- the ``gt prime`` output: ``logs/prime/<role>.txt`` when a capture exists (it already holds the
  rendered role template, hook, mail and the directives, so those are not counted again);
  otherwise ``templates/roles/<role>.md.tmpl`` + ``directives/<role>.md`` (town and rig).

The rig of a rig role is ``rig=`` or the one named in the prime capture's ``[prime] <rig>/...``
header, else the first rig folder of ``mayor/rigs.json``.

Every function taking ``town_root`` also takes a :class:`~node0_ops.serve.prime_source.PrimeSource`:
``PrimeSource.checkout(path)`` reads the same parts from a ``gt`` source checkout in place (the
real role templates in ``../shared/gastown-real``; layout table in :mod:`.prime_source`), and
:func:`prime_report` then refreshes that checkout's own index (prime material only) first.

**Left out** (in the report): per part of the full prime, how many of its chunks the compact
context kept (``chunks_in_compact``, ``tokens_in_compact``; a part with none is left out whole),
and the retrieved chunks that did not fit the budget (``skipped_chunks``).

Usage::

    ctx = compact_context(town, "polecat", query="my push was rejected", state=state)
    print(ctx.text, ctx.tokens)
    report = prime_report(town, "polecat", state=state)   # also writes a prime_reports row
    report = prime_report(PrimeSource.checkout("../shared/gastown-real"), "witness", state=state)
"""

import os
import tomllib
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from node0_ops.corpus.examples_common import ROLE_DUTIES, role_card
from node0_ops.corpus.schema import ROLES
from node0_ops.serve.prime_source import PrimeSource
from node0_ops.serve.tokens import count_tokens

DEFAULT_BUDGET = 2500
DEFAULT_K = 8
@dataclass
class CompactContext:
    """A role's compact context. ``chunks``: ``[{id, kind, path, distance, tokens}]`` that were included;
    ``skipped_chunks``: ``[{id, path, tokens}]`` retrieved but over the budget (``skipped`` of them);
    ``head_tokens``: the role card, nudge and directives before the chunks."""

    role: str
    text: str
    tokens: int
    bytes: int
    budget_tokens: int
    query: str
    chunks: list[dict] = field(default_factory=list)
    skipped: int = 0
    skipped_chunks: list[dict] = field(default_factory=list)
    head_tokens: int = 0


@dataclass
class FullPrime:
    """The full prime: concatenated ``text`` and ``components`` ``[{part, path, bytes, tokens}]``."""

    role: str
    rig: str | None
    text: str
    tokens: int
    bytes: int
    components: list[dict] = field(default_factory=list)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not a Gas Town role; use one of {', '.join(ROLES)}")
    return role


def role_nudge(town_root: "str | os.PathLike | PrimeSource", role: str) -> str | None:
    """``nudge`` of the role's TOML (``roles/<role>.toml``; in a checkout ``internal/config/roles/``);
    None when absent or unreadable."""
    path = PrimeSource.of(town_root).role_toml(role)
    try:
        return tomllib.loads(path.read_text()).get("nudge")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def role_card_text(town_root: "str | os.PathLike | PrimeSource", role: str, rig: str | None = None) -> str:
    """The role card plus the role's nudge (what to do when woken)."""
    card = role_card(_check_role(role), rig)
    nudge = role_nudge(town_root, role)
    return card + (f"\nWhen nudged: {nudge}" if nudge else "")


def full_prime(town_root: "str | os.PathLike | PrimeSource", role: str, rig: str | None = None) -> FullPrime:
    """The full prime of ``role`` (module docstring definition; a checkout: :mod:`.prime_source`)."""
    src = PrimeSource.of(town_root)
    _check_role(role)
    rig = rig if rig is not None else src.default_rig(role)
    texts, components = [], []
    for label, path in src.full_parts(role, rig):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        texts.append(text)
        components.append({"part": label, "path": src.rel(path), "bytes": len(text.encode()),
                           "tokens": count_tokens(text)})
    text = "\n\n".join(texts)
    return FullPrime(role, rig, text, count_tokens(text), len(text.encode()), components)


def default_query(town_root: "str | os.PathLike | PrimeSource", role: str) -> str:
    """Retrieval query when none is given: the role's duties and nudge."""
    return f"{role}: {ROLE_DUTIES[_check_role(role)]}. {role_nudge(town_root, role) or ''}".strip()


def compact_context(town_root: "str | os.PathLike | PrimeSource", role: str, query: str | None = None, *,
                    budget_tokens: int = DEFAULT_BUDGET, k: int = DEFAULT_K, state: str | os.PathLike | None = None,
                    rig: str | None = None, index=None, use_rag: bool = True) -> CompactContext:
    """Build the compact context of ``role`` (module docstring).

    Args:
        query: what the turn is about (default :func:`default_query`).
        budget_tokens: upper bound of the whole text in SmolLM2 tokens.
        k: chunks asked from the index before the budget cut.
        index: an open :class:`node0_ops.serve.rag.TownIndex` (default: the state's index of the town;
            a checkout's index is refreshed first, incrementally, as no town sensor keeps it current).
        use_rag: False = role card and directives only (no chromadb, no embedding model).

    Raises:
        ValueError: unknown role, or a budget too small for the role card and directives.
        ImportError: a checkout's index needs chromadb and the embedding model package.
    """
    src = PrimeSource.of(town_root)
    _check_role(role)
    rig = rig if rig is not None else src.default_rig(role)
    query = (query or "").strip() or default_query(src, role)
    head = role_card_text(src, role, rig)
    verbatim = src.directives(role, rig)
    for path in verbatim:
        head += "\n\n## Directives (" + src.rel(path) + ")\n" + path.read_text(errors="replace").strip()
    used = head_tokens = count_tokens(head)
    if used > budget_tokens:
        raise ValueError(f"budget_tokens={budget_tokens} is smaller than the role card + directives ({used} tokens); "
                         f"raise the budget")
    included, skipped, body = [], [], []
    if use_rag:
        if index is None:
            from node0_ops.serve.rag import TownIndex, rag_index_refresh

            if src.layout == "checkout":
                rag_index_refresh(state, src.root, kinds=src.index_kinds)
            index = TownIndex(state, src.root)
        sep = "\n\n## Relevant town context\n"
        room = budget_tokens - used - count_tokens(sep)
        shown = {src.rel(p) for p in verbatim}
        for hit in index.query(query, role=role, k=k):
            if hit.get("path") in shown:  # a directive already included verbatim
                continue
            n = count_tokens("\n\n" + hit["text"])
            if n > room:
                skipped.append({"id": hit["id"], "path": hit.get("path"), "tokens": n})
                continue
            room -= n
            body.append(hit["text"])
            included.append({"id": hit["id"], "kind": hit.get("kind"), "path": hit.get("path"),
                             "distance": round(hit["distance"], 4), "tokens": n})
        if body:
            head += sep + "\n\n".join(body)
    return CompactContext(role, head, count_tokens(head), len(head.encode()), budget_tokens, query, included,
                          len(skipped), skipped, head_tokens)


def prime_report(town_root: "str | os.PathLike | PrimeSource", role: str, *, state: str | os.PathLike | None = None,
                 query: str | None = None, budget_tokens: int = DEFAULT_BUDGET, rig: str | None = None,
                 record: bool = True) -> dict:
    """Compare the compact context with the full prime and record both in ``prime_reports``.

    A checkout (:class:`PrimeSource`) gets its index refreshed first (incremental; prime material only).

    Returns:
        ``{"report_id", "role", "rig", "source": {root, layout}, "full": {tokens, bytes, components},
        "compact": {tokens, bytes, head_tokens, chunks, skipped, skipped_chunks}, "left_out": [part, ...],
        "token_ratio", "byte_ratio"}`` (ratio = compact / full). Each full component carries
        ``chunks_in_compact`` / ``tokens_in_compact``; ``left_out`` names the parts none of whose chunks
        made it into the compact context. The recorded row's ``components`` holds the same.

    Raises:
        ValueError: unknown role.  FileNotFoundError: the town has none of the prime files.
        ImportError: a checkout's index needs chromadb and the embedding model package.
    """
    from node0_ops.lineage.db import LineageDB, dumps, upsert
    from node0_ops.paths import lineage_db_path

    src = PrimeSource.of(town_root)
    full = full_prime(src, role, rig)
    if not full.components:
        raise FileNotFoundError(f"{src.root}: no CLAUDE.md, role template or prime capture for role {role!r}")
    index_counts = None
    if src.layout == "checkout":
        from node0_ops.serve.rag import rag_index_refresh

        index_counts = rag_index_refresh(state, src.root, kinds=src.index_kinds)
    index = None
    if index_counts is not None:
        from node0_ops.serve.rag import TownIndex

        index = TownIndex(state, src.root)
    ctx = compact_context(src, role, query, budget_tokens=budget_tokens, state=state, rig=full.rig, index=index)
    for comp in full.components:
        kept = [c for c in ctx.chunks if c["path"] == comp["path"]]
        comp.update(chunks_in_compact=len(kept), tokens_in_compact=sum(c["tokens"] for c in kept))
    report = {
        "report_id": uuid.uuid4().hex[:16], "role": role, "rig": full.rig, "town_root": str(src.root.resolve()),
        "source": {"root": str(src.root.resolve()), "layout": src.layout, "index": index_counts},
        "query": ctx.query, "budget_tokens": budget_tokens,
        "full": {"tokens": full.tokens, "bytes": full.bytes, "components": full.components},
        "compact": {"tokens": ctx.tokens, "bytes": ctx.bytes, "head_tokens": ctx.head_tokens, "chunks": ctx.chunks,
                    "skipped": ctx.skipped, "skipped_chunks": ctx.skipped_chunks},
        "left_out": [c["part"] for c in full.components if not c["chunks_in_compact"]],
        "token_ratio": round(ctx.tokens / full.tokens, 4) if full.tokens else None,
        "byte_ratio": round(ctx.bytes / full.bytes, 4) if full.bytes else None,
    }
    if record:
        db = LineageDB(lineage_db_path(state))
        with db.write() as con:
            upsert(con, "prime_reports", [{
                "report_id": report["report_id"], "ts": datetime.now(timezone.utc).replace(tzinfo=None),
                "town_root": report["town_root"], "role": role, "rig": full.rig, "query": ctx.query,
                "budget_tokens": budget_tokens, "full_tokens": full.tokens, "full_bytes": full.bytes,
                "compact_tokens": ctx.tokens, "compact_bytes": ctx.bytes, "token_ratio": report["token_ratio"],
                "byte_ratio": report["byte_ratio"], "n_chunks": len(ctx.chunks),
                "components": dumps(full.components), "chunk_ids": [c["id"] for c in ctx.chunks]}])
    return report


def as_dict(obj) -> dict:
    """Dataclass -> dict (for ``--json`` output)."""
    return asdict(obj)
