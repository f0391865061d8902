"""Data contracts shared by every corpus stage (collect, scrub, format, partition).

Everything is JSON-serialisable so it round-trips through DuckDB and JSONL.
Formats of the sources are documented in ``shared/docs/gastown-formats.md``.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("mayor", "deacon", "boot", "witness", "refinery", "polecat", "crew", "dog")
TASKS = ("bead-management", "git-workflow", "code-review", "planning", "patrol-decision", "conventions", "formula")
SPLITS = ("train", "val", "test")

# Source kinds the collector emits (Record.kind / Provenance.source_kind).
SOURCE_KINDS = (
    "transcript",       # Claude Code session JSONL; one Record per session file
    "claude_md",        # CLAUDE.md / AGENTS.md / AGENT_INSTRUCTIONS.md / SKILL.md
    "formula",          # *.formula.toml (workflow/convoy/expansion/aspect), also *.formula.json
    "formula_overlay",  # formula-overlays/<formula>.toml
    "role_template",    # templates/roles/<role>.md.tmpl and other *.md.tmpl
    "role_config",      # internal/config/roles/<role>.toml
    "doc",              # docs/specs/plans markdown
    "beads_issue",      # one normalized issue from any of the three beads dialects
    "beads_event",      # beads audit event (backup events.jsonl)
    "beads_config",     # backup config.jsonl rows, .beads/config.yaml
    "merge_request",    # .beads/mq/*.json
    "town_event",       # ~/gt/.events.jsonl and .feed.jsonl lines
    "settings",         # town/rig settings JSON (settings/config.json etc.)
    "prime_output",     # saved `gt prime` output
)


def stable_id(*parts: Any, n: int = 16) -> str:
    """Hex sha256 of the JSON encoding of ``parts``, truncated to ``n`` chars."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


@dataclass(frozen=True)
class Provenance:
    """Where a record's bytes came from.

    Attributes:
        path: absolute path of the source file.
        sha256: hex sha256 of the whole file's bytes at collection time.
        line: 1-based line number for line-oriented files (JSONL), else None.
        offset: byte offset of the record's first byte, else None.
        source_kind: one of :data:`SOURCE_KINDS`.
        rig: rig name when the path or content says so, else None.
        role: one of :data:`ROLES` when known, else None.
    """

    path: str
    sha256: str
    line: int | None = None
    offset: int | None = None
    source_kind: str = ""
    rig: str | None = None
    role: str | None = None


@dataclass
class Record:
    """One parsed unit of source material.

    Attributes:
        kind: one of :data:`SOURCE_KINDS`.
        source_key: split-grouping key; everything sharing it lands in one split
            (``session:<uuid>``, ``bead:<id>``, ``formula:<name>``, ``file:<name>``).
        payload: normalized, JSON-serialisable content (shape per kind, see collect.py).
        provenance: where the bytes came from.
        record_id: 16-hex id, stable for the same file bytes and position.
    """

    kind: str
    source_key: str
    payload: dict
    provenance: Provenance
    record_id: str = ""

    def __post_init__(self) -> None:
        if not self.record_id:
            p = self.provenance
            self.record_id = stable_id(p.path, p.sha256, p.line, p.offset, self.kind, self.source_key)

    def to_row(self) -> dict:
        """Flat dict for the ``records`` lineage table (payload JSON-encoded)."""
        p = self.provenance
        return {
            "record_id": self.record_id, "kind": self.kind, "source_key": self.source_key,
            "path": p.path, "sha256": p.sha256, "line": p.line, "byte_offset": p.offset,
            "rig": p.rig, "role": p.role, "payload": json.dumps(self.payload, ensure_ascii=False, default=str),
        }

    @classmethod
    def from_row(cls, row: dict) -> "Record":
        prov = Provenance(row["path"], row["sha256"], row.get("line"), row.get("byte_offset"),
                          row["kind"], row.get("rig"), row.get("role"))
        payload = row["payload"]
        if isinstance(payload, str):
            payload = json.loads(payload)
        return cls(row["kind"], row["source_key"], payload, prov, row["record_id"])


