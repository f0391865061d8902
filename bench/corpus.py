"""Corpus benchmark: collect + scrub throughput on real data, ours vs presidio-all, canary recall.

Usage::

    .venv/bin/python bench/corpus.py [--root ../shared/gastown-real] [--canaries 20]
                                     [--presidio-mb 1.0] [--seed 0] [--no-format]

What it measures (one run, printed as compact tables):

1. collect: ``node0_ops.corpus.collect.collect_paths([root])`` wall time, MB/s of
   source bytes, records/s. (Falls back to a plain file walk when the collector
   is missing, and says so.)
2. scrub: ``Scrubber().scrub_record`` over every record: wall time, MB/s of payload
   string bytes (UTF-8), records/s, redactions per entity type, and a re-scan of
   the scrubbed output (must find 0); the same records through the old scrubber
   (``Scrubber(rules=legacy_rules())``: the pre-library rule set of commit
   ``LEGACY_COMMIT`` loaded from git), throughput ratio new/old (target >= 0.5);
   false positives: Gas Town vocabulary (bead ids, git SHAs, sha256, run ids,
   ports, versions, timestamps) overlapped by a replaced span, new vs old (target 0).
3. baseline: on the same random sample of records (``--presidio-mb`` MB of text),
   our scrub vs presidio ``AnalyzerEngine`` with its default registry (every
   built-in recognizer) on the ``no_op`` NLP engine and no entity limit, analysis
   only. Ratio = our MB/s / presidio-all MB/s (> 1: we are faster, and we also
   replace the spans).
4. canary recall: ``--canaries`` synthetic secrets of every kind (our own rules,
   every detect-secrets vendor plugin, every presidio PII recognizer) injected into
   snippets of sampled texts; a canary counts as found when the detected spans
   cover the whole secret. Ours additionally must not leave it in the scrubbed
   output ("leak-free").
5. optional (runs when the modules import): format/DPO/partition stage timings
   (``build_examples``, ``build_dpo_pairs``, ``partition_corpus``) on the scrubbed records.

Throughput numbers depend on machine load: compare the ratio, not absolute MB/s.
"""

import argparse
import base64
import json
import os
import random
import string
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from node0_ops.corpus.schema import Provenance, Record  # noqa: E402

ALNUM = string.ascii_letters + string.digits


# ---------------------------------------------------------------- corpus

