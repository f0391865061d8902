"""Convention rules in instruction files: extraction, contradictions and reversions.

A *rule* is an imperative sentence in CLAUDE.md / AGENTS.md / role templates / directives /
``gt prime`` output that starts with a polarity marker: ``Always``/``Must``/``Make sure`` (+1)
or ``Never``/``Do not``/``Don't``/``Must not``/``Avoid`` (-1), optionally after a subject
("You must never ...", "Polecats never ..."). Its *action* is the rest of the clause up to a
dash, colon, parenthesis or ``instead``; the action key is its lower-cased content words.

- :func:`extract_rules` turns text into :class:`Rule` s.
- :func:`find_contradictions` flags two instruction sources (different files, or two
  versions of one file) that give opposite polarity to the same action, when both apply to
  the same role (or one of them is role-generic).
- :func:`find_reversions` flags files whose current sha256 equals an older, not the latest,
  version in their history (a convention change rolled back).

Usage::

    from node0_ops.corpus.conventions import extract_rules, find_contradictions, find_reversions
    flags = find_contradictions(records) + find_reversions(history, current)

File kinds and directives: ``shared/docs/gastown-formats.md`` §3.1.
"""

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node0_ops.corpus.examples_common import role_from_path
from node0_ops.corpus.schema import Record

RULE_KINDS = ("claude_md", "role_template", "prime_output")

_SUBJECT = r"(?:(?:you|we|agents?|workers?|polecats?|crew|witness(?:es)?|refinery|mayor|deacon|dogs?|boot|everyone)\s+)?"
_NEG = r"(?:never|do\s+not|don'?t|must\s+not|mustn'?t|should\s+not|shouldn'?t|avoid|no\s+longer)"
_POS = r"(?:always|must|make\s+sure\s+(?:to|that|you)?|be\s+sure\s+to|ensure\s+(?:that\s+)?you(?:'re|\s+are)?)"
_RULE_RE = re.compile(rf"^{_SUBJECT}(?:(?:must|should)\s+)?(?P<neg>{_NEG})\b|^{_SUBJECT}(?P<pos>{_POS})\b", re.I)
_CUT = re.compile(r"\s+[—–]\s+|\s+--?\s+|:\s|;\s|\s\(|\.\s|\.$|\s+instead\b|\s+because\b|\s+unless\b|\s+except\b|,\s+(?:but|so|or)\b")
_STOP = {"the", "a", "an", "your", "you", "to", "any", "yourself", "it", "its", "this", "that", "of", "in",
         "on", "for", "and", "or", "with", "be", "is", "are", "ever", "always", "never", "just", "own", "will",
         "should", "must", "do", "please", "all", "from", "at", "by", "as", "use", "run", "using"}
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z*`_])|(?:\s+[—–]|,|\s+and|\s+but)\s+(?=(?:never|always|do not|don'?t|must)\b)", re.I)
_TMPL = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


@dataclass(frozen=True)
class Rule:
    """One imperative convention line.

    Attributes:
        polarity: +1 (always/must) or -1 (never/do not).
        action: the action phrase as written (markdown stripped), e.g. ``create GitHub PRs``.
        key: normalized action tokens (lower-case content words), used to match rules.
        text: the whole sentence, markdown stripped.
        line: 1-based line number in the source text.
    """

    polarity: int
    action: str
    key: tuple[str, ...]
    text: str
    line: int


@dataclass(frozen=True)
class Flag:
    """A corpus-level warning for review.

    Attributes:
        kind: ``contradiction`` or ``reversion``.
        path_a / path_b: the two sources (for a reversion both are the reverted file).
        detail: human-readable explanation with the conflicting lines or the sha256 values.
    """

    kind: str
    path_a: str
    path_b: str
    detail: str


def render_template_vars(text: str) -> str:
    """Replace Go-template fields in role templates: ``{{ cmd }}`` -> ``gt``, ``{{ .RigName }}`` -> ``<rig_name>``; drop control actions."""
    def sub(m: re.Match) -> str:
        inner = m.group(1)
        if inner == "cmd":
            return "gt"
        if re.fullmatch(r"\.[A-Za-z_]\w*", inner):
            return "<" + re.sub(r"(?<!^)([A-Z])", r"_\1", inner[1:]).lower() + ">"
        return ""
    return _TMPL.sub(sub, text)


def strip_markdown(line: str) -> str:
    """Remove list bullets, quotes, headings, emphasis, backticks and emoji-ish prefixes from one line."""
    s = re.sub(r"^\s*(?:[-*+>]|\d+[.)]|#+)\s*", "", line)
    s = re.sub(r"^\s*(?:[-*+>]|\d+[.)])\s*", "", s)
    s = s.replace("**", "").replace("__", "").replace("`", "")
    s = re.sub(r"^[^\w\"']+", "", s)     # leading emoji / symbols
    return s.strip()


def action_key(action: str) -> tuple[str, ...]:
    """Lower-case content tokens of an action phrase (stop words and punctuation removed)."""
    toks = re.findall(r"[a-z0-9][a-z0-9_./+-]*", action.lower())
    return tuple(t.rstrip(".") for t in toks if t.rstrip(".") not in _STOP)


