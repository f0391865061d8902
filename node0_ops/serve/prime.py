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

Usage::

    ctx = compact_context(town, "polecat", query="my push was rejected", state=state)
    print(ctx.text, ctx.tokens)
    report = prime_report(town, "polecat", state=state)   # also writes a prime_reports row
"""

import os
import re
import tomllib
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from node0_ops.corpus.examples_common import ROLE_DUTIES, role_card
from node0_ops.corpus.schema import ROLES
from node0_ops.serve.tokens import count_tokens

DEFAULT_BUDGET = 2500
DEFAULT_K = 8
PRIME_DDL = [
    """create table if not exists prime_reports (
        report_id varchar primary key, ts timestamp, town_root varchar, role varchar, rig varchar,
        query varchar, budget_tokens integer, full_tokens integer, full_bytes bigint,
        compact_tokens integer, compact_bytes bigint, token_ratio double, byte_ratio double,
        n_chunks integer, components varchar, chunk_ids varchar[])""",
]
_PRIME_HEADER = re.compile(r"^\[prime\] (?P<rig>[\w.-]+)/", re.M)


@dataclass
class CompactContext:
    """A role's compact context. ``chunks``: ``[{id, kind, path, distance, tokens}]`` that were included."""

    role: str
    text: str
    tokens: int
    bytes: int
    budget_tokens: int
    query: str
    chunks: list[dict] = field(default_factory=list)
    skipped: int = 0


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


def role_nudge(town_root: Path, role: str) -> str | None:
    """``nudge`` of ``<town>/roles/<role>.toml`` (None when absent or unreadable)."""
    path = Path(town_root) / "roles" / f"{role}.toml"
    try:
        return tomllib.loads(path.read_text()).get("nudge")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def rigs(town_root: Path) -> list[str]:
    """Rig folders of the town: names in ``mayor/rigs.json`` that exist, else folders with ``config.json``."""
    import json

    town = Path(town_root)
    try:
        names = list(json.loads((town / "mayor" / "rigs.json").read_text()).get("rigs", {}))
    except (OSError, ValueError, AttributeError):
        names = []
    found = [n for n in names if (town / n).is_dir()]
    return found or sorted(p.parent.name for p in town.glob("*/config.json") if p.parent.name != "mayor")


def default_rig(town_root: Path, role: str) -> str | None:
    """Rig used for a rig role (module docstring); None for town roles or a town without rigs."""
    # imported here: node0_ops.registry.deploy pulls in duckdb (~0.2 s), too much for importing prime
    from node0_ops.registry.deploy import RIG_ROLES

    if role not in RIG_ROLES:
        return None
    capture = Path(town_root) / "logs" / "prime" / f"{role}.txt"
    if capture.is_file():
        m = _PRIME_HEADER.search(capture.read_text(errors="replace"))
        if m and (Path(town_root) / m["rig"]).is_dir():
            return m["rig"]
    found = rigs(town_root)
    return found[0] if found else None


def directives(town_root: Path, role: str, rig: str | None) -> list[Path]:
    """Existing ``directives/<role>.md`` of the town and of the rig."""
    town = Path(town_root)
    cands = [town / "directives" / f"{role}.md"] + ([town / rig / "directives" / f"{role}.md"] if rig else [])
    return [p for p in cands if p.is_file()]


def role_card_text(town_root: Path, role: str, rig: str | None = None) -> str:
    """The role card plus the role's nudge (what to do when woken)."""
    card = role_card(_check_role(role), rig)
    nudge = role_nudge(town_root, role)
    return card + (f"\nWhen nudged: {nudge}" if nudge else "")


def full_prime(town_root: str | os.PathLike, role: str, rig: str | None = None) -> FullPrime:
    """The full prime of ``role`` (module docstring definition)."""
    town = Path(town_root)
    _check_role(role)
    rig = rig if rig is not None else default_rig(town, role)
    parts: list[tuple[str, Path]] = [("town CLAUDE.md", town / "CLAUDE.md")]
    if rig:
        for folder in (town / rig, town / rig / "mayor" / "rig"):
            parts += [(f"rig {name}", folder / name) for name in ("CLAUDE.md", "AGENTS.md")]
    capture = town / "logs" / "prime" / f"{role}.txt"
    if capture.is_file():
        parts.append(("gt prime output (captured)", capture))
    else:
        parts.append(("role template", town / "templates" / "roles" / f"{role}.md.tmpl"))
        parts += [("directives", p) for p in directives(town, role, rig)]
    texts, components = [], []
    for label, path in parts:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        texts.append(text)
        components.append({"part": label, "path": str(path.relative_to(town)), "bytes": len(text.encode()),
                           "tokens": count_tokens(text)})
    text = "\n\n".join(texts)
    return FullPrime(role, rig, text, count_tokens(text), len(text.encode()), components)


