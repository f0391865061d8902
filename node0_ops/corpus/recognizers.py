"""The scrub rule set: library detectors first, our own presidio recognizers only where none serves.

:func:`build_recognizers` returns, for one presidio ``AnalyzerEngine`` on the
model-free ``no_op`` NLP engine:

1. every detect-secrets plugin and presidio's predefined personal-data
   recognizers (credit card, phone, IBAN, crypto, US SSN/ITIN/passport/driver
   licence, UK NHS, medical licence), wrapped in :mod:`node0_ops.corpus.detectors`;
2. :func:`own_recognizers`: :class:`GtPatternRecognizer` subclasses of presidio's
   ``PatternRecognizer`` for what neither library covers, each with a comment in
   the code naming why (home paths and user names in them, Anthropic / Hugging
   Face / Google keys, fine-grained GitHub PATs, bearer headers, unquoted
   assignments in env/YAML/CLI text, bare AWS secrets), plus presidio's e-mail
   and IP recognizers with Gas Town fixes.

Usage::

    from node0_ops.corpus.recognizers import build_recognizers, open_entities, ENTITY_TYPES
    for r in build_recognizers():
        registry.add_recognizer(r)
    open_entities(text, ENTITY_TYPES)    # cheap pre-filter: types whose gates open ([] = nothing can match)

Each :class:`Rule` is a stdlib regex with an optional named group ``secret``:
when present only that group is reported (``API_KEY=<SECRET_1>`` keeps the name).
Every recognizer has :class:`~node0_ops.corpus.gates.Gate` s (substrings or a tiny
regex that must occur in the text before its regexes run: this is what keeps
scrubbing fast) and our rules an optional validator ``(value, text, start, end) ->
bool`` that rejects placeholders, references and low-entropy words.

Our own entity types (the library ones are listed in :mod:`node0_ops.corpus.detectors`):

==================  ======================================================================
AWS_SECRET_KEY      40-char base64 after ``aws_secret_access_key``-like names, or a bare
                    40-char mixed-case base64 run (>= 4.2 bits/char) in a text that says
                    ``aws`` or holds an access key id
GITHUB_TOKEN        ``github_pat_`` + >=30 (classic ``ghp_`` tokens: detect-secrets)
ANTHROPIC_KEY       ``sk-ant-`` + >=20
OPENAI_KEY          ``sk-``/``sk-proj-``/``sk-svcacct-``/``sk-admin-`` + >=20 (not ``sk-ant-``)
HF_TOKEN            ``hf_`` + >=30 alphanumerics
SLACK_TOKEN         ``xapp-...``, hooks.slack.com webhook paths
API_KEY             Google ``AIza``, bare npm ``npm_``, Stripe ``sk_live_``/``rk_test_``... (full length)
BEARER_TOKEN        token after ``Bearer`` / ``Authorization: Basic|Token`` (RFC 6750 §2.1)
SECRET              high-entropy value assigned to ``*_KEY``/``*_TOKEN``/``*_SECRET``-like names
PASSWORD            any literal value assigned to ``*password``/``passwd``/``passphrase``/``*_PASS``
URL_CREDENTIALS     a token alone as URL userinfo (``user:password@``: detect-secrets)
EMAIL_ADDRESS       presidio's EmailRecognizer, domain re-checked, short allow-list
IP_ADDRESS          IPv4 and presidio's IPv6 patterns; stricter IPv6, loopback kept
HOME_PATH           ``/home/<user>``, ``/var/home/<user>``, ``/Users/<user>``,
                    ``C:\\Users\\<user>``, Claude Code's mangled ``-home-<user>-...`` dirs
==================  ======================================================================

Assignment forms (``SECRET``/``PASSWORD``): ``NAME=v``, ``export NAME="v"``,
``"name": "v"``, ``name: v`` (YAML; a blank or quote must follow ``:``),
``name = 'v'`` (TOML), ``name := v`` (Go), ``--name=v`` and ``--name v`` (CLI).

Decisions (false-positive trade-offs, all deliberate):

* Entropy gate (``SECRET``): the value must be >= 8 chars; not a reference
  (``$X``, ``${X}``, ``%X%``, ``<x>``, ``{{x}}``, ``process.env.X``, ``UPPER_SNAKE``,
  a file path, a function call); not a plain word or snake/kebab word list
  (``your-api-key``); no whitespace (quoted prose); not a placeholder word (``your``, ``xxx``, ``example``,
  ``changeme``, ``dummy``, ``redacted``); values under 16 chars need a digit; and
  Shannon entropy >= 3.0 bits/char (random base62 of 12 chars: 5th percentile 3.08;
  ``created_at`` 2.72). Pure-hex values >= 16 chars skip the entropy test (16 hex
  chars have a 5th percentile of 2.85, and hex under a key/token name is a secret).
  So ``--destroy-token=DESTROY-bd`` (a bd confirmation word) is kept.
* ``PASSWORD`` values are NOT entropy-gated: ``PASSWORD=changeme`` is scrubbed.
  A weak password is still a password, and weak ones are the most reused. Only
  references, masks (``****``, ``xxxx``, ``...``) and values under 4 chars are kept.
* Lower-case ``*_key`` names are secrets only for a fixed list (``api_key``,
  ``secret_key``, ``access_key``, ``private_key``, ``signing_key``, ...), so
  ``source_key``/``primary_key``/``sort_key`` values are untouched; upper-case
  env-style ``*_KEY`` names are all secret names.
* Loopback/unspecified/broadcast IPs (``127.0.0.0/8``, ``0.0.0.0``, ``::1``, ``::``,
  ``255.255.255.255``) are kept: they name no machine and docs need ``127.0.0.1``.
  Private and documentation ranges are scrubbed.
* Dotted quads are IPs unless written as versions or ids: right after ``v``,
  ``version``, ``==``/``>=``/``<=``/``~=`` or ``<letter>-`` (``release-1.0.0.1``).
  A bare ``1.2.3.4`` is scrubbed (fail-safe). 3-part semver (``1.2.3``) never matches.
* IPv6 needs >= 3 groups or one group of >= 3 hex digits: Python slices
  (``a[1::2]``) and ``std::`` are not addresses.
* E-mail allow-list: ``git@github.com``/``git@gitlab.com``/``git@bitbucket.org``
  (SSH remotes) and ``noreply@anthropic.com``/``noreply@github.com`` (the
  ``Co-Authored-By`` convention). presidio checks the TLD against its bundled
  public-suffix snapshot, so agent mail addresses like ``mayor@hq.gastown.local``
  are not e-mails. ``user@host`` inside ``scheme://user:pw@host`` is URL userinfo,
  not an e-mail (the password part is URL_CREDENTIALS / a token).
* Home paths: generic names (``/home/user``, ``/Users/you``) are scrubbed too; only
  ``Shared``/``Public``/``Default``/``Guest`` are kept. Claude Code mangles ``/`` and
  ``.`` to ``-``, so ``-home-steve-yegge-gt`` yields user ``steve`` (the first segment).
* Bead ids (``gt-2abltl.1``), git SHAs, formula names, ``main.py`` and 3-part
  versions match no rule.
"""