@dataclass(frozen=True)
class QuarantineEntry:
    """A bad input kept aside: never silently dropped.

    Attributes:
        path: file path.
        position: human-readable position, e.g. ``line 17``, ``byte 0``, ``whole file``.
        reason: what is wrong, e.g. ``invalid JSON: Expecting ',' at col 40``.
        source_kind: kind the file was collected as ('' if unknown).
    """

    path: str
    position: str
    reason: str
    source_kind: str = ""


@dataclass
class SourceFile:
    """One file seen by the collector, with its outcome counts."""

    path: str
    sha256: str
    size_bytes: int
    kind: str
    rig: str | None = None
    role: str | None = None
    n_records: int = 0
    n_quarantined: int = 0


@dataclass
class CollectResult:
    """Output of the collect stage."""

    records: list[Record] = field(default_factory=list)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    sources: list[SourceFile] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> files skipped as irrelevant

    def extend(self, other: "CollectResult") -> None:
        self.records += other.records
        self.quarantine += other.quarantine
        self.sources += other.sources
        for k, v in other.skipped.items():
            self.skipped[k] = self.skipped.get(k, 0) + v


@dataclass(frozen=True)
class Redaction:
    """One scrubbed entity type in one record; the secret itself is never stored."""

    record_id: str
    entity_type: str   # e.g. EMAIL_ADDRESS, GITHUB_TOKEN, AWS_ACCESS_KEY
    count: int
    recognizer: str    # presidio recognizer name


@dataclass
class Example:
    """One SFT example.

    Attributes:
        kind: ``chat`` (``messages`` set, OpenAI shape: ``{"role": "system"|"user"|
            "assistant"|"tool", "content": str, "tool_calls"?: [...], "tool_call_id"?: str}``)
            or ``text`` (``text`` set, a document for continued pre-training).
        role: one of :data:`ROLES`.  task: one of :data:`TASKS`.
        origin: generator name (``transcript``, ``beads``, ``formula``, ``convention``, ``doc``).
        source_key: split-grouping key inherited from the records.
        record_ids: records this example was derived from (lineage).
        split: ``train``/``val``/``test``; set by the partition stage.
    """

    kind: str
    role: str
    task: str
    origin: str
    source_key: str
    record_ids: list[str]
    messages: list[dict] | None = None
    text: str | None = None
    split: str = ""
    meta: dict = field(default_factory=dict)
    example_id: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Example.role={self.role!r} is not one of {ROLES}")
        if self.task not in TASKS:
            raise ValueError(f"Example.task={self.task!r} is not one of {TASKS}")
        if (self.messages is None) == (self.text is None):
            raise ValueError("Example needs exactly one of messages (kind=chat) or text (kind=text)")
        if not self.example_id:
            self.example_id = stable_id(self.role, self.task, self.messages, self.text)

    def content_text(self) -> str:
        """All text of the example (for dedup, token counts and re-scans)."""
        if self.text is not None:
            return self.text
        parts = []
        for m in self.messages or []:
            parts.append(str(m.get("content") or ""))
            for call in m.get("tool_calls") or []:
                parts.append(json.dumps(call, ensure_ascii=False, sort_keys=True))
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DpoPair:
    """One preference pair (TRL conversational DPO format).

    Attributes:
        prompt: messages up to the decision point (list of OpenAI-shape dicts).
        chosen / rejected: assistant replies (strings).
        failure_mode: what is wrong with ``rejected``: ``pkill``, ``force_push``,
            ``no_verify``, ``wrong_dep_direction``, ``raw_shell``, ``wrong_branch``,
            ``timeout``, ``broke_tests``, ``ignored_conventions``, ``skipped_hooks``, ...
        origin: ``session_pair`` (successful vs failed session), ``session_fix`` (a real failed
            command vs the same command corrected) or ``mutation`` (rule-based).
    """

    role: str
    task: str
    prompt: list[dict]
    chosen: str
    rejected: str
    failure_mode: str
    origin: str
    source_key: str
    record_ids: list[str]
    split: str = ""
    pair_id: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"DpoPair.role={self.role!r} is not one of {ROLES}")
        if self.task not in TASKS:
            raise ValueError(f"DpoPair.task={self.task!r} is not one of {TASKS}")
        if self.chosen == self.rejected:
            raise ValueError("DpoPair.chosen and rejected are identical")
        if not self.pair_id:
            self.pair_id = stable_id(self.prompt, self.chosen, self.rejected)

    def to_dict(self) -> dict:
        return asdict(self)