def extract_rules(text: str) -> list[Rule]:
    """Imperative rules in ``text`` (markdown or rendered prompt), in order of appearance.

    Code fences are skipped; each line is split into sentences, and each sentence that starts
    with a polarity marker (module docstring) becomes a :class:`Rule` whose action has at
    least one content word.
    """
    rules, in_fence, list_polarity = [], False, 0
    for lineno, raw in enumerate(render_template_vars(text or "").splitlines(), 1):
        if raw.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or raw.lstrip().startswith("|"):
            continue
        line = strip_markdown(raw)
        is_item = bool(re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", raw))
        if list_polarity and is_item and not _RULE_RE.match(line):
            # bullet under a "Do NOT:" / "You must:" lead-in inherits its polarity
            action = _CUT.split(line, maxsplit=1)[0].strip(" ,.!")
            if action_key(action):
                marker = "Never" if list_polarity < 0 else "Always"
                rules.append(Rule(list_polarity, action, action_key(action), f"{marker}: {line}", lineno))
            continue
        if not is_item and raw.strip():
            list_polarity = 0
        lead = _RULE_RE.match(line)
        if lead and re.fullmatch(r"[\s:]*", line[lead.end():]) and line.rstrip().endswith(":"):
            list_polarity = -1 if lead.group("neg") else 1
            continue
        for sent in _SENT.split(line):
            sent = strip_markdown(sent)
            m = _RULE_RE.match(sent)
            if not m:
                continue
            rest = sent[m.end():].strip(" ,:")
            action = _CUT.split(rest, maxsplit=1)[0].strip(" ,.!") if rest else ""
            key = action_key(action)
            if not key:
                continue
            rules.append(Rule(-1 if m.group("neg") else 1, action, key, sent.strip(), lineno))
    return rules


def _same_action(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if a == b:
        return True
    sa, sb = set(a), set(b)
    if min(len(sa), len(sb)) >= 2 and len(sa & sb) / len(sa | sb) >= 0.75:
        return True
    small, big = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    return len(small) >= 3 and small <= big and len(big) <= len(small) + 2


def _is_rule_source(rec: Record) -> bool:
    return rec.kind in RULE_KINDS or "/directives/" in rec.provenance.path.replace("\\", "/")


def _scope_role(rec: Record) -> str | None:
    return rec.provenance.role or role_from_path(rec.provenance.path)[0]


def find_contradictions(records: Sequence[Record]) -> list[Flag]:
    """Flag instruction sources that prescribe opposite rules for the same action.

    Args:
        records: any records; used are ``claude_md``, ``role_template``, ``prime_output`` and
            anything under a ``directives/`` folder, with ``payload["text"]``.
    Returns:
        One ``Flag(kind="contradiction")`` per (pair of sources, action), sorted by paths. Two
        records are compared when they are different files, or the same path with different
        sha256 (two versions), and apply to the same role or one is role-generic.
    """
    rules_by_src = []
    for rec in records:
        if not _is_rule_source(rec) or not isinstance(rec.payload, dict):
            continue
        rules = extract_rules(str(rec.payload.get("text") or ""))
        if rules:
            rules_by_src.append((rec, rules))
    index: dict[str, list[tuple[int, Rule]]] = defaultdict(list)
    for si, (_, rules) in enumerate(rules_by_src):
        for r in rules:
            for tok in set(r.key):
                index[tok].append((si, r))
    flags, seen = [], set()
    for si, (rec_a, rules) in enumerate(rules_by_src):
        for ra in rules:
            for tok in set(ra.key):
                for sj, rb in index[tok]:
                    if sj <= si or ra.polarity == rb.polarity:
                        continue
                    rec_b = rules_by_src[sj][0]
                    pa, pb = rec_a.provenance, rec_b.provenance
                    if (pa.path, pa.sha256) == (pb.path, pb.sha256):
                        continue
                    role_a, role_b = _scope_role(rec_a), _scope_role(rec_b)
                    if role_a and role_b and role_a != role_b:
                        continue
                    if not _same_action(ra.key, rb.key):
                        continue
                    key = (pa.path, pa.sha256, pb.path, pb.sha256, min(ra.key, rb.key))
                    if key in seen:
                        continue
                    seen.add(key)
                    detail = (f"{pa.path}:{ra.line} says {ra.text!r} but "
                              f"{pb.path}:{rb.line} says {rb.text!r} (action: {' '.join(ra.key)})")
                    flags.append(Flag("contradiction", pa.path, pb.path, detail))
    return sorted(flags, key=lambda f: (f.path_a, f.path_b, f.detail))


def find_reversions(history: Mapping[str, Sequence[str]], current: Mapping[str, str]) -> list[Flag]:
    """Flag files whose current content equals an older version of themselves.

    Args:
        history: path -> sha256 hex of its past versions, oldest first (last = latest seen).
        current: path -> sha256 hex now.
    Returns:
        ``Flag(kind="reversion", path, path, detail)`` for each path whose current sha equals an
        entry of ``history[path][:-1]`` and differs from ``history[path][-1]``; sorted by path.
    """
    flags = []
    for path, sha in sorted(current.items()):
        past = list(history.get(path) or [])
        if len(past) < 2 or sha == past[-1] or sha not in past[:-1]:
            continue
        idx = max(i for i, s in enumerate(past[:-1]) if s == sha)
        flags.append(Flag("reversion", path, path,
                          f"{path} reverted to version {idx + 1} of {len(past)} "
                          f"(sha256 {sha[:12]}); latest was {past[-1][:12]}"))
    return flags