import ipaddress
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # never fetch the suffix list

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer  # noqa: E402

from node0_ops.corpus.gates import Gate, GateSet, ascii_lower  # noqa: E402,F401  (re-exported)

Validator = Callable[[str, str, int, int], bool]

# Placeholder tokens the scrubber writes: never secrets themselves.
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0.0 for '').

    H = -sum(p_c * log2 p_c) over the character frequencies (Shannon 1948).
    """
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


@dataclass(frozen=True)
class Rule:
    """One regex rule of a :class:`GtPatternRecognizer`.

    Attributes:
        name: pattern name shown in presidio explanations.
        regex: compiled stdlib regex; group ``secret`` (if any) is the reported span;
            assignment rules use groups ``dq``/``sq``/``secret`` for the value.
        gate: :class:`Gate` checked first.
        score: presidio confidence 0..1.
        validator: optional ``(value, text, start, end) -> bool``; False drops the match.
        lower: run the regex on :func:`ascii_lower` text (case-insensitive, ~10x faster
            than ``re.IGNORECASE``); spans are the same.
        starts_word: the whole match must not follow a letter/digit (``_`` is allowed),
            checked in Python because stdlib lookbehinds are fixed-width.
    """

    name: str
    regex: re.Pattern
    gate: Gate
    score: float = 0.9
    validator: Validator | None = None
    lower: bool = False
    starts_word: bool = False


def _value_span(m: re.Match) -> tuple[int, int]:
    for g in ("dq", "sq", "secret"):
        if g in m.re.groupindex and m.group(g) is not None:
            return m.span(g)
    return m.span()


class GtPatternRecognizer(PatternRecognizer):
    """PatternRecognizer whose rules are gated, report a ``secret`` group and validate it.

    Uses stdlib ``re`` (linear patterns) instead of presidio's ``regex``+timeout loop
    and passes the whole text to validators so they can look at context.

    Args:
        entity: the one entity type reported.
        name: recognizer name (shows up in Redaction rows).
        rules: the :class:`Rule` list.
        priority: lower wins ties between equally long overlapping spans.
    """

    def __init__(self, entity: str, name: str, rules: Sequence[Rule], priority: int = 50):
        self.rules = list(rules)
        self.priority = priority
        super().__init__(supported_entity=entity, name=name,
                         patterns=[Pattern(r.name, r.regex.pattern, r.score) for r in self.rules])

    def gate_open(self, text: str) -> bool:
        """True when any rule might match (the scrubber's pre-filter)."""
        return any(r.gate.open(text) for r in self.rules)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out: list[RecognizerResult] = []
        entity = self.supported_entities[0]
        for rule in self.rules:
            if not rule.gate.open(text):
                continue
            for m in rule.regex.finditer(ascii_lower(text) if rule.lower else text):
                if rule.starts_word and m.start() and text[m.start() - 1].isalnum():
                    continue
                start, end = _value_span(m)
                value = text[start:end]
                stripped = value.strip()
                if stripped != value:
                    start += len(value) - len(value.lstrip())
                    end = start + len(stripped)
                if end <= start or (rule.validator and not rule.validator(text[start:end], text, start, end)):
                    continue
                out.append(RecognizerResult(entity, start, end, rule.score, recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return out


# ---------------------------------------------------------------- validators

_REF_RE = re.compile(r"""^(?:\$|%[A-Za-z_]|<|\{\{|\[|\(|&|\*{2}|[xX]{3,}$|\.{3}|-{3}|_{3}|REDACTED|redacted)""")
_CODE_PREFIXES = ("process.", "os.", "env.", "self.", "this.", "config.", "cfg.", "settings.", "opts.",
                  "options.", "args.", "secrets.", "vars.", "ctx.", "context.", "params.", "props.",
                  "req.", "request.", "window.", "import.", "cmd.", "flags.")
_UPPER_SNAKE_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_WORD_RE = re.compile(r"^[A-Z]?[a-z]+$")
_WORDS_RE = re.compile(r"^[a-z]+(?:[_-][a-z]+)+$")  # snake/kebab identifiers: your-api-key, make_token
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_MASK_RE = re.compile(r"^(.)\1*$")
_PLACEHOLDER_WORDS_RE = re.compile(r"(?i)your|xxx|example|placeholder|changeme|dummy|redacted|replace[_-]?me")


def _is_reference(value: str) -> bool:
    """True for env/template references, masks, file paths and code expressions (not secrets)."""
    if _REF_RE.match(value) or _MASK_RE.match(value) or PLACEHOLDER_RE.search(value):
        return True
    if value.startswith(("/", "~/", "./", "../")) or value.startswith(_CODE_PREFIXES):
        return True
    if value.endswith("...") or value.lower() in {"none", "null", "nil", "true", "false", "undefined"}:
        return True
    return bool(_UPPER_SNAKE_RE.match(value))


def is_high_entropy_secret(value: str, min_len: int = 8, min_bits: float = 3.0) -> bool:
    """Whether a value assigned to a key/token/secret name is a secret (see module docstring)."""
    value = value.strip()
    if len(value) < min_len or _is_reference(value) or _WORD_RE.match(value) or _WORDS_RE.match(value):
        return False
    if any(c.isspace() for c in value):  # quoted prose: 'secret: "Name of the k8s secret"'
        return False
    if _PLACEHOLDER_WORDS_RE.search(value):
        return False
    if len(value) >= 16 and _HEX_RE.match(value):
        return True
    if len(value) < 16 and not any(c.isdigit() for c in value):
        return False
    return shannon_entropy(value) >= min_bits


def _password_value(value: str, text: str, start: int, end: int) -> bool:
    return len(value) >= 4 and not _is_reference(value)


def _secret_value(value: str, text: str, start: int, end: int) -> bool:
    if text[end:end + 1] == "(":  # refresh_token = make_token()
        return False
    return is_high_entropy_secret(value)


def _mixed(value: str, text: str, start: int, end: int) -> bool:
    """A random token body has two of digit/lower/upper and >= 3 bits/char."""
    body = value.split("_", 1)[-1]
    classes = sum((any(c.isdigit() for c in body), any(c.islower() for c in body),
                   any(c.isupper() for c in body)))
    return classes >= 2 and shannon_entropy(body) >= 3.0


def _aws_secret_bare(value: str, text: str, start: int, end: int) -> bool:
    if value.count("/") > 2 or "//" in value:
        return False
    ok = (sum(c.isdigit() for c in value) >= 2 and sum(c.isupper() for c in value) >= 2
          and sum(c.islower() for c in value) >= 2)
    return ok and not _HEX_RE.match(value) and shannon_entropy(value) >= 4.2


def _bearer_value(value: str, text: str, start: int, end: int) -> bool:
    return not _is_reference(value) and (any(c.isdigit() for c in value) or shannon_entropy(value) >= 3.5)


def _userinfo_token(value: str, text: str, start: int, end: int) -> bool:
    return len(value) >= 20 and not _is_reference(value) and shannon_entropy(value) >= 3.5


def _not_after(chars: str) -> Validator:
    """Validator: the char before the match is not in ``chars`` (a left word boundary)."""
    def check(value: str, text: str, start: int, end: int) -> bool:
        return start == 0 or text[start - 1] not in chars
    return check


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _ipv4_ok(value: str, text: str, start: int, end: int) -> bool:
    if start and (text[start - 1].isalnum() or text[start - 1] in "._"):
        return False
    before = text[max(0, start - 9):start]
    if (before.endswith(("v", "V", "==", ">=", "<=", "~=")) or re.search(r"[Vv]ersion[ :=]*$", before)
            or re.search(r"[A-Za-z]-$", before)):  # release-1.0.0.1: an id, not a host
        return False
    return _ip_public_enough(value)


def _ip_public_enough(value: str) -> bool:
    try:
        ip = ipaddress.ip_interface(value).ip
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified:
        return False
    return not (ip.version == 4 and str(ip) == "255.255.255.255")


def _ipv6_ok(value: str, text: str, start: int, end: int) -> bool:
    addr = value.split("/")[0].split("%")[0]
    groups = [g for g in addr.split(":") if g]
    if "." not in addr and len(groups) < 3 and not any(len(g) >= 3 for g in groups):
        return False
    return _ip_public_enough(value)


_HOME_USER = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?"
_NOT_HOME_USERS = {"shared", "public", "default", "all users", "default user", "guest"}
_HOME_USER_RE = re.compile(r"(?:home|Users)(?:\\\\|\\|/|-)(.+)$", re.IGNORECASE)


def home_user(value: str) -> str:
    """User name inside a HOME_PATH match (``/home/alice`` -> ``alice``, ``-Users-bob`` -> ``bob``)."""
    m = _HOME_USER_RE.search(value)
    return m.group(1) if m else value


def _home_ok(value: str, text: str, start: int, end: int) -> bool:
    return home_user(value).lower() not in _NOT_HOME_USERS


def _mangled_home_ok(value: str, text: str, start: int, end: int) -> bool:
    # '-home-' must start a path segment: '/-home-x', start of text, or 'C--Users-x'
    before = text[max(0, start - 2):start]
    ok = start == 0 or before[-1:] in "/\\\"'` \t\n\x00" or (len(before) == 2 and before[0].isalpha()
                                                             and before[1] == "-")
    return ok and _home_ok(value, text, start, end)


# ---------------------------------------------------------------- e-mail and IP

_EMAIL_DOMAIN_RE = re.compile(r"^(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}$")
_URL_USERINFO_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@\"'<>]*$")


class GtEmailRecognizer(EmailRecognizer):
    """presidio's EmailRecognizer, run on windows around each ``@``, with fixes.

    Fixes: the domain is re-checked (presidio's tldextract check passes
    ``github.com/x/y@v1.2.0``), ``key=`` / ``path/`` prefixes are trimmed from the
    local part, JSON ``\\u003c`` prefixes are trimmed, allow-listed service
    addresses and URL userinfo are skipped.
    """

    ALLOW = frozenset({"git@github.com", "git@gitlab.com", "git@bitbucket.org",
                       "noreply@anthropic.com", "noreply@github.com"})
    WINDOW = (320, 320)  # chars before/after '@' (RFC 5321: local <= 64, domain <= 255)

    def __init__(self):
        super().__init__(name="GtEmailRecognizer")
        self.priority = 40

    GATES = (Gate(("@",)),)

    def gate_open(self, text: str) -> bool:
        return "@" in text

    # presidio's local-part characters ([!#$%&'*+\-/=?^_`{|}~.\w]) and its domain part, as stdlib regexes
    _LOCAL_CHARS = frozenset("!#$%&'*+-/=?^_`{|}~.")
    _DOMAIN = re.compile(r"\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+")

    def _window(self, text: str, at: int) -> tuple[int, int] | None:
        """Tight window around the address at ``at``: from the character before the run of local-part
        characters ending at ``at`` to one past the domain; None when no domain follows (presidio's
        pattern cannot match there). Runs reaching :data:`WINDOW` chars keep the wide window."""
        dom = self._DOMAIN.match(text, at + 1)
        if dom is None:
            return None
        lo, stop = at, max(0, at - self.WINDOW[0])
        while lo > stop and (text[lo - 1].isalnum() or text[lo - 1] in self._LOCAL_CHARS):
            lo -= 1
        if lo == stop:
            return stop, min(len(text), at + self.WINDOW[1])
        return lo - 1 if lo else 0, min(len(text), dom.end() + 1)

    def _windows(self, text: str, wide: bool = False) -> list[tuple[int, int]]:
        """Merged windows around every ``@``: tight ones (:meth:`_window`), or presidio-sized
        ``WINDOW`` ones (``wide``)."""
        spans: list[list[int]] = []
        at = text.find("@")
        while at != -1:
            w = ((max(0, at - self.WINDOW[0]), min(len(text), at + self.WINDOW[1])) if wide
                 else self._window(text, at))
            if w is not None:
                lo, hi = w
                if spans and lo <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], hi)
                else:
                    spans.append([lo, hi])
            at = text.find("@", at + 1)
        return [(lo, hi) for lo, hi in spans]

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out = self._analyze_windows(text, entities, nlp_artifacts, regex_flags, wide=False)
        return out if out is not None else self._analyze_windows(text, entities, nlp_artifacts, regex_flags, wide=True)

    def _analyze_windows(self, text, entities, nlp_artifacts, regex_flags, wide: bool):
        """Results over the windows; None when a tight window cut a match (the caller widens)."""
        out = []
        for lo, hi in self._windows(text, wide):
            for r in super().analyze(text[lo:hi], entities, nlp_artifacts, regex_flags):
                r.start += lo
                r.end += lo
                if (r.start == lo and lo > 0) or (r.end == hi and hi < len(text)):
                    if not wide:
                        return None
                    continue  # cut by the window: only possible for > 320-char junk
                if self._keep(text, r):
                    out.append(r)
        return out

    def _keep(self, text: str, r: RecognizerResult) -> bool:
        value = text[r.start:r.end]
        if value[:5].lower() in ("u003c", "u003e") and r.start > 0 and text[r.start - 1] == "\\":
            r.start += 5
            value = value[5:]
        at = value.rfind("@")
        cut = max(value.rfind(c, 0, at) for c in "=/:{}$")  # owner=bob@x.org, repo/name@v1.2.0
        if cut >= 0:
            r.start += cut + 1
            value = value[cut + 1:]
            at -= cut + 1
        if at < 1 or not _EMAIL_DOMAIN_RE.match(value[at + 1:]):
            return False
        if value.lower() in self.ALLOW:
            return False
        return not _URL_USERINFO_BEFORE.search(text, max(0, r.start - 300), r.start)


