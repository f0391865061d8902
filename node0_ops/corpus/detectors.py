"""Library detectors as presidio recognizers: detect-secrets plugins and presidio's PII set.

Secrets are not this project's field; well-kept rule sets are. This module puts
two of them into the scrubber's one presidio ``AnalyzerEngine``:

* every detect-secrets (Yelp, PyPI ``detect-secrets``) plugin except the public-IP
  one, each wrapped as one :class:`DetectSecretsRecognizer` (the plugin's own
  compiled regexes, its value group, its validity checks and its heuristic
  filters from ``detect_secrets.filters.heuristic``), so spans, placeholders,
  lineage rows and the blocking re-scan work as for any recognizer;
* presidio's predefined personal-data recognizers (credit card with Luhn check,
  phone numbers through ``phonenumbers``, IBAN, crypto wallets, US SSN / ITIN /
  passport / driver licence, UK NHS number, medical licence) with their own
  context words, which :class:`WindowContextEnhancer` reads from the text
  because the model-free ``no_op`` NLP engine yields no tokens.

Usage::

    from node0_ops.corpus.detectors import build_detect_secrets_recognizers, build_pii_recognizers
    for rec in build_detect_secrets_recognizers() + build_pii_recognizers():
        registry.add_recognizer(rec)          # each has .priority and .GATES
    engine = AnalyzerEngine(..., context_aware_enhancer=WindowContextEnhancer(),
                            default_score_threshold=MIN_SCORE)

Entity types reported (placeholder label in brackets): detect-secrets vendors ->
``API_KEY`` (SendGrid, Twilio, Discord, Telegram, Mailchimp, Square, Stripe, Azure
storage, IBM Cloud IAM / COS HMAC, SoftLayer, Cloudant, Artifactory, npm, PyPI,
GitLab), plus ``AWS_ACCESS_KEY``, ``AWS_SECRET_KEY``, ``GITHUB_TOKEN``, ``JWT``,
``PRIVATE_KEY``, ``SLACK_TOKEN``, ``OPENAI_KEY``, ``URL_CREDENTIALS`` (basic-auth
URLs), ``SECRET`` (keyword-assigned values, high-entropy base64/hex strings) and
``PASSWORD``; presidio -> ``CREDIT_CARD``, ``PHONE_NUMBER`` [PHONE], ``IBAN_CODE``
[IBAN], ``CRYPTO``, ``US_SSN``, ``US_ITIN``, ``US_PASSPORT``, ``US_DRIVER_LICENSE``,
``UK_NHS``, ``MEDICAL_LICENSE``.

Decisions:

* Span fixes where a plugin reports less than the secret: the JWT regex ends
  lazily (no signature), so the span runs on over the token alphabet; the
  private-key plugin flags only the ``BEGIN ... PRIVATE KEY`` marker, so the span
  grows to the whole PEM/PuTTY block (or to the end of a cut-off block).
* The high-entropy plugins keep detect-secrets' quoted-string rule and limits
  (base64 > 4.5, hex > 3.0 bits/char); Gas Town vocabulary is kept: hex strings
  of git-SHA or digest length (7-12, 40, 64) and values next to an id/sha/hash/
  digest/commit key name. Keyword values go through the same reference/entropy
  checks as our own assignment rule (``${X}``, ``process.env.X``, ``changeme``
  under a key name); password-like names keep any literal value.
* presidio's weak patterns (SSN without dashes, passport, driver licence, bank)
  score 0.01-0.3 and only pass :data:`MIN_SCORE` with a context word within
  :data:`CONTEXT_WINDOW_WORDS` words. NHS and medical-licence numbers need context
  even when their checksum holds (1 in 11 / 1 in 10 random numbers pass, e.g.
  10-digit unix timestamps); credit cards (Luhn), IBAN, crypto addresses
  (checksums) and ``phonenumbers``-valid phone numbers do not.
* ``IPPublicDetector`` is not used: :class:`node0_ops.corpus.recognizers.GtIpRecognizer`
  covers private ranges too and keeps version strings.
"""

