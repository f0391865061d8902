"""Library detectors in the scrubber: one case per detect-secrets plugin and per presidio PII recognizer.

Every case is a realistic fake value in the syntax its detector expects, embedded three ways the
collector produces records: a Claude Code transcript line (tool result), a markdown document and a
JSON settings file. Each must be found by its own recognizer and be gone after ``scrub_record``.
"""

import random
import string

import pytest

from node0_ops.corpus.detectors import build_detect_secrets_recognizers, build_pii_recognizers
from node0_ops.corpus.recognizers import _password_value, _secret_value
from node0_ops.corpus.schema import Provenance, Record
from node0_ops.corpus.scrub import Scrubber

_rng = random.Random(1207)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def tok(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(tok(64, ALNUM + "+/") for _ in range(4)) + \
      "\n-----END RSA PRIVATE KEY-----"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfN2YzazIiLCJleHAiOjE3NjcyMjU2MDB9."
       + tok(43, ALNUM + "-_"))

# (recognizer name, snippet, secret that must disappear)
DS_CASES = [
    ("ds.PrivateKeyDetector", f"$ cat ~/.ssh/deploy\n{PEM}", PEM.splitlines()[2]),
    ("ds.AWSKeyDetector", (v := "AKIA" + tok(16, string.ascii_uppercase + string.digits)) and
     f"aws_access_key_id = {v}", v),
    ("ds.AWSKeyDetector.secret", (v := tok(40, ALNUM + "/+")) and f'AWS_SECRET_ACCESS_KEY: "{v}"', v),
    ("ds.GitHubTokenDetector", (v := "ghp_" + tok(36)) and f"git push https://{v}@github.com/acme/x", v),
    ("ds.GitLabTokenDetector", (v := "glpat-" + tok(20)) and f"GITLAB_TOKEN={v}", v),
    ("ds.OpenAIDetector", (v := "sk-" + tok(20) + "T3BlbkFJ" + tok(20)) and f"OPENAI_API_KEY={v}", v),
    ("ds.SlackDetector", (v := f"xoxb-{tok(11, string.digits)}-{tok(12, string.digits)}-{tok(24, HEX)}") and
     f"slack bot token {v}", v),
    ("ds.JwtTokenDetector", f"Cookie: session={JWT}", JWT),
    ("ds.SendGridDetector", (v := f"SG.{tok(22, ALNUM + '_-')}.{tok(43, ALNUM + '_-')}") and
     f"sendgrid key {v}", v),
    ("ds.TwilioKeyDetector", (v := "SK" + tok(32, HEX)) and f"twilio api key {v}", v),
    ("ds.DiscordBotTokenDetector", (v := f"M{tok(23)}.{tok(6)}.{tok(27)}") and f"DISCORD_BOT={v}", v),
    ("ds.TelegramBotTokenDetector", (v := f"{tok(9, string.digits)}:{tok(35, ALNUM + '_-')}") and
     f"bot token {v}", v),
    ("ds.MailchimpDetector", (v := tok(32, HEX) + "-us12") and f"mailchimp: {v}", v),
    ("ds.SquareOAuthDetector", (v := "sq0csp-" + tok(43)) and f"square secret {v}", v),
    ("ds.StripeDetector", (v := "sk_live_" + tok(24)) and f"STRIPE_KEY={v}", v),
    ("ds.AzureStorageKeyDetector", (v := tok(86, ALNUM + "+/") + "==") and
     f"DefaultEndpointsProtocol=https;AccountName=gtlogs;AccountKey={v};EndpointSuffix=core.windows.net", v),
    ("ds.IbmCloudIamDetector", (v := tok(44, ALNUM + "_-")) and f'ibm_cloud_iam_api_key = "{v}"', v),
    ("ds.IbmCosHmacDetector", (v := tok(48, HEX)) and f'cos_hmac_secret_access_key = "{v}"', v),
    ("ds.SoftlayerDetector", (v := tok(64, string.ascii_lowercase + string.digits)) and
     f'softlayer_api_key = "{v}"', v),
    ("ds.CloudantDetector", (v := tok(64, HEX)) and f"https://gtacct:{v}@gtacct.cloudant.com/db", v),
    ("ds.ArtifactoryDetector", (v := "AKC" + tok(70)) and f'artifactory_token: "{v}"', v),
    ("ds.NpmDetector", (v := "npm_" + tok(36)) and f"//registry.npmjs.org/:_authToken={v}", v),
    ("ds.PypiTokenDetector", (v := "pypi-AgEIcHlwaS5vcmc" + tok(80, ALNUM + "-_")) and
     f"[pypi]\n  password = {v}", v),
    ("ds.BasicAuthDetector", "DATABASE_URL=postgres://app:Xq9vL2mPz7@db.internal:5432/prod", "Xq9vL2mPz7"),
    ("ds.KeywordDetector", (v := "Tr0ub4dor-" + tok(10)) and f'db_pass: "{v}"', v),
    ("ds.Base64HighEntropyString", (v := tok(40, ALNUM + "+/")) and f'blob = "{v}"', v),
    ("ds.HexHighEntropyString", (v := tok(32, HEX)) and f"value = '{v}'", v),
]