_V6_GATE = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")
_V4_GATE = re.compile(r"\.\d{1,3}\.\d")


class GtIpRecognizer(IpRecognizer):
    """IPv4 (version-aware) and presidio's IPv6 patterns; loopback and unspecified kept."""

    IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?(?!\.?\d)(?!\w)")

    def __init__(self):
        v6 = [p for p in IpRecognizer.PATTERNS if p.name in ("IPv6", "IPv4_mapped", "IPv4_embedded")]
        super().__init__(patterns=v6, name="GtIpRecognizer")
        self._v6 = [re.compile(p.regex) for p in v6]
        self.priority = 45

    GATES = (Gate(regex=_V4_GATE), Gate(regex=_V6_GATE))

    def gate_open(self, text: str) -> bool:
        return bool(_V4_GATE.search(text) or _V6_GATE.search(text))

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out = []
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        if _V4_GATE.search(text):
            for m in self.IPV4.finditer(text):
                if _ipv4_ok(m.group(), text, m.start(), m.end()):
                    out.append(RecognizerResult("IP_ADDRESS", m.start(), m.end(), 0.6, recognition_metadata=dict(meta)))
        if _V6_GATE.search(text):
            for rx in self._v6:
                for m in rx.finditer(text):
                    if _ipv6_ok(m.group(), text, m.start(), m.end()):
                        out.append(RecognizerResult("IP_ADDRESS", m.start(), m.end(), 0.6,
                                                    recognition_metadata=dict(meta)))
        return EntityRecognizer.remove_duplicates(out)