import math
import os
import re
import warnings
from functools import lru_cache
from collections.abc import Callable, Sequence
from dataclasses import dataclass

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from detect_secrets.filters import heuristic as ds_filters  # noqa: E402
from detect_secrets.plugins import aws, keyword  # noqa: E402
from detect_secrets.plugins.artifactory import ArtifactoryDetector  # noqa: E402
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector  # noqa: E402
from detect_secrets.plugins.base import RegexBasedDetector  # noqa: E402
from detect_secrets.plugins.basic_auth import BasicAuthDetector  # noqa: E402
from detect_secrets.plugins.cloudant import CloudantDetector  # noqa: E402
from detect_secrets.plugins.discord import DiscordBotTokenDetector  # noqa: E402
from detect_secrets.plugins.github_token import GitHubTokenDetector  # noqa: E402
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector  # noqa: E402
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString  # noqa: E402
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector  # noqa: E402
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector  # noqa: E402
from detect_secrets.plugins.jwt import JwtTokenDetector  # noqa: E402
from detect_secrets.plugins.mailchimp import MailchimpDetector  # noqa: E402
from detect_secrets.plugins.npm import NpmDetector  # noqa: E402
from detect_secrets.plugins.openai import OpenAIDetector  # noqa: E402
from detect_secrets.plugins.private_key import PrivateKeyDetector  # noqa: E402
from detect_secrets.plugins.pypi_token import PypiTokenDetector  # noqa: E402
from detect_secrets.plugins.sendgrid import SendGridDetector  # noqa: E402
from detect_secrets.plugins.slack import SlackDetector  # noqa: E402
from detect_secrets.plugins.softlayer import SoftlayerDetector  # noqa: E402
from detect_secrets.plugins.square_oauth import SquareOAuthDetector  # noqa: E402
from detect_secrets.plugins.stripe import StripeDetector  # noqa: E402
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector  # noqa: E402
from detect_secrets.plugins.twilio import TwilioKeyDetector  # noqa: E402
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer, CryptoRecognizer, IbanRecognizer, MedicalLicenseRecognizer, NhsRecognizer,
    PhoneRecognizer, UsItinRecognizer, UsLicenseRecognizer, UsPassportRecognizer, UsSsnRecognizer,
)

from node0_ops.corpus.gates import Gate, ascii_lower, word_checks, word_re  # noqa: E402

MIN_SCORE = 0.4  # engine threshold: presidio's weak patterns need a context word to reach it
CONTEXT_WINDOW_WORDS = 5  # words before a match searched for context (presidio's default prefix count)
CONTEXT_CAP = 0.3  # score of a needs-context result before its context boost (+0.35)

Check = Callable[[str, str, int, int], bool]  # (value, text, start, end) -> keep?


def _meta(rec: EntityRecognizer) -> dict:
    return {RecognizerResult.RECOGNIZER_NAME_KEY: rec.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id}


# ---------------------------------------------------------------- detect-secrets

_PEM_BLOCK = re.compile(r"(?:-----)?BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[^\x00]*?"
                        r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_CUT = re.compile(r"(?:-----)?BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?(?:-----)?"
                      r"(?:(?:\\[nr]|[ \t\r\n])*(?:[A-Za-z-]+: [^\n\x00]*|[A-Za-z0-9+/=]{16,}))*")
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d[^\x00]*?(?:Private-MAC: [0-9a-fA-F]+|(?=\x00)|\Z)")
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9\-_.+/=]*")


def _private_key_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow the plugin's ``BEGIN ... PRIVATE KEY`` marker to the whole block (RFC 7468)."""
    if text.startswith("PuTTY", start):
        m = _PUTTY.match(text, start)
        return (start, m.end()) if m else (start, end)
    lo = start - 5 if text[max(0, start - 5):start] == "-----" else start
    m = _PEM_BLOCK.match(text, lo) or _PEM_CUT.match(text, lo)
    return (lo, max(end, m.end())) if m else (lo, end)


def _jwt_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The JWT plugin's regex ends lazily (no signature): run on over the token alphabet."""
    return start, _TOKEN_TAIL.match(text, end).end()


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Artifactory's regex includes the delimiter before/after the token: drop it."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def _ds_common_ok(value: str) -> bool:
    """detect-secrets' own heuristic filters that need no file name."""
    return not (ds_filters.is_sequential_string(value) or ds_filters.is_potential_uuid(value)
                or ds_filters.is_templated_secret(value) or ds_filters.is_prefixed_with_dollar_sign(value)
                or ds_filters.is_not_alphanumeric_string(value))