PII_CASES = [
    ("CreditCardRecognizer", "paid with card 4111 1111 1111 1111 yesterday", "4111 1111 1111 1111"),
    ("PhoneRecognizer", "call me at +1 (415) 555-0199 after standup", "555-0199"),
    ("IbanRecognizer", "refund to IBAN GB82 WEST 1234 5698 7654 32 please", "5698 7654"),
    ("CryptoRecognizer", "tip jar btc wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
    ("UsSsnRecognizer", "employee ssn 536-22-8714 on file", "536-22-8714"),
    ("UsItinRecognizer", "taxpayer itin 912-71-1234 for the contractor", "912-71-1234"),
    ("UsPassportRecognizer", "my passport number is 912803456", "912803456"),
    ("UsLicenseRecognizer", "driver license D1234567 expires soon", "D1234567"),
    ("NhsRecognizer", "patient NHS number 943 476 5919", "943 476 5919"),
    ("MedicalLicenseRecognizer", "prescriber DEA certificate AB1234563", "AB1234563"),
]

CASES = DS_CASES + PII_CASES


def embed(kind: str, snippet: str) -> Record:
    """The snippet as the collector sees it in a transcript, a markdown doc or a settings file."""
    if kind == "transcript":
        payload = {"type": "user", "sessionId": "c1d4c357", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": f"$ cat notes.txt\n{snippet}\n"}]}}
    elif kind == "markdown":
        payload = {"path": "docs/runbook.md", "text": f"# Runbook\n\nSteps for the on-call polecat.\n\n```\n{snippet}\n```\n"}
    else:
        payload = {"env": {"GT_ROOT": "~/gt"}, "notes": snippet, "hooks": {"PreToolUse": []}}
    return Record("transcript" if kind == "transcript" else "doc", f"test:{kind}", payload,
                  Provenance(f"/tmp/{kind}", "0" * 64, 1, 0, "transcript" if kind == "transcript" else "doc"))


def strings_of(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings_of(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings_of(v)]
    return []


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


@pytest.fixture(scope="module")
def by_name() -> dict:
    recs = build_detect_secrets_recognizers(_secret_value, _password_value) + build_pii_recognizers()
    return {r.name: r for r in recs}


def test_every_library_recognizer_has_a_case(by_name):
    assert sorted(by_name) == sorted(name for name, _, _ in CASES)


@pytest.mark.parametrize("kind", ["transcript", "markdown", "settings"])
@pytest.mark.parametrize("name,snippet,secret", CASES, ids=[c[0] for c in CASES])
def test_library_detector_finds_and_scrubber_removes(scrubber, by_name, name, snippet, secret, kind):
    rec = embed(kind, snippet)
    text = "\n\x00\n".join(strings_of(rec.payload))
    assert secret in text
    own = by_name[name].analyze(text, by_name[name].supported_entities, None)
    start = text.index(secret)
    assert any(r.start <= start and start + len(secret) <= r.end for r in own), f"{name} missed its case"
    new, rows = scrubber.scrub_record(rec)
    clean = strings_of(new.payload)
    assert not any(secret in s for s in clean), clean
    assert rows and all(r.count >= 1 for r in rows)
    assert [f for s in clean for f in scrubber.scan(s)] == []


def test_pii_weak_patterns_need_context(scrubber):
    for kept in ("build 912803456 passed", "ref D1234567", "9434765919", "lines 333-334", "ts 1767225600",
                 "merge driver bug is P0", "2025-12-30T06:59:46.966142-08:00"):
        assert scrubber.scrub_text(kept)[0] == kept, kept


def test_placeholders_stable_within_a_document_across_kinds(scrubber):
    key_a, key_b = f"SG.{tok(22)}.{tok(43)}", f"SG.{tok(22)}.{tok(43)}"
    rec = embed("transcript", f"first {key_a}\nsecond {key_b}\nagain {key_a}\ncall +1 (415) 555-0199 or +1 (415) 555-0199")
    new, rows = scrubber.scrub_record(rec)
    out = new.payload["message"]["content"][0]["content"]
    assert "first <API_KEY_1>\nsecond <API_KEY_2>\nagain <API_KEY_1>\ncall <PHONE_1> or <PHONE_1>" in out
    assert {(r.entity_type, r.recognizer): r.count for r in rows} == {
        ("API_KEY", "ds.SendGridDetector"): 3, ("PHONE_NUMBER", "PhoneRecognizer"): 2}


# Gas Town vocabulary that must never be replaced (regexes over the raw text).
VOCAB = {
    "bead_id": r"(?<![\w-])(?:gt|bd|hq|hq-cv|be)-[a-z0-9]{3,10}(?:\.\d+)*(?![\w-])",
    "git_sha": r"(?<![\w-])(?=[0-9]*[a-f])(?:[0-9a-f]{7,12}|[0-9a-f]{40})(?![\w-])",  # a letter: not a number
    "sha256": r"(?<![\w-])[0-9a-f]{64}(?![\w-])",
    "uuid_run_id": r"(?<![\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])",
    "port": r"(?<=localhost:)\d{2,5}(?!\d)|(?<=127\.0\.0\.1:)\d{2,5}(?!\d)|(?<=port )\d{2,5}(?!\d)",
    "version": r"(?<![\d.])v?\d+\.\d+\.\d+(?![\d.])",
    "timestamp": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
}


@pytest.mark.realdata
def test_gas_town_vocabulary_survives_on_real_data(real_root, scrubber, capsys):
    import re
    from collections import Counter

    from node0_ops.corpus.collect import collect_paths
    from node0_ops.corpus.scrub import SEP

    records = collect_paths([real_root]).records
    assert len(records) > 1000
    replaced, seen, hit = Counter(), Counter(), Counter()
    patterns = {k: re.compile(p) for k, p in VOCAB.items()}
    for rec in records:
        text = SEP.join(s for s in strings_of(rec.payload) if s)
        if not scrubber.might_contain(text):
            spans = []
        else:
            spans = [(r.start, r.end) for r in scrubber.analyze(text, prefiltered=True)]
            replaced.update(r.entity_type for r in scrubber.analyze(text, prefiltered=True))
        starts = sorted(spans)
        for kind, rx in patterns.items():
            for m in rx.finditer(text):
                seen[kind] += 1
                if any(s < m.end() and m.start() < e for s, e in starts):
                    hit[kind] += 1
    with capsys.disabled():
        print(f"\nreal data: {len(records)} records; replacements by entity type: {dict(replaced.most_common())}")
        print(f"vocabulary occurrences: {dict(seen)}; replaced: {dict(hit)}")
    assert all(seen[k] > 0 for k in ("bead_id", "git_sha", "version", "timestamp")), seen
    assert not hit, f"Gas Town vocabulary replaced: {dict(hit)}"
    # only the kinds real docs legitimately hold (example addresses, homes, IPs, a doc's PEM header)
    assert set(replaced) <= {"EMAIL_ADDRESS", "HOME_PATH", "IP_ADDRESS", "PASSWORD", "PRIVATE_KEY"}, replaced


def test_model_names_are_not_high_entropy_secrets():
    from node0_ops.corpus.scrub import Scrubber

    s = Scrubber()
    for name in ("HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct"):
        assert not s.scan(f'{{"base_model": "{name}"}}'), name
    assert s.scan('{"token": "aZ3x9Qk/Lp0mN8vBq-7sT2wXy4RzQ8"}')   # random base64 still caught


def test_lineage_ids_and_paths_are_not_high_entropy_secrets():
    from node0_ops.corpus.scrub import Scrubber

    s = Scrubber()
    text = ('{"corpus_version": "d88f730a546609d0", "lineage": "d88f730a546609d0", '
            '"adapter_dir": "/tmp/pytest-of-root/pytest-64/state/artifacts/adapters/role-deacon/d88f730a546609d0-749621a0"}')
    assert not [f for f in s.scan(text) if f.entity_type == "SECRET"]
    assert s.scan('{"k": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ff"}')            # 34-hex is no id of ours: caught


def test_random_base64_under_detect_secrets_limit_and_slash_led_secrets_are_caught():
    """Canary misses of detect-secrets' fixed 4.5-bit limit (a random 40-char draw at 4.37 bits) and
    of the path rule (a random string starting with ``/``) are caught; readable strings and real
    paths of the same lengths still survive."""
    from node0_ops.corpus.detectors import _random_like

    s = Scrubber()
    low_entropy_draw = "Lo6JnfLbbl0ofyE1uo5vEun3WLG9OmAOfdbLO5YO"     # 4.37 bits/char, made up
    slash_led = "/RpPmmF/F+Rfvhb2QNFTsjyewT3HAuAZxwE7sKPu"          # made up
    for secret in (low_entropy_draw, slash_led):
        out, _ = s.scrub_text(f'blob = "{secret}"')
        assert secret not in out, out
    for kept in ("/tmp/pytest-of-root/pytest-64/state/artifacts/exports/deacon/20261202T143612",
                 "ThisIsAReadableCamelCaseIdentifierName", "internal/formula/formulas/mol-deacon-patrol.formula.toml"):
        assert s.scrub_text(f'path = "{kept}"')[0] == f'path = "{kept}"', kept
    assert not _random_like("abcdefghijklmnopqrstuvwxyzabcdefgh", 4.7)   # one character class only


def test_context_word_gates_need_whole_words():
    """``us`` (a US-passport context word) opens its gate in "US citizen", not inside "status"."""
    from node0_ops.corpus.gates import Gate, GateSet, word_checks

    g = Gate(words_ci=("us",))
    assert not g.open("status: ok, bus 12") and g.open("US citizen 912803456")
    gs = GateSet({"US_PASSPORT": [Gate(words_ci=("passport", "us"))], "EMAIL": [Gate(("@",))]})
    text = "status of the passport office"
    assert gs.open_groups(text) == ["US_PASSPORT"]
    assert word_checks(text) == {"passport": True, "us": False}
    assert GateSet({"X": [Gate(words_ci=("lic",))]}).open_groups("public click") == []


def test_shape_precondition_skips_digit_regexes_but_never_a_match():
    """``shape_any`` is a necessary condition: every text the regex matches passes it (card, phone,
    SSN layouts), and timestamp-only text never reaches the regex."""
    import re

    from node0_ops.corpus.detectors import build_pii_recognizers
    from node0_ops.corpus.gates import Gate, shape

    assert shape("Card 4111-1111 ü") == "Aaaa 0000-0000 ü".encode()
    gates = {type(r.inner).__name__: r.GATES[0] for r in build_pii_recognizers()}
    for name, text in (("CreditCardRecognizer", "card 4111 1111 1111 1111"), ("CreditCardRecognizer", "4111111111111111"),
                       ("PhoneRecognizer", "call +1 (415) 555-0199"), ("PhoneRecognizer", "call 415.555.0199"),
                       ("UsSsnRecognizer", "078-05-1120"), ("IbanRecognizer", "GB82 WEST 1234 5698 7654 32")):
        assert gates[name].regex_open(text), (name, text)
    stamps = "2025-12-30T06:59:46.966142-08:00 took 12.5s at 1767225600"
    for name in ("CreditCardRecognizer", "UsSsnRecognizer", "IbanRecognizer"):
        assert not gates[name].regex_open(stamps), name
    counting = re.compile(r"\d{8}:")
    assert not Gate(regex=counting, shape_any=(b"00000000:",)).open("port 8080: ok")


def test_equal_gates_share_cached_results():
    """Recognizers rebuilt by the engine hold equal (not identical) gates: one key, one cached decision."""
    import re

    from node0_ops.corpus.gates import Gate

    a, b = Gate(("ghp_",), regex=re.compile("x")), Gate(("ghp_",), regex=re.compile("x"))
    assert a is not b and a.key == b.key and a.key != Gate(("gho_",)).key


def test_email_tight_windows_find_what_presidio_windows_find():
    from node0_ops.corpus.recognizers import GtEmailRecognizer

    g = GtEmailRecognizer()
    for text in ("contact: jane.doe+tag@example.co.uk, or " + "x" * 400 + "y@z.org", "a@b@c.com",
                 "path/to/file/user@example.com", "Author: Sam <sam.lee42@acme.io>", "é@mail.example.org",
                 "owner=bob@x.org next", "git@github.com:acme/x.git and " + "a" * 330 + "@longlocal.example.com"):
        tight = [(r.start, r.end) for r in g.analyze(text, ["EMAIL_ADDRESS"])]
        wide = [(r.start, r.end) for r in g._analyze_windows(text, ["EMAIL_ADDRESS"], None, None, wide=True)]
        assert tight == wide, text