# ---------------------------------------------------------------- rules

_NOT_TOKEN = r"(?![A-Za-z0-9_])"
# Unquoted value: stops at whitespace, quotes, separators, brackets and NUL (record joiner).
_VAL = (r"""(?:"(?P<dq>[^"\n\x00\\]{1,256})"|'(?P<sq>[^'\n\x00\\]{1,256})'"""
        r"""|(?P<secret>[^\s"'`,;()\[\]{}<>\x00\\]+))""")
_SEP = r"""["']?[ \t]*(?::=|=|:(?=[ \t"']))[ \t]*"""  # ':' needs a blank/quote after it (not URL userinfo)

_SECRET_WORDS = (r"token|secret|credentials?|api[_-]?key|apikey|secret[_-]?key|access[_-]?key|private[_-]?key|"
                 r"auth[_-]?key|client[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|"
                 r"license[_-]?key|session[_-]?key|webhook[_-]?key|app[_-]?key|service[_-]?key|account[_-]?key")
_PASSWORD_WORDS = r"pass(?:word|wd|phrase)"


def _assign(words: str) -> re.Pattern:
    """Regex over lower-cased text: ``<...words>`` SEP value (the name's prefix is irrelevant)."""
    return re.compile(rf"(?:{words}){_SEP}{_VAL}")