def default_query(town_root: Path, role: str) -> str:
    """Retrieval query when none is given: the role's duties and nudge."""
    return f"{role}: {ROLE_DUTIES[_check_role(role)]}. {role_nudge(town_root, role) or ''}".strip()


def compact_context(town_root: str | os.PathLike, role: str, query: str | None = None, *,
                    budget_tokens: int = DEFAULT_BUDGET, k: int = DEFAULT_K, state: str | os.PathLike | None = None,
                    rig: str | None = None, index=None, use_rag: bool = True) -> CompactContext:
    """Build the compact context of ``role`` (module docstring).

    Args:
        query: what the turn is about (default :func:`default_query`).
        budget_tokens: upper bound of the whole text in SmolLM2 tokens.
        k: chunks asked from the index before the budget cut.
        index: an open :class:`node0_ops.serve.rag.TownIndex` (default: the state's index of the town).
        use_rag: False = role card and directives only (no chromadb, no embedding model).

    Raises:
        ValueError: unknown role, or a budget too small for the role card and directives.
    """
    town = Path(town_root)
    _check_role(role)
    rig = rig if rig is not None else default_rig(town, role)
    query = (query or "").strip() or default_query(town, role)
    head = role_card_text(town, role, rig)
    verbatim = directives(town, role, rig)
    for path in verbatim:
        head += "\n\n## Directives (" + str(path.relative_to(town)) + ")\n" + path.read_text(errors="replace").strip()
    used = count_tokens(head)
    if used > budget_tokens:
        raise ValueError(f"budget_tokens={budget_tokens} is smaller than the role card + directives ({used} tokens); "
                         f"raise the budget")
    included, skipped, body = [], 0, []
    if use_rag:
        if index is None:
            from node0_ops.serve.rag import TownIndex

            index = TownIndex(state, town)
        sep = "\n\n## Relevant town context\n"
        room = budget_tokens - used - count_tokens(sep)
        shown = {str(p.relative_to(town)) for p in verbatim}
        for hit in index.query(query, role=role, k=k):
            if hit.get("path") in shown:  # a directive already included verbatim
                continue
            n = count_tokens("\n\n" + hit["text"])
            if n > room:
                skipped += 1
                continue
            room -= n
            body.append(hit["text"])
            included.append({"id": hit["id"], "kind": hit.get("kind"), "path": hit.get("path"),
                             "distance": round(hit["distance"], 4), "tokens": n})
        if body:
            head += sep + "\n\n".join(body)
    return CompactContext(role, head, count_tokens(head), len(head.encode()), budget_tokens, query, included, skipped)


def prime_report(town_root: str | os.PathLike, role: str, *, state: str | os.PathLike | None = None,
                 query: str | None = None, budget_tokens: int = DEFAULT_BUDGET, rig: str | None = None,
                 record: bool = True) -> dict:
    """Compare the compact context with the full prime and record both in ``prime_reports``.

    Returns:
        ``{"report_id", "role", "rig", "full": {tokens, bytes, components}, "compact": {tokens, bytes,
        chunks}, "token_ratio", "byte_ratio"}`` (ratio = compact / full).

    Raises:
        ValueError: unknown role.  FileNotFoundError: the town has none of the prime files.
    """
    from node0_ops.lineage.db import LineageDB, dumps, upsert
    from node0_ops.paths import lineage_db_path

    town = Path(town_root)
    full = full_prime(town, role, rig)
    if not full.components:
        raise FileNotFoundError(f"{town}: no CLAUDE.md, role template or prime capture for role {role!r}")
    ctx = compact_context(town, role, query, budget_tokens=budget_tokens, state=state, rig=full.rig)
    report = {
        "report_id": uuid.uuid4().hex[:16], "role": role, "rig": full.rig, "town_root": str(town.resolve()),
        "query": ctx.query, "budget_tokens": budget_tokens,
        "full": {"tokens": full.tokens, "bytes": full.bytes, "components": full.components},
        "compact": {"tokens": ctx.tokens, "bytes": ctx.bytes, "chunks": ctx.chunks, "skipped": ctx.skipped},
        "token_ratio": round(ctx.tokens / full.tokens, 4) if full.tokens else None,
        "byte_ratio": round(ctx.bytes / full.bytes, 4) if full.bytes else None,
    }
    if record:
        db = LineageDB(lineage_db_path(state), extra_ddl=PRIME_DDL)
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