def walk_records(root: Path) -> tuple[list[Record], int]:
    """Fallback collector: one Record per JSONL line / JSON file / text file under ``root``."""
    records, nbytes = [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        nbytes += len(data)
        text = data.decode("utf-8", errors="replace")
        prov = Provenance(str(path), "", None, None, "doc")
        if path.suffix == ".jsonl":
            for i, line in enumerate(text.splitlines(), 1):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                records.append(Record("doc", f"file:{path.name}", obj if isinstance(obj, dict) else {"value": obj},
                                      Provenance(str(path), "", i, None, "doc")))
        elif path.suffix == ".json":
            try:
                obj = json.loads(text)
            except ValueError:
                obj = text
            records.append(Record("doc", f"file:{path.name}", obj if isinstance(obj, dict) else {"value": obj}, prov))
        else:
            records.append(Record("doc", f"file:{path.name}", {"text": text}, prov))
    return records, nbytes


def strings_of(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings_of(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in strings_of(v)]
    return []


def mb(n_bytes: float) -> float:
    return n_bytes / 1e6


# ---------------------------------------------------------------- canaries

def _tok(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


NAMES = ["alice", "bob", "carol", "dmitri", "erin", "farah", "gus", "hana", "ivan", "jun", "kofi", "lena"]
WORDS = ["tulip", "harbor", "copper", "falcon", "meadow", "quartz", "violet", "ember"]


def canary(kind: str, rng: random.Random) -> tuple[str, str]:
    """One synthetic ``(line, secret)`` of ``kind``; ``secret`` is the part that must be detected."""
    t = lambda n, a=ALNUM: _tok(rng, n, a)  # noqa: E731
    up = string.ascii_uppercase + string.digits
    pick = rng.choice
    if kind == "AWS_ACCESS_KEY":
        s = pick(["AKIA", "ASIA"]) + t(16, up)
        return pick([f"aws_access_key_id = {s}", f'"AccessKeyId": "{s}",', f"export AWS_ACCESS_KEY_ID={s}"]), s
    if kind == "AWS_SECRET_KEY":
        s = t(40, ALNUM + "/+")
        return pick([f"aws_secret_access_key = {s}", f"export AWS_SECRET_ACCESS_KEY={s}",
                     f'"SecretAccessKey": "{s}"']), s
    if kind == "GITHUB_TOKEN":
        s = pick([lambda: "ghp_" + t(36), lambda: "gho_" + t(36),
                  lambda: "github_pat_11" + t(20, up) + "_" + t(59)])()
        return pick([f"origin\thttps://x-access-token:{s}@github.com/acme/app.git (push)", f"GH_TOKEN={s}",
                     f'{{"oauth_token": "{s}"}}']), s
    if kind == "ANTHROPIC_KEY":
        s = "sk-ant-api03-" + t(93, ALNUM + "-_") + "AA"
        return pick([f'ANTHROPIC_API_KEY="{s}"', f"client = Anthropic(api_key='{s}')"]), s
    if kind == "OPENAI_KEY":
        s = pick([lambda: "sk-" + t(48), lambda: "sk-proj-" + t(64, ALNUM + "-_") + "T3BlbkFJ" + t(64, ALNUM + "-_")])()
        return pick([f"OPENAI_API_KEY={s}", f'"api_key": "{s}"']), s
    if kind == "HF_TOKEN":
        s = "hf_" + t(34)
        return pick([f"HF_TOKEN={s}", f"huggingface-cli login --token {s}"]), s
    if kind == "SLACK_TOKEN":
        s = pick(["xoxb-", "xoxp-"]) + t(10, string.digits) + "-" + t(13, string.digits) + "-" + t(24)
        return pick([f'"slack_token": "{s}"', f"SLACK_BOT_TOKEN={s}"]), s
    if kind == "API_KEY":
        s = pick([lambda: "glpat-" + t(20, ALNUM + "-_"), lambda: "AIza" + t(35, ALNUM + "-_"),
                  lambda: "npm_" + t(36)])()
        return pick([f"token: {s}", f"//registry.npmjs.org/:_authToken={s}", f"key={s}"]), s
    if kind == "JWT":
        s = (_b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": t(8), "iat": rng.randint(10**9, 2 * 10**9)})
             + "." + t(43, ALNUM + "-_"))
        return pick([f"Cookie: session={s}", f'{{"id_token": "{s}"}}']), s
    if kind == "BEARER_TOKEN":
        s = t(rng.randint(24, 48), ALNUM + "-._~")
        return pick([f'curl -H "Authorization: Bearer {s}" https://api.example.com/v1', f"Authorization: Bearer {s}"]), s
    if kind == "PRIVATE_KEY":
        body = "\n".join(t(64, ALNUM + "+/") for _ in range(rng.randint(3, 8)))
        label = pick(["RSA ", "EC ", "OPENSSH ", ""])
        s = f"-----BEGIN {label}PRIVATE KEY-----\n{body}\n-----END {label}PRIVATE KEY-----"
        return s, s
    if kind == "SECRET":
        s = t(rng.randint(20, 40))
        name = pick(["SIGNING_SECRET", "DOLTHUB_TOKEN", "WEBHOOK_KEY", "client_secret", "api_key", "accessToken"])
        return pick([f"{name}={s}", f'"{name}": "{s}"', f"{name}: {s}", f"export {name}='{s}'"]), s
    if kind == "PASSWORD":
        s = pick(WORDS) + pick(WORDS).capitalize() + str(rng.randint(10, 99)) + pick("!#%")
        return pick([f"PASSWORD={s}", f"password: {s}", f'"db_password": "{s}"', f"DB_PASS={s}"]), s
    if kind == "URL_CREDENTIALS":
        s = t(rng.randint(10, 20))
        return pick([f"DATABASE_URL=postgres://app:{s}@db.internal:5432/prod", f"redis://default:{s}@cache:6379/0"]), s
    if kind == "EMAIL_ADDRESS":
        s = f"{pick(NAMES)}.{pick(WORDS)}{rng.randint(1, 99)}@{pick(['example.com', 'acme.io', 'mail.org'])}"
        return pick([f"Author: {pick(NAMES).title()} <{s}>", f'"owner": "{s}"', f"mail {s} about it"]), s
    if kind == "IP_ADDRESS":
        s = pick([lambda: f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                  lambda: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                  lambda: f"2001:db8:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xffff):x}",
                  lambda: f"fe80::{rng.randint(1, 0xffff):x}:{rng.randint(1, 0xffff):x}:{rng.randint(1, 0xffff):x}"])()
        return pick([f"ssh deploy@{s}", f"host = {s}", f'"peer": "{s}"', f"inet {s} scope global"]), s
    if kind == "HOME_PATH":
        user = pick(NAMES) + str(rng.randint(1, 99))
        line = pick([f"cd /home/{user}/gt/gastown", f"/Users/{user}/gt/beads/cmd/bd/main.go:42",
                     f"C:\\Users\\{user}\\gt\\bd.exe", f"~/.claude/projects/-home-{user}-gt-gastown/s.jsonl"])
        return line, user
    if kind in VENDOR_KINDS:
        return VENDOR_KINDS[kind](rng)
    if kind in PII_KINDS:
        return PII_KINDS[kind](rng)
    raise ValueError(f"unknown canary kind {kind!r}")


HEX = "0123456789abcdef"


def _v(rng, make, lines):
    s = make()
    return rng.choice(lines)(s), s


# detect-secrets vendor plugins (API_KEY placeholders): kind -> rng -> (line, secret)
VENDOR_KINDS = {
    "SENDGRID": lambda r: _v(r, lambda: f"SG.{_tok(r, 22, ALNUM + '_-')}.{_tok(r, 43, ALNUM + '_-')}",
                             [lambda s: f"SENDGRID_API_KEY={s}", lambda s: f'"sendgrid": "{s}"']),
    "TWILIO": lambda r: _v(r, lambda: "SK" + _tok(r, 32, HEX), [lambda s: f"TWILIO_API_KEY={s}", lambda s: f"key {s}"]),
    "DISCORD": lambda r: _v(r, lambda: f"{r.choice('MNO')}{_tok(r, 23)}.{_tok(r, 6)}.{_tok(r, 27)}",
                            [lambda s: f"DISCORD_TOKEN={s}", lambda s: f"Authorization: Bot {s}"]),
    "TELEGRAM": lambda r: _v(r, lambda: f"{_tok(r, 9, string.digits)}:{_tok(r, 35, ALNUM + '_-')}",
                             [lambda s: f"TELEGRAM_BOT_TOKEN={s}", lambda s: f"bot{s}/getMe"]),
    "MAILCHIMP": lambda r: _v(r, lambda: _tok(r, 32, HEX) + f"-us{r.randint(1, 20)}",
                              [lambda s: f"MAILCHIMP_KEY={s}", lambda s: f'"apikey": "{s}"']),
    "SQUARE": lambda r: _v(r, lambda: "sq0csp-" + _tok(r, 43), [lambda s: f"SQUARE_SECRET={s}"]),
    "STRIPE": lambda r: _v(r, lambda: r.choice(["sk", "rk"]) + "_live_" + _tok(r, 24),
                           [lambda s: f"STRIPE_KEY={s}", lambda s: f'stripe.api_key = "{s}"']),
    "AZURE_STORAGE": lambda r: _v(r, lambda: _tok(r, 86, ALNUM + "+/") + "==",
                                  [lambda s: f"DefaultEndpointsProtocol=https;AccountName=gt;AccountKey={s};"]),
    "IBM_CLOUD_IAM": lambda r: _v(r, lambda: _tok(r, 44, ALNUM + "_-"),
                                  [lambda s: f'ibm_cloud_iam_api_key = "{s}"', lambda s: f"IBM_API_KEY: {s}"]),
    "IBM_COS_HMAC": lambda r: _v(r, lambda: _tok(r, 48, HEX), [lambda s: f'cos_hmac_secret_access_key = "{s}"']),
    "SOFTLAYER": lambda r: _v(r, lambda: _tok(r, 64, string.ascii_lowercase + string.digits),
                              [lambda s: f'softlayer_api_key = "{s}"']),
    "CLOUDANT": lambda r: _v(r, lambda: _tok(r, 64, HEX), [lambda s: f"https://acct:{s}@acct.cloudant.com/db"]),
    "ARTIFACTORY": lambda r: _v(r, lambda: "AKC" + _tok(r, 70), [lambda s: f'artifactory_token: "{s}"']),
    "NPM": lambda r: _v(r, lambda: "npm_" + _tok(r, 36), [lambda s: f"//registry.npmjs.org/:_authToken={s}"]),
    "PYPI": lambda r: _v(r, lambda: "pypi-AgEIcHlwaS5vcmc" + _tok(r, 80, ALNUM + "-_"),
                         [lambda s: f"password = {s}", lambda s: f"TWINE_PASSWORD={s}"]),
    "GITLAB": lambda r: _v(r, lambda: r.choice(["glpat-", "gldt-", "glrt-"]) + _tok(r, 20), [lambda s: f"GL_TOKEN={s}"]),
    "HIGH_ENTROPY_B64": lambda r: _v(r, lambda: _tok(r, 40, ALNUM + "+/"), [lambda s: f'blob = "{s}"']),
    "HIGH_ENTROPY_HEX": lambda r: _v(r, lambda: _tok(r, 32, HEX), [lambda s: f"value = '{s}'"]),
}


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _card(r):
    body = r.choice(["4", "51", "52", "55", "37"]) 
    n = 15 if body == "37" else 16
    body += "".join(r.choice(string.digits) for _ in range(n - 1 - len(body)))
    num = body + _luhn_digit(body)
    return num if n == 15 else r.choice([num, " ".join(num[i:i + 4] for i in range(0, 16, 4)),
                                         "-".join(num[i:i + 4] for i in range(0, 16, 4))])


def _iban(r):
    bban = "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _tok(r, 14, string.digits)
    digits = "".join(str(int(c, 36)) for c in bban + "GB00")
    check = 98 - int(digits) % 97
    iban = f"GB{check:02d}{bban}"
    return r.choice([iban, " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))])


def _btc(r):
    import hashlib

    payload = bytes([0]) + bytes(r.randrange(256) for _ in range(20))
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, rem = divmod(n, 58)
        out = alphabet[rem] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _nhs(r):
    while True:
        d = [r.randint(0, 9) for _ in range(9)]
        check = 11 - sum(x * (10 - i) for i, x in enumerate(d)) % 11
        if check == 11:
            check = 0
        if check != 10:
            s = "".join(map(str, d)) + str(check)
            return r.choice([s, f"{s[:3]} {s[3:6]} {s[6:]}"])


def _dea(r):
    d = [r.randint(0, 9) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return r.choice("ABFM") + r.choice(string.ascii_uppercase) + "".join(map(str, d)) + str(check)


def _ssn(r):
    area = r.choice([x for x in range(1, 900) if x != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


PII_KINDS = {
    "CREDIT_CARD": lambda r: _v(r, lambda: _card(r), [lambda s: f"card: {s}", lambda s: f"paid with {s} exp 04/29",
                                                      lambda s: f'"cc": "{s}"']),
    "PHONE_NUMBER": lambda r: _v(r, lambda: r.choice([
        lambda: f"+1 ({r.choice([212, 415, 646, 312, 617, 206, 303, 512])}) {r.randint(200, 999)}-{r.randint(0, 9999):04d}",
        lambda: f"{r.choice([212, 415, 646, 312, 617])}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}",
        lambda: f"+44 20 7{r.randint(100, 999)} {r.randint(1000, 9999)}"])(),
        [lambda s: f"call me at {s}", lambda s: f'"phone": "{s}"', lambda s: f"mobile {s} (evenings)"]),
    "IBAN_CODE": lambda r: _v(r, lambda: _iban(r), [lambda s: f"IBAN {s}", lambda s: f"refund to {s}"]),
    "CRYPTO": lambda r: _v(r, lambda: _btc(r), [lambda s: f"btc wallet {s}", lambda s: f"send to {s}"]),
    "US_SSN": lambda r: _v(r, lambda: _ssn(r), [lambda s: f"SSN: {s}", lambda s: f'"ssn": "{s}"']),
    "US_ITIN": lambda r: _v(r, lambda: f"9{r.randint(0, 99):02d}-{r.randint(70, 88)}-{r.randint(0, 9999):04d}",
                            [lambda s: f"ITIN {s}", lambda s: f"taxpayer id {s}"]),
    "US_PASSPORT": lambda r: _v(r, lambda: _tok(r, 9, string.digits),
                                [lambda s: f"passport number {s}", lambda s: f"US passport: {s}"]),
    "US_DRIVER_LICENSE": lambda r: _v(r, lambda: r.choice(string.ascii_uppercase) + _tok(r, 7, string.digits),
                                      [lambda s: f"driver license {s}", lambda s: f"driving licence no. {s}"]),
    "UK_NHS": lambda r: _v(r, lambda: _nhs(r), [lambda s: f"NHS number {s}", lambda s: f"nhs no {s}"]),
    "MEDICAL_LICENSE": lambda r: _v(r, lambda: _dea(r), [lambda s: f"DEA {s}", lambda s: f"medical certificate {s}"]),
}


CANARY_KINDS = ("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "ANTHROPIC_KEY", "OPENAI_KEY", "HF_TOKEN",
                "SLACK_TOKEN", "API_KEY", "JWT", "BEARER_TOKEN", "PRIVATE_KEY", "SECRET", "PASSWORD",
                "URL_CREDENTIALS", "EMAIL_ADDRESS", "IP_ADDRESS", "HOME_PATH") + tuple(VENDOR_KINDS) + tuple(PII_KINDS)

# Gas Town vocabulary that must never be replaced (same rules as tests/corpus/test_detectors.py).
VOCAB = {
    "bead_id": r"(?<![\w-])(?:gt|bd|hq|hq-cv|be)-[a-z0-9]{3,10}(?:\.\d+)*(?![\w-])",
    "git_sha": r"(?<![\w-])(?=[0-9]*[a-f])(?:[0-9a-f]{7,12}|[0-9a-f]{40})(?![\w-])",
    "sha256": r"(?<![\w-])[0-9a-f]{64}(?![\w-])",
    "uuid_run_id": r"(?<![\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])",
    "port": r"(?<=localhost:)\d{2,5}(?!\d)|(?<=127\.0\.0\.1:)\d{2,5}(?!\d)|(?<=port )\d{2,5}(?!\d)",
    "version": r"(?<![\d.])v?\d+\.\d+\.\d+(?![\d.])",
    "timestamp": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
}
LEGACY_COMMIT = "89264a3"  # last commit with the pre-library rule set (own recognizers + presidio e-mail/IP)


def legacy_rules():
    """The pre-library rule set, loaded from git history as a module (``Scrubber(rules=...)``)."""
    import subprocess
    import types

    src = subprocess.run(["git", "-C", str(REPO), "show", f"{LEGACY_COMMIT}:node0_ops/corpus/recognizers.py"],
                         check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("legacy_recognizers")
    mod.__file__ = f"<git {LEGACY_COMMIT}>/node0_ops/corpus/recognizers.py"
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def vocab_replaced(scrubber, texts: list[str]) -> tuple[Counter, Counter, Counter]:
    """(vocabulary occurrences, of them overlapped by a replaced span, replacements by entity type)."""
    import re

    rx = {k: re.compile(p) for k, p in VOCAB.items()}
    seen, hit, by_type = Counter(), Counter(), Counter()
    for text in texts:
        spans = [(r.start, r.end, r.entity_type) for r in scrubber.analyze(text)] if scrubber.might_contain(text) else []
        by_type.update(e for _, _, e in spans)
        for kind, pat in rx.items():
            for m in pat.finditer(text):
                seen[kind] += 1
                hit[kind] += any(s < m.end() and m.start() < e for s, e, _ in spans)
    return seen, hit, by_type


def inject(host: str, line: str, rng: random.Random) -> tuple[str, int]:
    """Insert ``line`` at a random line boundary of a <= 1500-char snippet of ``host``; returns (text, offset)."""
    lines = host.splitlines()[:40] or [""]
    snippet = "\n".join(lines)[:1500].split("\n")
    at = rng.randint(0, len(snippet))
    before = "\n".join(snippet[:at]) + ("\n" if at else "")
    return before + line + "\n" + "\n".join(snippet[at:]), len(before)


def covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    pos = start
    for s, e in sorted(spans):
        if s <= pos < e:
            pos = e
        if pos >= end:
            return True
    return pos >= end


# ---------------------------------------------------------------- main

def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  " + "  ".join(str(c).rjust(w) if isinstance(c, (int, float)) else str(c).ljust(w)
                               for c, w in zip(r, widths)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "gastown-real"))
    ap.add_argument("--canaries", type=int, default=20, help="canaries per type (default 20)")
    ap.add_argument("--presidio-mb", type=float, default=1.0, help="MB of text for the presidio-all baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-format", action="store_true", help="skip the optional format/partition timings")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    if not root.is_dir():
        print(f"error: --root {root} is not a directory (the real data lives in ../shared/gastown-real)")
        return 2
    rng = random.Random(args.seed)
    print(f"corpus bench: root={root} seed={args.seed} cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f}")

    # 1. collect
    t0 = time.perf_counter()
    try:
        from node0_ops.corpus.collect import collect_paths

        result = collect_paths([root])
        records, src_bytes, how = result.records, sum(s.size_bytes for s in result.sources), "collect_paths"
        n_quar = len(result.quarantine)
    except ImportError as exc:
        records, src_bytes = walk_records(root)
        how, n_quar = f"file walk (collect_paths unavailable: {exc})", 0
    t_collect = time.perf_counter() - t0
    payload_bytes = [sum(len(s.encode()) for s in strings_of(r.payload)) for r in records]
    total_payload = sum(payload_bytes)

    # 2. scrub
    t0 = time.perf_counter()
    from node0_ops.corpus.scrub import SEP, Scrubber

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    scrubber = Scrubber()
    legacy = Scrubber(rules=legacy_rules())
    t_init = time.perf_counter() - t0
    for r in records[:300]:  # warm both up (lazy presidio/phonenumbers/tldextract loading): steady-state MB/s
        scrubber.scrub_record(r)
        legacy.scrub_record(r)
    t0 = time.perf_counter()
    scrubbed, redactions = [], []
    for r in records:
        new, rows = scrubber.scrub_record(r)
        scrubbed.append(new)
        redactions += rows
    t_scrub = time.perf_counter() - t0
    t0 = time.perf_counter()
    leftovers = sum(len(scrubber.scan(SEP.join(strings_of(r.payload)))) for r in scrubbed)
    t_rescan = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in records:
        legacy.scrub_record(r)
    t_legacy = time.perf_counter() - t0

    table("throughput (whole corpus)", ["stage", "wall s", "MB", "MB/s", "records", "records/s"], [
        ["collect (" + how.split(" ")[0] + ")", round(t_collect, 2), round(mb(src_bytes), 2),
         round(mb(src_bytes) / t_collect, 2), len(records), round(len(records) / t_collect)],
        ["scrub", round(t_scrub, 2), round(mb(total_payload), 2), round(mb(total_payload) / t_scrub, 2),
         len(records), round(len(records) / t_scrub)],
        ["re-scan", round(t_rescan, 2), round(mb(total_payload), 2), round(mb(total_payload) / t_rescan, 2),
         len(records), round(len(records) / t_rescan)],
        [f"scrub, old rules ({LEGACY_COMMIT})", round(t_legacy, 2), round(mb(total_payload), 2),
         round(mb(total_payload) / t_legacy, 2), len(records), round(len(records) / t_legacy)],
    ])
    print(f"  scrub throughput new/old: {t_legacy / t_scrub:.2f}x (target >= 0.5)")
    joined = [SEP.join(s for s in strings_of(r.payload) if s) for r in records]
    seen, hit_new, type_new = vocab_replaced(scrubber, joined)
    _, hit_old, type_old = vocab_replaced(legacy, joined)
    table("false positives on the real data: Gas Town vocabulary replaced (target 0)",
          ["vocabulary", "occurrences", "replaced new", "replaced old"],
          [[k, seen[k], hit_new[k], hit_old[k]] for k in VOCAB])
    table("replacements on the real data by entity type", ["entity", "new", "old"],
          [[e, type_new[e], type_old[e]] for e in sorted(set(type_new) | set(type_old))])
    print(f"  collect: {how}; quarantined {n_quar}; scrub import {t_import:.1f} s, Scrubber() {t_init:.2f} s; "
          f"findings left after scrub: {leftovers}")
    by_entity = Counter()
    for row in redactions:
        by_entity[row.entity_type] += row.count
    n_rec_red = len({row.record_id for row in redactions})
    table("redactions", ["entity", "spans"], [[e, n] for e, n in by_entity.most_common()]
          + [["records with any", n_rec_red]])

    # 3. baseline: presidio with every recognizer, same sampled texts
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from node0_ops.corpus.scrub import NO_OP_NLP

    presidio_all = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=NO_OP_NLP).create_engine(),
                                  supported_languages=["en"])
    order = list(range(len(records)))
    rng.shuffle(order)
    sample, got = [], 0
    for i in order:
        if got >= args.presidio_mb * 1e6:
            break
        if payload_bytes[i]:
            sample.append(i)
            got += payload_bytes[i]
    texts = ["\n".join(strings_of(records[i].payload)) for i in sample]
    t0 = time.perf_counter()
    for i in sample:
        scrubber.scrub_record(records[i])
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for text in texts:
        presidio_all.analyze(text, language="en")
    t_all = time.perf_counter() - t0
    ours_mbs, all_mbs = mb(got) / t_ours, mb(got) / t_all
    n_recognizers = len(presidio_all.registry.recognizers)
    table(f"same {len(sample)} sampled records, {mb(got):.2f} MB", ["engine", "wall s", "MB/s", "ms/10KB"], [
        ["ours: Scrubber.scrub_record (analyze+replace)", round(t_ours, 2), round(ours_mbs, 2),
         round(t_ours / (got / 1e4) * 1e3, 1)],
        [f"presidio-all: {n_recognizers} built-ins, analyze only", round(t_all, 2), round(all_mbs, 2),
         round(t_all / (got / 1e4) * 1e3, 1)],
    ])
    print(f"  ratio ours/presidio-all throughput: {ours_mbs / all_mbs:.1f}x")

    # 4. canary recall
    hosts = texts or ["(empty corpus)"]
    found = defaultdict(lambda: [0, 0, 0, 0])  # kind -> [new covered, new leak-free, old leak-free, presidio-all]
    for kind in CANARY_KINDS:
        for _ in range(args.canaries):
            line, secret = canary(kind, rng)
            text, off = inject(rng.choice(hosts), line, rng)
            start = text.index(secret, off)
            end = start + len(secret)
            ours = [(r.start, r.end) for r in scrubber.analyze(text)]
            found[kind][0] += covered(ours, start, end)
            found[kind][1] += secret not in scrubber.scrub_text(text)[0]
            found[kind][2] += secret not in legacy.scrub_text(text)[0]
            found[kind][3] += covered([(r.start, r.end) for r in presidio_all.analyze(text, language="en")], start, end)
    n = args.canaries
    rows = [[k] + [round(x / n, 2) for x in v] for k, v in found.items()]
    tot = [sum(v[i] for v in found.values()) / (n * len(found)) for i in range(4)]
    rows.append(["ALL"] + [round(x, 3) for x in tot])
    table(f"canary recall ({n} per kind; target 1.0 everywhere)",
          ["kind", "new", "new leak-free", "old leak-free", "presidio-all"], rows)

    # 5. optional downstream stages
    if not args.no_format:
        stage_rows = []
        try:
            from node0_ops.corpus.format_sft import build_examples

            t0 = time.perf_counter()
            examples = build_examples(scrubbed)
            stage_rows.append(["format_sft.build_examples", round(time.perf_counter() - t0, 2), len(examples)])
            try:
                from node0_ops.corpus.dpo import build_dpo_pairs

                t0 = time.perf_counter()
                pairs = build_dpo_pairs(scrubbed, examples)
                stage_rows.append(["dpo.build_dpo_pairs", round(time.perf_counter() - t0, 2), len(pairs)])
            except ImportError as exc:
                pairs = []
                stage_rows.append(["dpo.build_dpo_pairs", f"n/a ({exc})", ""])
            try:
                from node0_ops.corpus.partition import partition_corpus

                t0 = time.perf_counter()
                part = partition_corpus(examples, pairs)
                stage_rows.append(["partition.partition_corpus", round(time.perf_counter() - t0, 2),
                                   len(part.examples) + len(part.pairs)])
            except ImportError as exc:
                stage_rows.append(["partition.partition_corpus", f"n/a ({exc})", ""])
        except ImportError as exc:
            stage_rows.append(["format_sft.build_examples", f"n/a ({exc})", ""])
        table("optional: downstream stages on the scrubbed records", ["stage", "wall s", "items out"], stage_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