def _assign_flag(words: str) -> re.Pattern:
    """Regex over lower-cased text: CLI ``--<...words> value`` (``--x=v`` is covered by :func:`_assign`)."""
    return re.compile(rf"--[a-z0-9_-]*?(?:{words})[ \t]+{_VAL}")


def _assign_env(words: str) -> re.Pattern:
    """Case-sensitive env names ``FOO_KEY=...`` (use with ``starts_word``: not ``MONKEY=``)."""
    return re.compile(rf"(?:{words}){_SEP}{_VAL}")


def own_recognizers() -> list[PatternRecognizer]:
    """Our own recognizers: only what neither detect-secrets nor presidio covers (reason per rule)."""
    c = re.compile
    aws_prefixes = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA")
    b64_40 = r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    return [
        # detect-secrets' AWS rule needs the secret in quotes; credentials files, `aws configure`
        # prompts and CSV downloads have it bare.
        GtPatternRecognizer("AWS_SECRET_KEY", "AwsSecretKeyRecognizer", [
            Rule("aws_secret_named", c(r"(?:aws[ _-]?secret(?:[ _-]?access)?[ _-]?key|secretaccesskey)"
                                       r"(?:[ \t]*\[[^\]\n]{0,20}\])?[\"']?[ \t]*[:=][ \t]*[\"']?"
                                       rf"(?P<secret>{b64_40})"), Gate(any_of_ci=("secret",)), 1.0, lower=True),
            Rule("aws_secret_bare", c(rf"(?P<secret>{b64_40})"),
                 Gate(aws_prefixes, any_of_ci=("aws",)), 0.6,
                 lambda v, t, s, e: _not_after(_ALNUM + "/+=")(v, t, s, e) and _aws_secret_bare(v, t, s, e)),
        ], priority=20),
        # detect-secrets' GitHub rule knows only the classic ghp_/gho_/... tokens, not fine-grained PATs.
        GtPatternRecognizer("GITHUB_TOKEN", "GithubTokenRecognizer", [
            Rule("github_fine_grained", c(r"github_pat_[A-Za-z0-9_]{30,255}" + _NOT_TOKEN),
                 Gate(("github_pat_",)), 1.0, _not_after(_ALNUM + "_")),
        ], priority=10),
        # No library rule for Anthropic keys.
        GtPatternRecognizer("ANTHROPIC_KEY", "AnthropicKeyRecognizer", [
            Rule("anthropic", c(r"sk-ant-[A-Za-z0-9_-]{20,}"), Gate(("sk-ant-",)), 1.0, _not_after(_ALNUM + "_-")),
        ], priority=10),
        # detect-secrets' OpenAI rule needs the legacy 'T3BlbkFJ' marker; project/service keys lack it.
        GtPatternRecognizer("OPENAI_KEY", "OpenAiKeyRecognizer", [
            Rule("openai", c(r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}(?![\w-])"), Gate(("sk-",)), 0.9,
                 lambda v, t, s, e: _not_after(_ALNUM + "_-")(v, t, s, e) and _mixed(v, t, s, e)),
        ], priority=12),
        # No library rule for Hugging Face tokens (our users' hub logins).
        GtPatternRecognizer("HF_TOKEN", "HuggingFaceTokenRecognizer", [
            Rule("hf", c(r"hf_[A-Za-z0-9]{30,}" + _NOT_TOKEN), Gate(("hf_",)), 0.9,
                 lambda v, t, s, e: _not_after(_ALNUM + "_")(v, t, s, e) and _mixed(v, t, s, e)),
        ], priority=10),
        # detect-secrets' Slack rule has xox* tokens and /services/T../B.. hooks, not app tokens or workflow hooks.
        GtPatternRecognizer("SLACK_TOKEN", "SlackTokenRecognizer", [
            Rule("slack_app", c(r"xapp-\d-[A-Za-z0-9-]{10,}"), Gate(("xapp-",)), 1.0, _not_after(_ALNUM)),
            Rule("slack_webhook", c(r"hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9/_-]{20,})"),
                 Gate(("hooks.slack.com",)), 1.0),
        ], priority=10),
        # No library rule for Google API keys or bare npm tokens (detect-secrets' npm rule needs an
        # .npmrc `_authToken=` line); its Stripe rule stops after 24 chars and skips test keys.
        GtPatternRecognizer("API_KEY", "VendorApiKeyRecognizer", [
            Rule("google", c(r"AIza[0-9A-Za-z_-]{35}" + _NOT_TOKEN), Gate(("AIza",)), 1.0, _not_after(_ALNUM + "_")),
            Rule("npm", c(r"npm_[A-Za-z0-9]{36}" + _NOT_TOKEN), Gate(("npm_",)), 1.0, _not_after(_ALNUM + "_")),
            Rule("stripe", c(r"[srp]k_(?:live|test)_[A-Za-z0-9]{16,}" + _NOT_TOKEN), Gate(("k_live_", "k_test_")),
                 1.0, _not_after(_ALNUM + "_")),
        ], priority=12),
        # No library rule for HTTP Authorization values (RFC 6750 bearer, Basic, Token, Bot).
        GtPatternRecognizer("BEARER_TOKEN", "BearerTokenRecognizer", [
            Rule("bearer", c(r"bearer[ \t]+(?P<secret>[a-z0-9\-._~+/]{16,}=*)(?![a-z0-9\-._~+/=])"),
                 Gate(any_of_ci=("bearer",)), 0.9,
                 lambda v, t, s, e: _bearer_value(v, t, s, e) and not re.search(r"[A-Za-z0-9]bearer[ \t]+$",
                                                                                t[max(0, s - 40):s], re.I),
                 lower=True),
            Rule("authorization", c(r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:basic|token|bot)[ \t]+"
                                    r"(?P<secret>[a-z0-9\-._~+/]{12,}=*)"),
                 Gate(any_of_ci=("authorization",)), 0.9, _bearer_value, lower=True),
        ], priority=25),
        # detect-secrets' basic-auth rule needs user:password@; a token alone as userinfo has no colon.
        GtPatternRecognizer("URL_CREDENTIALS", "UrlCredentialsRecognizer", [
            Rule("url_token", c(r"://(?<=[A-Za-z0-9]://)(?P<secret>[^\s:/@\"'<>\x00]{20,256})@[A-Za-z0-9\[]"),
                 Gate(("://",)), 0.7, _userinfo_token),
        ], priority=30),
        # detect-secrets' keyword rule needs quoted values outside config files; transcripts hold
        # env files, YAML, `--password x` flags and *_PASS names unquoted. Passwords: any literal.
        GtPatternRecognizer("PASSWORD", "PasswordAssignmentRecognizer", [
            Rule("password", _assign(_PASSWORD_WORDS), Gate(any_of_ci=("passw", "passphrase")), 0.8,
                 _password_value, lower=True),
            Rule("password_flag", _assign_flag(_PASSWORD_WORDS), Gate(("--",)), 0.8,
                 _password_value, lower=True),
            Rule("password_env", _assign_env("_PASS"), Gate(("_PASS",)), 0.8, _password_value),
        ], priority=35),
        # Same reason as PASSWORD, for *_KEY/*_TOKEN/*_SECRET names (entropy-gated values).
        GtPatternRecognizer("SECRET", "SecretAssignmentRecognizer", [
            Rule("secret_name", _assign(_SECRET_WORDS), Gate(any_of_ci=("token", "secret", "credential", "key")),
                 0.7, _secret_value, lower=True),
            Rule("secret_flag", _assign_flag(_SECRET_WORDS), Gate(("--",)), 0.7, _secret_value, lower=True),
            Rule("secret_env", _assign_env("KEY|TOKEN|SECRET|CREDENTIALS?|AUTH"),
                 Gate(("KEY", "TOKEN", "SECRET", "CREDENTIAL", "AUTH")), 0.7, _secret_value, starts_word=True),
        ], priority=36),
        # presidio's EmailRecognizer with fixes it lacks (domain re-check, allow-list, URL userinfo).
        GtEmailRecognizer(),
        # presidio's IpRecognizer flags versions (pkg==1.2.3.4) and loopback; this subclass keeps them.
        GtIpRecognizer(),
        # No library rule for home directories (user names in paths, Claude Code's mangled dirs).
        GtPatternRecognizer("HOME_PATH", "HomePathRecognizer", [
            Rule("var_home", c(rf"/var/home/{_HOME_USER}(?![A-Za-z0-9_-])"), Gate(("/var/home/",)), 0.8, _home_ok),
            Rule("posix_home", c(rf"/home/{_HOME_USER}(?![A-Za-z0-9_-])"), Gate(("/home/",)), 0.8, _home_ok),
            Rule("mac_home", c(rf"/Users/{_HOME_USER}(?![A-Za-z0-9_-])"), Gate(("/Users/",)), 0.8, _home_ok),
            Rule("windows_home_spaced", c(r"[a-z]:(?:\\\\|\\|/)users(?:\\\\|\\|/)"
                                          r"[a-z0-9_][a-z0-9._-]*(?: [a-z0-9._-]+){1,3}(?=\\|/)"),
                 Gate(any_of_ci=(":\\users", ":\\\\users", ":/users")), 0.8,
                 lambda v, t, s, e: _not_after(_ALNUM)(v, t, s, e) and _home_ok(v, t, s, e), lower=True),
            Rule("windows_home", c(r"[a-z]:(?:\\\\|\\|/)users(?:\\\\|\\|/)"
                                   r"[a-z0-9_](?:[a-z0-9._-]{0,62}[a-z0-9_])?(?![a-z0-9_-])"),
                 Gate(any_of_ci=(":\\users", ":\\\\users", ":/users")), 0.8,
                 lambda v, t, s, e: _not_after(_ALNUM)(v, t, s, e) and _home_ok(v, t, s, e), lower=True),
            Rule("mangled_home", c(r"-(?:home|Users)-[A-Za-z0-9_]+(?=[-/\\\"'\s\x00]|$)"),
                 Gate(("-home-", "-Users-")), 0.8, _mangled_home_ok),
        ], priority=50),
    ]


