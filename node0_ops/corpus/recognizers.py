"""Custom presidio recognizers for secrets and personal data in Gas Town material.

presidio's built-in recognizers (run here on the model-free ``no_op`` NLP engine)
catch e-mail addresses and IPs, nothing else we need: API tokens, PEM blocks,
secret assignments and home paths are added here as :class:`GtPatternRecognizer`
subclasses of presidio's ``PatternRecognizer``.

Usage::

    from node0_ops.corpus.recognizers import build_recognizers, ENTITY_TYPES
    registry.add_recognizer(r) for r in build_recognizers()

Each rule is a regex (stdlib ``re``) with an optional named group ``secret``:
when present, only that group is reported (``API_KEY=<SECRET_1>`` keeps the
name). A rule may carry a validator ``(value, text, start, end) -> bool`` that
rejects placeholders, references and low-entropy words.

Entity types (placeholder label in brackets, see ``scrub.PLACEHOLDER_LABELS``):

==================  ======================================================================
AWS_ACCESS_KEY      ``AKIA``/``ASIA``/... + 16 ``[A-Z0-9]`` (AWS IAM identifier prefixes)
AWS_SECRET_KEY      40-char base64 after ``aws_secret_access_key``-like names, or a bare
                    40-char mixed-case base64 run with >= 4.2 bits/char of entropy
GITHUB_TOKEN        ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` + >=20, ``github_pat_`` + >=30
ANTHROPIC_KEY       ``sk-ant-`` + >=20
OPENAI_KEY          ``sk-``/``sk-proj-``/``sk-svcacct-``/``sk-admin-`` + >=20 (not ``sk-ant-``)
HF_TOKEN            ``hf_`` + >=30 alphanumerics
SLACK_TOKEN         ``xox[abposr]-...``, ``xapp-...``, hooks.slack.com webhook paths
API_KEY             other vendors: GitLab ``glpat-``, Google ``AIza``, npm ``npm_``,
                    PyPI ``pypi-AgEI...``, Stripe ``sk_live_``/``rk_test_``...
JWT                 ``eyJ<b64url>.eyJ<b64url>.<sig>`` (RFC 7519 compact serialization)
BEARER_TOKEN        token after ``Bearer``/``Authorization: Basic|Token`` (RFC 6750 §2.1)
PRIVATE_KEY         PEM ``-----BEGIN ... PRIVATE KEY-----`` ... ``-----END ...-----``
                    (RFC 7468), also PGP blocks and truncated blocks
SECRET              high-entropy value assigned to ``*_KEY``/``*_TOKEN``/``*_SECRET``-like names
PASSWORD            any literal value assigned to ``*PASSWORD``/``passwd``/``passphrase`` names
URL_CREDENTIALS     password in ``scheme://user:password@host`` (RFC 3986 §3.2.1 userinfo)
EMAIL_ADDRESS       presidio's EmailRecognizer minus a short allow-list of service addresses
IP_ADDRESS          IPv4/IPv6 (presidio's patterns, stricter IPv6, loopback kept)
HOME_PATH           ``/home/<user>``, ``/Users/<user>``, ``C:\\Users\\<user>``, Claude Code's
                    mangled ``-home-<user>-...`` project dirs
==================  ======================================================================

Decisions (documented false-positive trade-offs):

* Entropy gate (``SECRET``): the value must be >= 8 chars, not a reference
  (``$X``, ``${X}``, ``%X%``, ``<x>``, ``{{x}}``, ``process.env.X``, ``UPPER_SNAKE``),
  not a plain word (``^[A-Z]?[a-z]+$``), and have Shannon entropy >= 3.0 bits/char
  (random base62 of 12 chars: 5th percentile 3.08; ``created_at`` 2.72, ``changeme``
  2.75). Pure-hex values >= 16 chars pass without the entropy test (hex of 16 chars
  has a 5th percentile of 2.85, and hex under a key/token name is a secret).
* ``PASSWORD`` values are NOT entropy-gated: ``PASSWORD=changeme`` is scrubbed.
  A weak password is still a password, and weak ones are the most reused. Only
  references, masks (``****``, ``xxxx``, ``...``) and values shorter than 4 chars
  are kept.
* Lower-case ``*_key`` names are only secrets for a fixed list (``api_key``,
  ``secret_key``, ``access_key``, ``private_key``, ``signing_key``, ...), so
  ``source_key``/``primary_key``/``sort_key`` values are untouched. Upper-case
  env-style ``*_KEY`` names are all treated as secrets.
* Loopback/unspecified/broadcast IPs (``127.0.0.0/8``, ``0.0.0.0``, ``::1``,
  ``::``, ``255.255.255.255``) are kept: they name no machine and the docs
  need ``127.0.0.1``. Private and documentation ranges are scrubbed.
* Dotted quads are IPs unless written as a version: preceded by ``v``,
  ``version``/``Version``, ``==``, ``>=``, ``<=`` or ``~=``. ``1.2.3.4`` alone is
  scrubbed (fail-safe). 3-part semver (``1.2.3``) never matches.
* IPv6 needs >= 3 groups or one group of >= 3 hex digits, so Python slices
  (``a[1::2]``) and ``std::`` are not IPs.
* E-mail allow-list: ``git@github.com``/``git@gitlab.com``/``git@bitbucket.org``
  (SSH remotes, not people) and ``noreply@anthropic.com``/``noreply@github.com``
  (the ``Co-Authored-By`` convention). presidio validates the TLD with its bundled
  public-suffix snapshot, so agent mail addresses like ``mayor@hq.gastown.local``
  are not e-mails.
* Bead ids (``gt-2abltl.1``), git SHAs, formula names, ``main.py`` and 3-part
  versions match no rule.
"""

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer

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
        regex: compiled stdlib regex; group ``secret`` (if any) is the reported span.
        score: presidio confidence 0..1.
        validator: optional ``(value, text, start, end) -> bool``; False drops the match.
    """

    name: str
    regex: re.Pattern
    score: float = 0.9
    validator: Validator | None = None


class GtPatternRecognizer(PatternRecognizer):
    """PatternRecognizer whose rules report a named ``secret`` group and validate it.

    Uses stdlib ``re`` (linear patterns, no catastrophic backtracking) instead of
    presidio's ``regex``+timeout loop, and passes the whole text to validators so
    they can look at context. Results are presidio ``RecognizerResult``s.
    """

    def __init__(self, entity: str, name: str, rules: Sequence[Rule], priority: int = 50):
        self.rules = list(rules)
        self.priority = priority  # lower wins ties between equally long overlapping spans
        super().__init__(
            supported_entity=entity, name=name,
            patterns=[Pattern(r.name, r.regex.pattern, r.score) for r in self.rules],
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out: list[RecognizerResult] = []
        entity = self.supported_entities[0]
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        for rule in self.rules:
            for m in rule.regex.finditer(text):
                if "secret" in rule.regex.groupindex and m.group("secret") is not None:
                    start, end = m.span("secret")
                else:
                    start, end = m.span()
                if end <= start:
                    continue
                if rule.validator and not rule.validator(text[start:end], text, start, end):
                    continue
                out.append(RecognizerResult(entity, start, end, rule.score,
                                            recognition_metadata=dict(meta)))
        return out


# ---------------------------------------------------------------- validators

_REF_RE = re.compile(
    r"""^(?:\$|%[A-Za-z_]|<|\{\{|\$\{|\[|\(|&|\*{2}|[xX]{3,}$|\.{3}|-{3}|_{3}|<|REDACTED|redacted)""")
_CODE_PREFIXES = ("process.", "os.", "env.", "self.", "this.", "config.", "cfg.", "settings.", "opts.",
                  "options.", "args.", "secrets.", "vars.", "ctx.", "context.", "params.", "props.",
                  "req.", "request.", "window.", "import.", "c.", "s.", "r.", "cmd.", "flags.")
_UPPER_SNAKE_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_WORD_RE = re.compile(r"^[A-Z]?[a-z]+$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_WORDS_RE = re.compile(r"^[a-z]+(?:[_-][a-z]+)+$")  # snake/kebab identifiers: your-api-key, make_token
_PLACEHOLDER_WORDS_RE = re.compile(r"(?i)your|xxx|example|placeholder|changeme|dummy|redacted|replace[_-]?me")
_MASK_RE = re.compile(r"^(.)\1*$")


def _is_reference(value: str) -> bool:
    """True for env/template references, masks, file paths and code expressions (not secrets)."""
    if _REF_RE.match(value) or _MASK_RE.match(value) or PLACEHOLDER_RE.search(value):
        return True
    if value.startswith(("/", "~/", "./", "../")):
        return True
    if value.endswith("...") or value.lower() in {"none", "null", "nil", "true", "false", "undefined"}:
        return True
    if value.startswith(_CODE_PREFIXES):
        return True
    return bool(_UPPER_SNAKE_RE.match(value))


def is_high_entropy_secret(value: str, min_len: int = 8, min_bits: float = 3.0) -> bool:
    """Decide whether a value assigned to a key/token/secret name is a secret.

    See the module docstring for the thresholds and why.
    """
    value = value.strip()
    if len(value) < min_len or _is_reference(value) or _WORD_RE.match(value) or _WORDS_RE.match(value):
        return False
    if _PLACEHOLDER_WORDS_RE.search(value):
        return False
    if len(value) >= 16 and _HEX_RE.match(value):
        return True
    if len(value) < 16 and not any(c.isdigit() for c in value):
        return False
    return shannon_entropy(value) >= min_bits


def _password_value(value: str, text: str, start: int, end: int) -> bool:
    value = value.strip()
    return len(value) >= 4 and not _is_reference(value)


def _secret_value(value: str, text: str, start: int, end: int) -> bool:
    if text[end:end + 1] == "(":  # refresh_token = make_token()
        return False
    return is_high_entropy_secret(value)


def _mixed(value: str, text: str, start: int, end: int) -> bool:
    """A random token body has a digit or mixed case and isn't a repeated char."""
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


# ---------------------------------------------------------------- rules

_NOT_TOKEN = r"(?![A-Za-z0-9_])"
_Q = r"""["'`]?"""
# Unquoted value: stops at whitespace, quotes, separators, brackets and NUL (record joiner).
_VAL_UNQUOTED = r"""[^\s"'`,;()\[\]{}<>\x00\\]+"""
_VAL_DQ = r'[^"\n\x00\\]{1,256}'
_VAL_SQ = r"[^'\n\x00\\]{1,256}"


def _assignment(name_re: str, flags: int = 0) -> re.Pattern:
    """``NAME=value``, ``export NAME="v"``, ``"name": "v"``, ``name: v``, ``name = 'v'``, ``--name v``.

    A ``:`` separator needs a blank or quote after it (YAML/JSON), so URL userinfo
    ``x-access-token:ghp_...@host`` is left to the token and URL rules. A bare blank
    separator (``--password hunter2``) only counts after ``--``.
    """
    return re.compile(
        rf"""(?:(?<![A-Za-z0-9_])(?:{name_re})["']?[ \t]*(?::=|=|:(?=[ \t"']))|(?<=--)(?:{name_re})[ \t]+)[ \t]*"""
        rf"""(?:"(?P<dq>{_VAL_DQ})"|'(?P<sq>{_VAL_SQ})'|(?P<secret>{_VAL_UNQUOTED}))""",
        flags,
    )


class _AssignmentRecognizer(GtPatternRecognizer):
    """Assignment rules report whichever of the dq/sq/bare value groups matched."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out = []
        entity = self.supported_entities[0]
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        for rule in self.rules:
            for m in rule.regex.finditer(text):
                g = next((g for g in ("dq", "sq", "secret") if m.group(g) is not None), None)
                if g is None:
                    continue
                start, end = m.span(g)
                value = text[start:end]
                # trim surrounding blanks of quoted values
                lead = len(value) - len(value.lstrip())
                start, end = start + lead, start + len(value.rstrip())
                if end <= start or (rule.validator and not rule.validator(text[start:end], text, start, end)):
                    continue
                out.append(RecognizerResult(entity, start, end, rule.score, recognition_metadata=dict(meta)))
        return out


_SECRET_KEY_WORDS = (r"api[_-]?key|apikey|secret[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|"
                     r"client[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|license[_-]?key|"
                     r"session[_-]?key|webhook[_-]?key|app[_-]?key|service[_-]?key|account[_-]?key")
# lower/camel-case names (case-insensitive): *token, *secret, known *key names
_SECRET_NAME_CI = rf"[A-Za-z0-9_.-]*?(?:token|secret|{_SECRET_KEY_WORDS}|credentials?|client[_-]?secret)"
# upper-case env names (case-sensitive): every *_KEY/*_TOKEN/*_SECRET/*_CREDENTIALS
_SECRET_NAME_ENV = r"(?:[A-Z][A-Z0-9]*_)*(?:KEY|TOKEN|SECRET|CREDENTIALS?|AUTH)"
_PASSWORD_NAME_CI = r"[A-Za-z0-9_.-]*?(?:password|passwd|passphrase)"
_PASSWORD_NAME_ENV = r"(?:[A-Z][A-Z0-9]*_)+PASS"


def _ipv4_ok(value: str, text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 9):start]
    if (before.endswith(("v", "V", "==", ">=", "<=", "~=")) or re.search(r"[Vv]ersion[ :=]*$", before)
            or re.search(r"[A-Za-z]-$", before)):  # release-1.0.0.1, go-1.2.3.4: ids, not hosts
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
    if "." in addr:  # IPv4-embedded; the dotted part is an address on its own
        return _ip_public_enough(value)
    if len(groups) < 3 and not any(len(g) >= 3 for g in groups):
        return False
    return _ip_public_enough(value)


_HOME_USER = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?"
_NOT_HOME_USERS = {"shared", "public", "default", "all users", "default user", "guest"}


def _home_ok(value: str, text: str, start: int, end: int) -> bool:
    return home_user(value).lower() not in _NOT_HOME_USERS


_HOME_USER_RE = re.compile(r"(?:home|Users)(?:\\\\|\\|/|-)(.+)$", re.IGNORECASE)


def home_user(value: str) -> str:
    """User name inside a HOME_PATH match (``/home/alice`` -> ``alice``, ``-Users-bob`` -> ``bob``)."""
    m = _HOME_USER_RE.search(value)
    return m.group(1) if m else value


_EMAIL_DOMAIN_RE = re.compile(r"^(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}$")
_URL_USERINFO_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s/@\"'<>]*:)?$")


class GtEmailRecognizer(EmailRecognizer):
    """presidio's EmailRecognizer + an allow-list and JSON ``\\u003c`` prefix trimming."""

    ALLOW = frozenset({"git@github.com", "git@gitlab.com", "git@bitbucket.org",
                       "noreply@anthropic.com", "noreply@github.com"})

    def __init__(self):
        super().__init__(name="GtEmailRecognizer")
        self.priority = 40

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out = []
        for r in super().analyze(text, entities, nlp_artifacts, regex_flags):
            value = text[r.start:r.end]
            if value[:5].lower() in ("u003c", "u003e") and r.start > 0 and text[r.start - 1] == "\\":
                r.start += 5
                value = value[5:]
            at = value.rfind("@")
            cut = max(value.rfind(c, 0, at) for c in "=/:")  # owner=bob@x.org, repo/name@v1.2.0
            if cut >= 0:
                r.start += cut + 1
                value = value[cut + 1:]
                at -= cut + 1
            if at < 1 or not _EMAIL_DOMAIN_RE.match(value[at + 1:]):
                continue  # presidio's tldextract check passes 'github.com/x/y@v1.2.0'
            if value.lower() in self.ALLOW or _URL_USERINFO_BEFORE.search(text, max(0, r.start - 300), r.start):
                continue  # allow-listed, or the userinfo@host of a URL (URL/token rules handle it)
            out.append(r)
        return out


class GtIpRecognizer(IpRecognizer):
    """IPv4/IPv6 with presidio's IPv6 patterns, a version-aware IPv4 rule and loopback kept."""

    IPV4 = re.compile(
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
        r"(?:/(?:3[0-2]|[12]?\d))?(?!\.?\d)(?![\w])")

    def __init__(self):
        v6 = [p for p in IpRecognizer.PATTERNS if p.name.startswith("IPv6") and p.name != "IPv6_unspecified"]
        v6 += [p for p in IpRecognizer.PATTERNS if p.name in ("IPv4_mapped", "IPv4_embedded")]
        super().__init__(patterns=v6, name="GtIpRecognizer")
        self._v6 = [re.compile(p.regex) for p in v6]
        self.priority = 45

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        out = []
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        for m in self.IPV4.finditer(text):
            if _ipv4_ok(m.group(), text, m.start(), m.end()):
                out.append(RecognizerResult("IP_ADDRESS", m.start(), m.end(), 0.6, recognition_metadata=dict(meta)))
        if ":" in text:
            for rx in self._v6:
                for m in rx.finditer(text):
                    if _ipv6_ok(m.group(), text, m.start(), m.end()):
                        out.append(RecognizerResult("IP_ADDRESS", m.start(), m.end(), 0.6,
                                                    recognition_metadata=dict(meta)))
        return EntityRecognizer.remove_duplicates(out)


def build_recognizers() -> list[PatternRecognizer]:
    """All custom recognizers, one per entity type (see the module docstring)."""
    c = re.compile
    I = re.IGNORECASE  # noqa: E741
    b64_40 = r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    return [
        GtPatternRecognizer("PRIVATE_KEY", "PemPrivateKeyRecognizer", [
            Rule("pem_block", c(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[^\x00]*?"
                                r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"), 1.0),
            Rule("pem_truncated", c(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
                                    r"(?:(?:\\[nr]|[ \t\r\n])*(?:[A-Za-z-]+: [^\n\x00]*|[A-Za-z0-9+/=]{16,}))*"), 0.9),
        ], priority=0),
        GtPatternRecognizer("AWS_ACCESS_KEY", "AwsAccessKeyRecognizer", [
            Rule("aws_key_id", c(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)"
                                 r"[A-Z0-9]{16}(?![A-Za-z0-9])"), 1.0),
        ], priority=10),
        GtPatternRecognizer("AWS_SECRET_KEY", "AwsSecretKeyRecognizer", [
            Rule("aws_secret_named", c(r"(?i:aws_?secret(?:_?access)?_?key|secretaccesskey)[\"']?\s*(?::=|=|:)\s*"
                                       rf"[\"']?(?P<secret>{b64_40})"), 1.0),
            Rule("aws_secret_bare", c(rf"(?<![A-Za-z0-9/+=])(?P<secret>{b64_40})"), 0.6, _aws_secret_bare),
        ], priority=20),
        GtPatternRecognizer("GITHUB_TOKEN", "GithubTokenRecognizer", [
            Rule("github_classic", c(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{20,255}" + _NOT_TOKEN), 1.0),
            Rule("github_fine_grained", c(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{30,255}" + _NOT_TOKEN), 1.0),
        ], priority=10),
        GtPatternRecognizer("ANTHROPIC_KEY", "AnthropicKeyRecognizer", [
            Rule("anthropic", c(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}"), 1.0),
        ], priority=10),
        GtPatternRecognizer("OPENAI_KEY", "OpenAiKeyRecognizer", [
            Rule("openai", c(r"(?<![\w-])sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}(?![\w-])"),
                 0.9, _mixed),
        ], priority=12),
        GtPatternRecognizer("HF_TOKEN", "HuggingFaceTokenRecognizer", [
            Rule("hf", c(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}" + _NOT_TOKEN), 0.9, _mixed),
        ], priority=10),
        GtPatternRecognizer("SLACK_TOKEN", "SlackTokenRecognizer", [
            Rule("slack_token", c(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"), 1.0),
            Rule("slack_app", c(r"(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9-]{10,}"), 1.0),
            Rule("slack_webhook", c(r"hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9/_-]{20,})"), 1.0),
        ], priority=10),
        GtPatternRecognizer("API_KEY", "VendorApiKeyRecognizer", [
            Rule("gitlab", c(r"(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}"), 1.0),
            Rule("google", c(r"(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}" + _NOT_TOKEN), 1.0),
            Rule("npm", c(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}" + _NOT_TOKEN), 1.0),
            Rule("pypi", c(r"(?<![A-Za-z0-9_])pypi-AgE[A-Za-z0-9_-]{50,}"), 1.0),
            Rule("stripe", c(r"(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}" + _NOT_TOKEN), 1.0),
        ], priority=12),
        GtPatternRecognizer("JWT", "JwtRecognizer", [
            Rule("jwt", c(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
                          r"(?![A-Za-z0-9_-])"), 1.0),
        ], priority=15),
        GtPatternRecognizer("BEARER_TOKEN", "BearerTokenRecognizer", [
            Rule("bearer", c(r"(?i:\bbearer)[ \t]+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)(?![A-Za-z0-9\-._~+/=])"),
                 0.9, _bearer_value),
            Rule("authorization", c(r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:basic|token|bot)[ \t]+"
                                    r"(?P<secret>[A-Za-z0-9\-._~+/]{12,}=*)"), 0.9, _bearer_value),
        ], priority=25),
        GtPatternRecognizer("URL_CREDENTIALS", "UrlCredentialsRecognizer", [
            Rule("url_password", c(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@\"'<>\x00]{1,128}:"
                                   r"(?P<secret>[^\s/@\"'<>\x00]{1,256})@[A-Za-z0-9\[]"), 0.9,
                 lambda v, t, s, e: not _is_reference(v)),
            Rule("url_token", c(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://(?P<secret>[^\s:/@\"'<>\x00]{20,256})@[A-Za-z0-9\[]"),
                 0.7, _userinfo_token),
        ], priority=30),
        _AssignmentRecognizer("PASSWORD", "PasswordAssignmentRecognizer", [
            Rule("password_ci", _assignment(_PASSWORD_NAME_CI, I), 0.8, _password_value),
            Rule("password_env", _assignment(_PASSWORD_NAME_ENV), 0.8, _password_value),
        ], priority=35),
        _AssignmentRecognizer("SECRET", "SecretAssignmentRecognizer", [
            Rule("secret_ci", _assignment(_SECRET_NAME_CI, I), 0.7, _secret_value),
            Rule("secret_env", _assignment(_SECRET_NAME_ENV), 0.7, _secret_value),
        ], priority=36),
        GtEmailRecognizer(),
        GtIpRecognizer(),
        GtPatternRecognizer("HOME_PATH", "HomePathRecognizer", [
            Rule("posix_home", c(rf"(?:/var)?/home/{_HOME_USER}(?![A-Za-z0-9_-])"), 0.8, _home_ok),
            Rule("mac_home", c(rf"/Users/{_HOME_USER}(?![A-Za-z0-9_-])"), 0.8, _home_ok),
            Rule("windows_home_spaced", c(r"(?i:\b[A-Z]:)(?:\\\\|\\|/)Users(?:\\\\|\\|/)"
                                          r"[A-Za-z0-9_][A-Za-z0-9._-]*(?: [A-Za-z0-9._-]+){1,3}(?=\\|/)"), 0.8, _home_ok),
            Rule("windows_home", c(r"(?i:\b[A-Z]:)(?:\\\\|\\|/)Users(?:\\\\|\\|/)"
                                   rf"{_HOME_USER}(?![A-Za-z0-9_-])"), 0.8, _home_ok),
            Rule("mangled_home", c(r"(?:(?<![\w-])|(?<=[A-Za-z]-))-(?:home|Users)-[A-Za-z0-9_]+(?=[-/\\\"'\s\x00]|$)"),
                 0.8, _home_ok),
        ], priority=50),
    ]


ENTITY_TYPES: tuple[str, ...] = tuple(r.supported_entities[0] for r in build_recognizers())
