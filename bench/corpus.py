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
   the scrubbed output (must find 0).
3. baseline: on the same random sample of records (``--presidio-mb`` MB of text),
   our scrub vs presidio ``AnalyzerEngine`` with its default registry (every
   built-in recognizer) on the ``no_op`` NLP engine and no entity limit, analysis
   only. Ratio = our MB/s / presidio-all MB/s (> 1: we are faster, and we also
   replace the spans).
4. canary recall: ``--canaries`` synthetic secrets of every type injected into
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
    raise ValueError(f"unknown canary kind {kind!r}")


CANARY_KINDS = ("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "ANTHROPIC_KEY", "OPENAI_KEY", "HF_TOKEN",
                "SLACK_TOKEN", "API_KEY", "JWT", "BEARER_TOKEN", "PRIVATE_KEY", "SECRET", "PASSWORD",
                "URL_CREDENTIALS", "EMAIL_ADDRESS", "IP_ADDRESS", "HOME_PATH")


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
    t_init = time.perf_counter() - t0
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

    table("throughput (whole corpus)", ["stage", "wall s", "MB", "MB/s", "records", "records/s"], [
        ["collect (" + how.split(" ")[0] + ")", round(t_collect, 2), round(mb(src_bytes), 2),
         round(mb(src_bytes) / t_collect, 2), len(records), round(len(records) / t_collect)],
        ["scrub", round(t_scrub, 2), round(mb(total_payload), 2), round(mb(total_payload) / t_scrub, 2),
         len(records), round(len(records) / t_scrub)],
        ["re-scan", round(t_rescan, 2), round(mb(total_payload), 2), round(mb(total_payload) / t_rescan, 2),
         len(records), round(len(records) / t_rescan)],
    ])
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
    found = defaultdict(lambda: [0, 0, 0])  # kind -> [ours covered, ours leak-free, presidio-all covered]
    for kind in CANARY_KINDS:
        for _ in range(args.canaries):
            line, secret = canary(kind, rng)
            text, off = inject(rng.choice(hosts), line, rng)
            start = text.index(secret, off)
            end = start + len(secret)
            ours = [(r.start, r.end) for r in scrubber.analyze(text)]
            found[kind][0] += covered(ours, start, end)
            found[kind][1] += secret not in scrubber.scrub_text(text)[0]
            found[kind][2] += covered([(r.start, r.end) for r in presidio_all.analyze(text, language="en")], start, end)
    n = args.canaries
    rows = [[k, round(v[0] / n, 2), round(v[1] / n, 2), round(v[2] / n, 2)] for k, v in found.items()]
    tot = [sum(v[i] for v in found.values()) / (n * len(found)) for i in range(3)]
    rows.append(["ALL", round(tot[0], 3), round(tot[1], 3), round(tot[2], 3)])
    table(f"canary recall ({n} per type)", ["type", "ours", "ours leak-free", "presidio-all"], rows)

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
