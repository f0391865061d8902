"""Every exit scanned: secrets/PII in an export's text artifacts block it before it is registered.

An export leaves the machine as GGUF files, Modelfiles, a model card and JSON
metadata; any of them could carry a secret that slipped into adapter metadata,
lineage or a system prompt. :func:`scan_export` re-scans them with the corpus
scrubber's full rule set (detect-secrets plugins, presidio PII recognizers, our
own rules; :class:`node0_ops.corpus.scrub.Scrubber`), and :func:`require_clean_export`
raises :class:`ExportLeakError` so ``export_model`` never writes its manifest (and the
``exported_model`` asset never registers the export) while a finding remains.

Scanned: ``README.md`` (model card), every ``Modelfile``, every string value in
the key/value header of every ``.gguf`` (arrays such as the tokenizer vocabulary
are skipped: they come from the base model's tokenizer), every ``*.json`` of the
export except the tokenizer's own files, and the input adapters' metadata
(``gastown_adapter.json``, ``adapter_config.json``).

Usage::

    from node0_ops.export.scan import scan_export, require_clean_export
    findings = scan_export(out_dir, adapters=[Path("adapters/polecat")])   # [] when clean
    require_clean_export(out_dir, adapters)        # raises ExportLeakError naming file, key, kind
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Tokenizer files: the base model's own vocabulary and merges, not our metadata.
TOKENIZER_FILES = frozenset({"tokenizer.json", "tokenizer_config.json", "vocab.json", "special_tokens_map.json",
                             "added_tokens.json"})
ADAPTER_META_FILES = ("gastown_adapter.json", "adapter_config.json")


@dataclass(frozen=True)
class ExportFinding:
    """One detection in an export artifact; ``preview`` masks the value (first 2 chars + length).

    Attributes:
        path: the scanned file. where: GGUF key or ``text``. entity_type / recognizer: what found it.
    """

    path: str
    where: str
    entity_type: str
    recognizer: str
    preview: str


class ExportLeakError(ValueError):
    """An export artifact holds a secret or personal data; ``findings`` lists them (values masked)."""

    def __init__(self, findings: Sequence[ExportFinding]):
        self.findings = list(findings)
        lines = [f"  {f.path} [{f.where}] {f.entity_type} by {f.recognizer}: {f.preview}" for f in self.findings[:10]]
        super().__init__(f"export blocked: {len(self.findings)} secret/PII finding(s) in its artifacts "
                         "(remove them from the adapter metadata, lineage or system prompt and export again):\n"
                         + "\n".join(lines))


def _texts(out_dir: Path, adapters: Iterable[Path]) -> Iterable[tuple[Path, str, str]]:
    """``(file, where, text)`` for every scanned piece (see module docstring)."""
    from node0_ops.export.gguf_writer import read_gguf_kv

    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        if path.suffix == ".gguf":
            for key, value in read_gguf_kv(path, None).items():
                if isinstance(value, str) and value:
                    yield path, key, value
        elif path.name == "README.md" or path.name == "Modelfile" or (
                path.suffix == ".json" and path.name not in TOKENIZER_FILES):
            yield path, "text", path.read_text(encoding="utf-8", errors="replace")
    for adapter in adapters:
        for name in ADAPTER_META_FILES:
            path = Path(adapter) / name
            if path.is_file():
                yield path, "text", path.read_text(encoding="utf-8", errors="replace")


def scan_export(out_dir: Path, adapters: Sequence[Path] = (), scrubber=None) -> list[ExportFinding]:
    """Findings of the full scrub rule set in an export's text artifacts (see module docstring).

    Args:
        out_dir: the export folder (``export_model``'s ``out_dir``).
        adapters: adapter folders that went into the export (their metadata JSON is scanned).
        scrubber: a :class:`node0_ops.corpus.scrub.Scrubber` (default: every entity type, no NER).

    Returns:
        findings in file order; ``[]`` when clean. Values are never returned, only masked previews.

    Raises:
        FileNotFoundError: ``out_dir`` does not exist.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"scan_export: export folder {out_dir} does not exist")
    if scrubber is None:
        from node0_ops.corpus.scrub import Scrubber

        scrubber = Scrubber()
    found = []
    for path, where, text in _texts(out_dir, adapters):
        for f in scrubber.scan(text):
            found.append(ExportFinding(str(path), where, f.entity_type, f.recognizer, f.preview))
    return found


def require_clean_export(out_dir: Path, adapters: Sequence[Path] = (), scrubber=None) -> None:
    """:func:`scan_export`, raising :class:`ExportLeakError` when anything is found."""
    found = scan_export(out_dir, adapters, scrubber)
    if found:
        raise ExportLeakError(found)


def findings_json(findings: Sequence[ExportFinding]) -> str:
    """Findings as JSON (for asset metadata and logs; values masked)."""
    return json.dumps([f.__dict__ for f in findings], indent=2)