def build_recognizers() -> list[EntityRecognizer]:
    """Every scrub recognizer: detect-secrets plugins, presidio's PII set, then our own."""
    from node0_ops.corpus.detectors import build_detect_secrets_recognizers, build_pii_recognizers

    return (build_detect_secrets_recognizers(_secret_value, _password_value) + build_pii_recognizers()
            + own_recognizers())


_ALL = build_recognizers()
ENTITY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(e for r in _ALL for e in r.supported_entities))


@lru_cache(maxsize=8)
def _flat_gates(entities: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[re.Pattern, ...]]:
    cs, ci, rx = set(), set(), set()
    for rec in _ALL:
        if entities is not None and not set(rec.supported_entities) & set(entities):
            continue
        gates = [r.gate for r in rec.rules] if isinstance(rec, GtPatternRecognizer) else rec.GATES
        for g in gates:
            cs.update(g.any_of)
            ci.update(g.any_of_ci)
            ci.update(g.words_ci)  # a whole word is also a substring: the pre-filter stays a superset
            if g.regex is not None:
                rx.add(g.regex)
    return tuple(sorted(cs)), tuple(sorted(ci)), tuple(rx)


def might_contain(text: str, entities: Sequence[str] | None = None) -> bool:
    """Cheap pre-filter: False only when no rule of ``entities`` (default all) can match ``text``.

    The union of every rule's :class:`Gate` (substring tests and two tiny regexes).
    """
    cs, ci, rx = _flat_gates(tuple(sorted(entities)) if entities is not None else None)
    if any(s in text for s in cs):
        return True
    if ci:
        low = ascii_lower(text)
        if any(s in low for s in ci):
            return True
    return any(r.search(text) for r in rx)


@lru_cache(maxsize=8)
def _gate_set(entities: tuple[str, ...]) -> GateSet:
    by: dict[str, list[Gate]] = {}
    for rec in _ALL:
        gates = [r.gate for r in rec.rules] if isinstance(rec, GtPatternRecognizer) else list(rec.GATES)
        for e in rec.supported_entities:
            if e in entities:
                by.setdefault(e, []).extend(gates)
    return GateSet(by)


def open_entities(text: str, entities: Sequence[str]) -> list[str]:
    """The entity types of ``entities`` with at least one open gate for ``text`` (the others cannot match)."""
    return _gate_set(tuple(sorted(entities))).open_groups(text)