def _lines_with(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Merged ``(start, end)`` spans of the lines of ``text`` that contain one of ``words`` (lower-case)."""
    low = ascii_lower(text)
    spans: list[list[int]] = []
    for w in words:
        i = low.find(w)
        while i != -1:
            lo = low.rfind("\n", 0, i) + 1
            hi = low.find("\n", i)
            hi = len(text) if hi == -1 else hi
            spans.append([lo, hi])
            i = low.find(w, hi)
    spans.sort()
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _line_of(text: str, start: int, end: int) -> str:
    lo = max(text.rfind("\n", 0, start), text.rfind("\x00", 0, start)) + 1
    hi = min(x for x in (text.find("\n", end), text.find("\x00", end), len(text)) if x != -1)
    return text[lo:hi]


@dataclass(frozen=True)
class DsRule:
    """How one detect-secrets plugin is run.

    Attributes:
        regexes: the plugin's compiled regexes (``plugin.denylist`` or a subset).
        gate: :class:`Gate` that must open before the regexes run.
        group: value group: ``None`` = first non-empty group, else the whole match
            (detect-secrets' ``findall`` semantics); an int picks that group.
        span: optional span fixer ``(text, start, end) -> (start, end)``.
        check: optional ``(value, text, start, end) -> bool`` (False drops it).
        line_keys: lower-case words; when set the regexes run only on the lines that
            hold one (detect-secrets scans line by line, so this finds the same values;
            the keyword plugin's regexes are slow on long texts).
    """

    regexes: tuple
    gate: Gate
    group: int | None = None
    span: Callable | None = None
    check: Check | None = None
    line_keys: tuple[str, ...] = ()


class DetectSecretsRecognizer(EntityRecognizer):
    """One detect-secrets plugin as a presidio recognizer of one entity type.

    Args:
        entity: entity type reported (placeholder label source).
        plugin: the detect-secrets plugin instance (its class names the recognizer:
            ``ds.SendGridDetector``; that name lands in the lineage ``redactions`` rows).
        rules: :class:`DsRule` list (normally one, the plugin's ``denylist``).
        priority: lower wins ties between equally long overlapping spans.
        score: presidio score of every finding.
        formally_valid: optional plugin-side validity test of the value (JWT).
    """

    def __init__(self, entity: str, plugin, rules: Sequence[DsRule], priority: int = 20, score: float = 0.9,
                 formally_valid: Callable[[str], bool] | None = None, suffix: str = ""):
        self.plugin, self.rules, self.priority, self.score = plugin, list(rules), priority, score
        self.formally_valid = formally_valid
        self.GATES = tuple(r.gate for r in self.rules)
        super().__init__(supported_entities=[entity], name=f"ds.{type(plugin).__name__}{suffix}",
                         supported_language="en")

    def load(self) -> None:  # noqa: D102
        pass

    def gate_open(self, text: str) -> bool:
        """True when any rule's gate opens (the scrubber's pre-filter)."""
        return any(g.open(text) for g in self.GATES)

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102
        out = []
        for rule in self.rules:
            if not rule.gate.open(text):
                continue
            spans = _lines_with(text, rule.line_keys) if rule.line_keys else [(0, len(text))]
            for rx in rule.regexes:
                for m in (m for lo, hi in spans for m in rx.finditer(text, lo, hi)):
                    if rule.group is None:
                        g = next((i for i in range(1, (m.re.groups or 0) + 1) if m.group(i)), 0)
                    else:
                        g = rule.group
                    start, end = m.span(g)
                    if rule.span is not None:
                        start, end = rule.span(text, start, end)
                    value = text[start:end]
                    if "\x00" in value:  # never across the scrubber's record joiner
                        value = value.split("\x00", 1)[0].rstrip("\n")
                        end = start + len(value)
                    if len(value) < 4 or not _ds_common_ok(value):
                        continue
                    if self.formally_valid is not None and not self.formally_valid(value):
                        continue
                    if rule.check is not None and not rule.check(value, text, start, end):
                        continue
                    out.append(RecognizerResult(self.supported_entities[0], start, end, self.score,
                                                recognition_metadata=_meta(self)))
        return out


class HighEntropyRecognizer(DetectSecretsRecognizer):
    """detect-secrets' Base64/Hex high-entropy plugins: quoted strings above the plugin's limit.

    The regex is the plugin's ``(['"])([charset]+)\\1`` with a minimum length under
    which the limit cannot be passed (entropy <= log2(length)): 23 chars for base64
    (limit 4.5), 9 for hex (limit 3.0). Gas Town vocabulary is kept (module docstring).
    """

    _ID_KEY = re.compile(r"(?i)(?:^|[^a-z])(?:id|ids|sha\w*|hash\w*|digest|commit|rev|revision|checksum|"
                         r"etag|fingerprint|integrity|run_id|nonce|uuid)[\"']?\s*[:=]\s*[\"']?$")

    def __init__(self, plugin, min_len: int, gate: Gate, priority: int = 60):
        charset = re.escape(plugin.charset)
        rx = re.compile(rf"(['\"])([{charset}]{{{min_len},}})(\1)")
        super().__init__("SECRET", plugin, [DsRule((rx,), gate, group=2, check=self._keep)],
                         priority=priority, score=0.6)

    def _keep(self, value: str, text: str, start: int, end: int) -> bool:
        entropy = self.plugin.calculate_shannon_entropy(value)
        if entropy <= self.plugin.entropy_limit and not _random_like(value, entropy):
            return False
        if _is_digest(value) or _is_readable_name(value) or _is_path(value):
            return False
        line = _line_of(text, start, end)
        if ds_filters.is_likely_id_string(value, line, self.plugin):
            return False
        return not self._ID_KEY.search(text, max(0, start - 60), start - 1 if start else 0)


_HEX = re.compile(r"^[0-9a-fA-F]+$")
_NAME_SEP = re.compile(r"[/._-]")
_NAME_PART = re.compile(r"^(?:[A-Za-z]+[0-9]*|[0-9]+[A-Za-z]?)$")


def _is_readable_name(value: str) -> bool:
    """Model/repo/package names such as ``HuggingFaceTB/SmolLM2-135M-Instruct``: separated parts
    that are each a word (optionally with a number) or a number with a unit; random base64 almost
    never splits that way."""
    parts = [p for p in _NAME_SEP.split(value) if p]
    return (len(parts) >= 2 and all(_NAME_PART.match(p) for p in parts)
            and any(sum(c.isalpha() for c in p) >= 4 for p in parts))


def _is_digest(value: str) -> bool:
    """Git SHAs (7-12 short, 40 full), our 16-hex lineage ids (corpus versions, record/example ids:
    ``schema.stable_id``) and sha256 digests: Gas Town lineage vocabulary."""
    return bool(_HEX.match(value)) and (7 <= len(value) <= 12 or len(value) in (16, 40, 64))


def _mixed_classes(value: str) -> bool:
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and any(c.isdigit() for c in value))


def _random_like(value: str, entropy: float) -> bool:
    """A long mixed-class string whose entropy is near the most its length allows: a random draw.

    detect-secrets' fixed base64 limit (4.5 bits/char) misses about 4% of random 40-char base64
    secrets (their entropy falls to ~4.3 by chance, while a 40-char string cannot exceed
    log2(40) = 5.32); from 32 chars on, within 1.1 bits of that maximum counts as random
    (about 4 standard deviations under a random string's mean), with upper, lower and digits.
    """
    return len(value) >= 32 and entropy > math.log2(len(value)) - 1.1 and _mixed_classes(value)


def _is_path(value: str) -> bool:
    """Filesystem paths (``/tmp/.../exports/deacon/20261202T143612``): base64's alphabet has ``/``,
    but a secret is not an absolute or relative path of several segments (home paths are scrubbed
    by their own recognizer). A segment of 16+ mixed-class characters (``/F+Rfvhb2QNFTsjyewT3H``)
    is a random string that happens to contain ``/``, not a path."""
    if not (value.startswith(("/", "./", "../", "~/")) and value.count("/") >= 2):
        return False
    return not any(len(seg) >= 16 and _mixed_classes(seg) for seg in value.split("/"))


_PASSWORD_KEY = re.compile(r"(?i)pass|pwd|contrase")


def _keyword_check(value_ok: Check, password_ok: Check):
    """Keyword plugin values: password-like names keep any literal; other names need entropy."""
    def check(value: str, text: str, start: int, end: int) -> bool:
        key = text[max(0, start - 60):start]
        return (password_ok if _PASSWORD_KEY.search(key.rsplit("\n", 1)[-1]) else value_ok)(value, text, start, end)
    return check


def build_detect_secrets_recognizers(value_ok: Check, password_ok: Check) -> list[EntityRecognizer]:
    """One recognizer per detect-secrets plugin (public IP excluded; see module docstring).

    Args:
        value_ok: check for values assigned to key/token/secret names (ours:
            reference/placeholder/entropy rules of :mod:`node0_ops.corpus.recognizers`).
        password_ok: check for values assigned to password-like names.
    """
    ds_keyword_regexes = tuple(keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP.items())
    aws_det = aws.AWSKeyDetector()
    ci = lambda *s: Gate(any_of_ci=s)  # noqa: E731
    cs = lambda *s: Gate(any_of=s)  # noqa: E731
    rx = lambda p: Gate(regex=re.compile(p))  # noqa: E731

    def plain(entity, plugin, gate, priority=20, **kw):
        return DetectSecretsRecognizer(entity, plugin, [DsRule(tuple(plugin.denylist), gate, **{
            k: v for k, v in kw.items() if k in ("group", "span", "check", "line_keys")})], priority=priority,
            **{k: v for k, v in kw.items() if k in ("score", "formally_valid")})

    # every match of the keyword plugin's regexes holds one of its denylist words (``api_?key`` ...,
    # ``password``, ``secret``, ``contraseña``): as lower-case substrings, with and without the ``_``
    kw_stems = ("api", "auth", "service", "account", "db", "database", "priv", "private", "client")
    kw_words = tuple(sorted({f"{a}{sep}key" for a in kw_stems for sep in ("", "_")}
                            | {f"{a}{sep}pass" for a in ("db", "database", "key") for sep in ("", "_")}
                            | {"password", "passwd", "pwd", "secret", "contrase"}))
    kw_rules = [DsRule((r,), ci(*kw_words), group=g, check=_keyword_check(value_ok, password_ok), line_keys=kw_words)
                for r, g in ds_keyword_regexes]
    return [
        DetectSecretsRecognizer("PRIVATE_KEY", PrivateKeyDetector(), [
            DsRule(tuple(PrivateKeyDetector.denylist), cs("PRIVATE KEY", "PuTTY-User-Key-File"), group=0,
                   span=_private_key_span)], priority=0, score=1.0),
        DetectSecretsRecognizer("AWS_ACCESS_KEY", aws_det, [
            DsRule((aws_det.denylist[0],), cs("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), group=0,
                   check=lambda v, t, s, e: s == 0 or not t[s - 1].isalnum())], priority=10, score=1.0),
        DetectSecretsRecognizer("AWS_SECRET_KEY", aws_det, [DsRule(tuple(aws_det.denylist[1:]), ci("aws"))],
                                priority=20, score=1.0, suffix=".secret"),
        plain("GITHUB_TOKEN", GitHubTokenDetector(), cs("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), 10, group=0),
        plain("API_KEY", GitLabTokenDetector(), cs("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941",
                                                   "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-"), 10, group=0),
        plain("OPENAI_KEY", OpenAIDetector(), cs("T3BlbkFJ"), 10, group=0),
        plain("SLACK_TOKEN", SlackDetector(), Gate(("hooks.slack.com",), ("xox",)), 10, group=0),
        plain("JWT", JwtTokenDetector(), cs("eyJ"), 15, group=0, span=_jwt_span,
              formally_valid=JwtTokenDetector.is_formally_valid),
        plain("API_KEY", SendGridDetector(), cs("SG."), 10, group=0),
        plain("API_KEY", TwilioKeyDetector(), rx(r"(?:AC|SK)[a-z0-9]{32}"), 12, group=0,
              check=lambda v, t, s, e: (s == 0 or not t[s - 1].isalnum()) and (e >= len(t) or not t[e].isalnum())),
        plain("API_KEY", DiscordBotTokenDetector(), rx(r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}"), 12, group=0),
        plain("API_KEY", TelegramBotTokenDetector(), Gate(regex=re.compile(r"\d{8}:[0-9A-Za-z_-]{35}"),
                                                          shape_any=(b"00000000:",)), 12, group=0),
        plain("API_KEY", MailchimpDetector(), cs("-us"), 12, group=0),
        plain("API_KEY", SquareOAuthDetector(), cs("sq0csp-"), 10, group=0),
        plain("API_KEY", StripeDetector(), cs("k_live_"), 10, group=0),
        plain("API_KEY", AzureStorageKeyDetector(), cs("AccountKey="), 10, group=0,
              span=lambda t, s, e: (s + len("AccountKey="), e)),
        plain("API_KEY", IbmCloudIamDetector(), ci("key", "pwd", "pass", "token"), 30,
              line_keys=("key", "pwd", "pass", "token")),
        plain("API_KEY", IbmCosHmacDetector(), ci("secret"), 30, line_keys=("secret",)),
        plain("API_KEY", SoftlayerDetector(), ci("softlayer", "sl_", "sl-", "slapi", "slkey", "slpwd", "slpass",
                                                  "sltoken"), 30),
        plain("API_KEY", CloudantDetector(), ci("cloudant", *(p + k for p in ("cl", "clou") for k in (
            "_", "-", "api", "key", "pw", "pass", "token"))), 30),
        plain("API_KEY", ArtifactoryDetector(), rx(r"AKC[a-zA-Z0-9]{10}|AP[\dABCDEF][a-zA-Z0-9]{8}"), 30, group=0,
              span=_strip_span),
        plain("API_KEY", NpmDetector(), cs("_authToken"), 10, check=lambda v, t, s, e: not v.startswith("${")),
        plain("API_KEY", PypiTokenDetector(), cs("pypi-AgE"), 10, group=0),
        plain("URL_CREDENTIALS", BasicAuthDetector(), cs("://"), 30,
              check=lambda v, t, s, e: password_ok(v, t, s, e)),
        DetectSecretsRecognizer("SECRET", keyword.KeywordDetector(), kw_rules, priority=37, score=0.7),
        HighEntropyRecognizer(Base64HighEntropyString(), 23, Gate(("'", '"'))),
        HighEntropyRecognizer(HexHighEntropyString(), 9, Gate(("'", '"')), priority=61),
    ]


# ---------------------------------------------------------------- presidio PII

def analyzer_engine(**kwargs) -> AnalyzerEngine:
    """``AnalyzerEngine(**kwargs)`` with a :class:`WindowContextEnhancer` (presidio's warning
    that lemma context needs NLP tokens does not apply: this enhancer reads the text)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LemmaContextAwareEnhancer cannot use context words")
        return AnalyzerEngine(context_aware_enhancer=WindowContextEnhancer(), **kwargs)


class WindowContextEnhancer(LemmaContextAwareEnhancer):
    """presidio's context enhancer reading words from the text itself (no NLP tokens needed).

    The ``no_op`` NLP engine yields no tokens, so presidio's lemma enhancer finds
    no context. Here the surrounding words are the lower-cased ``[a-z]+`` runs of
    the :data:`CONTEXT_WINDOW_WORDS` words before the match (and one after), cut at
    the record joiner; matching is whole-word (``lic`` does not match ``public``).
    Score rule as presidio's: +0.35, at least 0.4, at most 1.0.
    """

    _WORD = re.compile(r"[a-z]+")

    def __init__(self):
        super().__init__(context_prefix_count=CONTEXT_WINDOW_WORDS, context_suffix_count=1,
                         context_matching_mode="whole_word")
        self._text = ""

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):  # noqa: D102
        if not raw_results:  # nothing to enhance (most texts): skip presidio's deep copy of the list
            return []
        self._text = text
        return super().enhance_using_context(text, raw_results, nlp_artifacts, recognizers, context)

    def _extract_surrounding_words(self, nlp_artifacts, word, start):  # noqa: D102
        text = self._text
        lo = max(0, start - 200, text.rfind("\x00", 0, start) + 1)
        before = self._WORD.findall(text[lo:start].lower())[-self.context_prefix_count:]
        end = start + len(word)
        hi = text.find("\x00", end, end + 80)
        after = self._WORD.findall(text[end:hi if hi != -1 else end + 80].lower())[:self.context_suffix_count]
        return before + after


class GatedPiiRecognizer(EntityRecognizer):
    """A presidio predefined recognizer behind a cheap gate, optionally needing context.

    Args:
        inner: the presidio recognizer (its patterns, validation and context words).
        gate: :class:`Gate`; the inner recognizer runs only when it opens.
        needs_context: cap scores at :data:`CONTEXT_CAP` so only a context word lifts
            a finding over :data:`MIN_SCORE` (checksum-valid or not).
        context_only: every pattern of ``inner`` scores under :data:`MIN_SCORE`, so it
            runs only on windows around its context words (same findings, far less text).
        windows: regex of candidate spans (a superset of ``inner``'s patterns); ``inner``
            runs on each candidate +-16 chars instead of the whole text (presidio's
            ``regex`` patterns and ``phonenumbers``' eight regions are slow on transcripts).
        clip: keep only findings inside the candidate itself (phone numbers).
        keep: optional ``(value, text, start, end) -> bool`` for Gas Town vocabulary.
        priority: lower wins ties between equally long overlapping spans.
    """

    def __init__(self, inner: EntityRecognizer, gate: Gate | None = None, needs_context: bool = False,
                 context_only: bool = False, windows: re.Pattern | None = None, keep: Check | None = None,
                 priority: int = 40, clip: bool = False):
        self.inner, self.needs_context, self.priority, self.windows, self.keep, self.clip = (
            inner, needs_context, priority, windows, keep, clip)
        self.words = tuple(sorted({w.lower().strip() for w in inner.context if w.strip()}))
        self.context_only = context_only
        self.GATES = (gate if gate is not None else Gate(words_ci=self.words),)
        super().__init__(supported_entities=list(inner.supported_entities), name=type(inner).__name__,
                         supported_language="en", context=list(inner.context))

    def load(self) -> None:  # noqa: D102
        pass

    def gate_open(self, text: str) -> bool:  # noqa: D102
        return self.GATES[0].open(text)

    def _spans(self, text: str) -> list[tuple[int, int, int, int]]:
        """(window lo, hi, keep lo, keep hi) pieces of ``text`` to analyze."""
        if not self.context_only and self.windows is None:
            return [(0, len(text), 0, len(text))]
        out: list[list[int]] = []
        if self.windows is not None:
            for m in self.windows.finditer(text):
                lo, hi = max(0, m.start() - 16), min(len(text), m.end() + 16)
                out.append([lo, hi, m.start(), m.end()] if self.clip else [lo, hi, lo, hi])
        if self.context_only:
            for pos, end in _word_hits(ascii_lower(text), self.words, word_checks(text)):
                lo, hi = max(0, pos - 80), min(len(text), end + 240)
                out.append([lo, hi, lo, hi])
        out.sort()
        merged: list[list[int]] = []
        for w in out:  # merge overlapping windows (a finding keeps to its window)
            if merged and w[0] <= merged[-1][1] and not self.clip:
                merged[-1][1] = merged[-1][3] = max(merged[-1][1], w[1])
            else:
                merged.append(w)
        return [tuple(w) for w in merged]

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102
        if not self.GATES[0].open(text):
            return []
        out, seen = [], set()
        for lo, hi, klo, khi in self._spans(text):
            piece = text if (lo, hi) == (0, len(text)) else text[lo:hi]
            for r in self.inner.analyze(piece, entities, nlp_artifacts if piece is text else None):
                r.start += lo
                r.end += lo
                if r.start < klo or r.end > khi or (r.start, r.end) in seen or "\x00" in text[r.start:r.end]:
                    continue
                if self.keep is not None and not self.keep(text[r.start:r.end], text, r.start, r.end):
                    continue
                seen.add((r.start, r.end))
                if self.needs_context:
                    r.score = min(r.score, CONTEXT_CAP)
                r.recognition_metadata = _meta(self)  # our id: the context enhancer looks recognizers up by it
                out.append(r)
        return out


def _word_hits(low: str, words: Sequence[str], known: dict[str, bool] | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of whole-word occurrences of ``words`` in lower-cased ``low``; ``known``:
    words already decided for this text (:func:`node0_ops.corpus.gates.word_checks`)."""
    known = known or {}
    return [m.span() for w in words if (known[w] if w in known else w in low) for m in word_re(w).finditer(low)]


# Gas Town vocabulary that presidio's loose id patterns match: priorities (P0-P4), bead ids, versions.
_GT_VOCAB = re.compile(r"(?i)^(?:p[0-4]|[a-z]{2,4}-[a-z0-9]{3,8}(?:\.\d+)*|v?\d+(?:\.\d+){1,3})$")


def _id_like_ok(min_len: int) -> Check:
    """Licence/passport numbers: at least ``min_len`` chars, not Gas Town vocabulary, standalone."""
    def keep(value: str, text: str, start: int, end: int) -> bool:
        if len(value) < min_len or _GT_VOCAB.match(value):
            return False
        before, after = text[start - 1:start], text[end:end + 1]
        return not (before in ("-", "_", ".", "/") or after in ("-", "_", "/"))
    return keep


def _phone_ok(value: str, text: str, start: int, end: int) -> bool:
    """A phone number has >= 10 digits (with area/country code) and stands alone:
    not inside an id, a timestamp (``12:05:01.456893-08``), a version or a line range."""
    if sum(c.isdigit() for c in value) < 10:
        return False
    before, after = text[start - 1:start], text[end:end + 2]
    if before and (before.isalnum() or before in ":.-/_#=@"):
        return False
    nxt = after[:1]
    return not nxt or not (nxt.isalnum() or nxt in "-_/@" or (nxt in ":." and after[1:2].isdigit()))


def _card_ok(value: str, text: str, start: int, end: int) -> bool:
    """A card number is not the fraction of a decimal (``137.38011173461396`` in run metrics) nor
    part of a longer digit run."""
    if start >= 2 and text[start - 1] == "." and text[start - 2].isdigit():
        return False
    return not ((start and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()))


def _either(rec: EntityRecognizer, pattern: re.Pattern, shape_any: tuple[bytes, ...]) -> Gate:
    """Gate open on a context word of ``rec`` (whole word, any case) or on ``pattern``."""
    return Gate(words_ci=tuple(sorted({w.lower().strip() for w in rec.context if w.strip()})), regex=pattern,
                shape_any=shape_any)


def _dashed(first: str, seps: str) -> tuple[bytes, ...]:
    """Shapes of ``<first>[seps]00[seps]0000`` (SSN/ITIN layout; see :func:`node0_ops.corpus.gates.shape`)."""
    return tuple(f"{first}{a}00{b}0000".encode() for a in seps for b in seps)


def build_pii_recognizers() -> list[EntityRecognizer]:
    """presidio's predefined personal-data recognizers, gated (see module docstring)."""
    card, phone, iban, crypto = CreditCardRecognizer(), PhoneRecognizer(), IbanRecognizer(), CryptoRecognizer()
    ssn, itin, passport = UsSsnRecognizer(), UsItinRecognizer(), UsPassportRecognizer()
    dl, nhs, med = UsLicenseRecognizer(), NhsRecognizer(), MedicalLicenseRecognizer()
    phone_candidates = re.compile(r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}"
                                  r"|\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?!\d)")
    card_rx = re.compile(r"\d{4}[- ]?\d{3,4}[- ]?\d{3,4}[- ]?\d{1,5}")
    iban_rx = re.compile(r"[A-Z]{2}\d{2} ?[A-Z0-9]{4}(?: ?[A-Z0-9]{1,4}){1,7}")  # IBANs are written upper-case
    crypto_rx = re.compile(r"(?:bc1|[13])[a-km-zA-HJ-NP-Z1-9]{25,59}")
    ssn_rx, itin_rx = re.compile(r"\d{3}[- .]\d{2}[- .]\d{4}"), re.compile(r"9\d{2}[- ]\d{2}[- ]\d{4}")
    return [
        # shape_any: what every match of the regex contains, in digit-shape terms (gates.shape)
        GatedPiiRecognizer(card, Gate(regex=card_rx, shape_any=(b"0000-000", b"0000 000", b"0000000")),
                           windows=card_rx, keep=_card_ok, priority=30),
        GatedPiiRecognizer(phone, Gate(regex=phone_candidates, shape_any=(b"+0", b"000 0000", b"000.0000", b"000-0000")),
                           windows=phone_candidates, clip=True, keep=_phone_ok, priority=45),
        GatedPiiRecognizer(iban, Gate(regex=iban_rx, shape_any=(b"AA00",)), windows=iban_rx, priority=30),
        GatedPiiRecognizer(crypto, Gate(regex=crypto_rx), windows=crypto_rx, priority=30),
        # weak SSN/ITIN patterns need a context word; the medium ones (dashed) do not
        GatedPiiRecognizer(ssn, _either(ssn, ssn_rx, _dashed("000", "- .")), windows=ssn_rx, context_only=True,
                           priority=42),
        GatedPiiRecognizer(itin, _either(itin, itin_rx, _dashed("000", "- ")), windows=itin_rx, context_only=True,
                           priority=41),
        GatedPiiRecognizer(passport, None, context_only=True, keep=_id_like_ok(8), priority=43),
        GatedPiiRecognizer(dl, None, context_only=True, keep=_id_like_ok(6), priority=44),
        GatedPiiRecognizer(nhs, None, needs_context=True, context_only=True, priority=41),
        GatedPiiRecognizer(med, None, needs_context=True, context_only=True, priority=41),
    ]
