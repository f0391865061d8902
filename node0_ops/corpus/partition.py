"""Partition stage: dedup, leak-free train/val/test split, and coverage gaps.

1. **Exact duplicates**: examples (pairs) whose normalized content (lower-case, collapsed
   whitespace; system role cards left out, :func:`dedup_text`) hashes equal; the first in a
   stable order (source_key, id; for pairs, session pairs before mutations) is kept.
2. **Near duplicates**: MinHash signatures of word 3-gram shingles (Broder 1997) with LSH
   banding (Indyk & Motwani 1998; Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*
   ch. 3) find candidates; a candidate is dropped when its *exact* shingle Jaccard with a kept
   item is >= ``near_dup_threshold``. Pairs are near duplicates only when their ``chosen`` and
   ``rejected`` are the same and their prompts are near duplicates (one prompt can carry
   several distinct failures). ``datasketch`` is not installed, so :class:`MinHasher` is a
   small numpy implementation.
3. **Split**: items are grouped by ``source_key`` and by shared ``record_ids`` (union-find),
   so everything derived from one session/bead/formula/file — examples *and* DPO pairs,
   including a session pair that draws on two sessions — lands in one split. A group's bucket
   is ``sha256(f"{seed}:{group_key}")`` mapped to [0, 1) with ``group_key`` its smallest
   source_key: ``< test_frac`` -> test, ``< test_frac + val_frac`` -> val, else train.
   Generated items (:data:`GENERATED_ORIGINS`: decision scenarios rendered for a formula's rules)
   cite their formula record for lineage only and are grouped by their own source_key.
4. :func:`coverage` lists (role, task) cells with fewer than ``min_per_cell`` examples.

Usage::

    from node0_ops.corpus.partition import partition_corpus, coverage
    res = partition_corpus(examples, pairs, val_frac=0.1, test_frac=0.1, seed=0)
    res.counts["examples"]["train"], res.duplicates[:3], coverage(res.examples, 5)
    flags = find_contradictions(records) + find_reversions(history, current)   # re-exported from conventions
"""

import hashlib
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from node0_ops.corpus.examples_common import call_command
from node0_ops.corpus.conventions import Flag, find_contradictions, find_reversions  # noqa: F401 (re-exported)
from node0_ops.corpus.schema import ROLES, SPLITS, TASKS, DpoPair, Example

@dataclass
class PartitionResult:
    """Output of :func:`partition_corpus`.

    Attributes:
        examples / pairs: the kept items with ``split`` set (inputs are not mutated).
        duplicates: ``(dropped_id, kept_id, "exact"|"near")`` for examples and pairs.
        counts: ``{"examples": {split: n}, "pairs": {split: n}, "exact_dups": n,
            "near_dups": n, "groups": n}``.
    """

    examples: list[Example] = field(default_factory=list)
    pairs: list[DpoPair] = field(default_factory=list)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def normalize(text: str) -> str:
    """Lower-case with whitespace collapsed (the dedup key text)."""
    return re.sub(r"\s+", " ", text or "").strip().lower()


_TOKEN = re.compile(r"\w+|[^\w\s]")
_PRIME = 4294967291                      # largest prime below 2^32
_WORD_HASH: dict[str, int] = {}


def _word_hash(w: str) -> int:
    h = _WORD_HASH.get(w)
    if h is None:
        h = _WORD_HASH[w] = zlib.crc32(w.encode()) % _PRIME
        if len(_WORD_HASH) > 2_000_000:
            _WORD_HASH.clear()
    return h


def shingles(text: str, k: int = 3) -> set[str]:
    """Word ``k``-grams of normalized ``text`` (the whole text when shorter than ``k`` words)."""
    words = _TOKEN.findall(normalize(text))
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def shingle_hashes(text: str, k: int = 3) -> np.ndarray:
    """Sorted unique uint64 hashes (< 2^32) of the word ``k``-grams of ``text`` (see :func:`shingles`).

    A k-gram hashes to ``sum_j crc32(word_j) * C_j mod p`` (polynomial rolling hash over
    word hashes, ``C_j = 31^(k-1-j)``), computed vectorized; collisions are ~n^2/2^33.
    """
    words = _TOKEN.findall((text or "").lower())     # tokenizing makes whitespace collapse moot
    if not words:
        return np.zeros(0, dtype=np.uint64)
    hw = np.fromiter((_word_hash(w) for w in words), dtype=np.uint64, count=len(words))
    n = max(1, len(words) - k + 1)
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(min(k, len(words))):
        acc = (acc * np.uint64(31) + hw[j:j + n]) % np.uint64(_PRIME)
    return np.unique(acc)


class MinHasher:
    """MinHash signatures (Broder, "On the resemblance and containment of documents", 1997).

    Shingles are 32-bit hashes (:func:`shingle_hashes`, or crc32 of given strings) reduced mod
    the prime ``p = 2^32 - 5``; ``num_perm`` universal hash functions ``h_i(x) = (a_i x + b_i)
    mod p`` with ``a_i, b_i < p`` stand in for random permutations (products stay below 2^64,
    so uint64 math is exact); the signature is the per-function minimum, and
    ``P[sig_a[i] == sig_b[i]] ~= Jaccard(a, b)``.

    Args:
        num_perm: signature length (int > 0). seed: RNG seed for ``a_i, b_i``.
    """

    PRIME = _PRIME

    def __init__(self, num_perm: int = 128, seed: int = 1):
        if num_perm <= 0:
            raise ValueError(f"num_perm={num_perm} must be > 0")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, self.PRIME, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, self.PRIME, size=num_perm, dtype=np.uint64)

    def signature(self, items) -> np.ndarray:
        """uint64 array of shape ``(num_perm,)`` for a set of strings or an array of shingle hashes;
        all ``PRIME`` for an empty input."""
        if isinstance(items, np.ndarray):
            hv = items.astype(np.uint64) % np.uint64(self.PRIME)
        else:
            hv = np.fromiter((zlib.crc32(s.encode()) for s in items), dtype=np.uint64) % np.uint64(self.PRIME)
        if hv.size == 0:
            return np.full(self.num_perm, self.PRIME, dtype=np.uint64)
        out = np.full(self.num_perm, self.PRIME, dtype=np.uint64)
        for start in range(0, hv.size, 4096):          # bound memory: 4096 x num_perm at a time
            chunk = hv[start:start + 4096]
            vals = (chunk[:, None] * self.a[None, :] + self.b[None, :]) % np.uint64(self.PRIME)
            out = np.minimum(out, vals.min(axis=0))
        return out


def _lsh_params(threshold: float, num_perm: int, fn_weight: float = 0.99) -> tuple[int, int]:
    """Bands ``b`` and rows ``r`` (``b * r <= num_perm``) for LSH banding.

    Minimizes ``(1 - fn_weight) * FP + fn_weight * FN`` where FP integrates the candidate
    probability ``1 - (1 - s^r)^b`` over ``s < threshold`` and FN its complement over
    ``s >= threshold`` (MMDS ch. 3.4). False negatives weigh more because every candidate is
    verified exactly anyway.
    """
    grid_lo = np.linspace(0, threshold, 200)
    grid_hi = np.linspace(threshold, 1, 200)
    best, best_cost = (num_perm, 1), float("inf")
    for r in range(1, num_perm + 1):
        b = num_perm // r
        fp = np.trapezoid(1 - (1 - grid_lo ** r) ** b, grid_lo)
        fn = np.trapezoid((1 - grid_hi ** r) ** b, grid_hi)
        cost = (1 - fn_weight) * fp + fn_weight * fn
        if cost < best_cost:
            best, best_cost = (b, r), cost
    return best


def near_duplicates(texts: Sequence[str], threshold: float = 0.9, num_perm: int = 128, seed: int = 1
                    ) -> list[tuple[int, int]]:
    """``(dropped_index, kept_index)`` for texts whose shingle Jaccard with an earlier kept text >= threshold.

    Candidates come from MinHash + LSH banding; every candidate is verified with the exact
    Jaccard of the two shingle-hash sets, so there are no false positives beyond 32-bit hash
    collisions (and rare LSH false negatives).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"near_dup_threshold={threshold} must be in (0, 1]")
    sh = [shingle_hashes(t) for t in texts]
    mh = MinHasher(num_perm, seed)
    bands, rows = _lsh_params(threshold, num_perm)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    dropped: dict[int, int] = {}
    for i, s in enumerate(sh):
        if not s.size:
            continue
        sig = mh.signature(s)
        cands = set()
        keys = [(bi, sig[bi * rows:(bi + 1) * rows].tobytes()) for bi in range(bands)]
        for key in keys:
            cands.update(buckets.get(key, ()))
        hit = None
        for j in sorted(cands):
            inter = np.intersect1d(s, sh[j], assume_unique=True).size
            if inter / (s.size + sh[j].size - inter) >= threshold:
                hit = j
                break
        if hit is not None:
            dropped[i] = hit
            continue
        for key in keys:
            buckets[key].append(i)
    return sorted(dropped.items())


def dedup_text(e: Example) -> str:
    """What two examples must share to be duplicates: the text, or every non-system message with
    tool calls as ``name command`` (the role card and the JSON envelope of calls are shared by
    all examples and would dominate short chats)."""
    if e.messages is None:
        return e.text or ""
    parts = []
    for m in e.messages:
        if m.get("role") == "system":
            continue
        parts.append(str(m.get("content") or ""))
        for call in m.get("tool_calls") or []:      # the call itself, without JSON boilerplate
            fn = call.get("function") or {}
            parts.append(f"{fn.get('name')} {call_command(call) or fn.get('arguments')}")
    return "\n".join(parts)


def _prompt_text(p: DpoPair) -> str:
    return "\n".join(str(m.get("content") or "") for m in p.prompt if m.get("role") != "system")


def _pair_text(p: DpoPair) -> str:
    return f"{_prompt_text(p)}\n<chosen>\n{p.chosen}\n<rejected>\n{p.rejected}"


def _dedup(ids: list[str], texts: list[str], threshold: float, near_texts: list[str] | None = None,
           groups: list[str] | None = None) -> tuple[list[int], list[tuple[str, str, str]]]:
    """Indices kept (in input order) and ``(dropped_id, kept_id, kind)`` duplicate records.

    Exact duplicates compare ``texts``; near duplicates compare ``near_texts`` (default
    ``texts``) and only within the same ``groups`` value when given.
    """
    dups, kept, first = [], [], {}
    for i, t in enumerate(texts):
        h = hashlib.sha256(normalize(t).encode()).hexdigest()
        if h in first:
            dups.append((ids[i], ids[first[h]], "exact"))
        else:
            first[h] = i
            kept.append(i)
    near_texts = near_texts or texts
    by_group: dict[str, list[int]] = defaultdict(list)
    for i in kept:
        by_group[groups[i] if groups else ""].append(i)
    drop = set()
    for members in by_group.values():
        if len(members) < 2:
            continue
        for d, k in near_duplicates([near_texts[i] for i in members], threshold):
            drop.add(members[d])
            dups.append((ids[members[d]], ids[members[k]], "near"))
    return [i for i in kept if i not in drop], dups


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


# Origins whose text is generated (evidence rendered for a formula rule), not taken from the record
# they cite for lineage: their split group is their own source_key, so one formula's rules feed
# train, val and test with different evidence instead of one split only.
GENERATED_ORIGINS = ("scenario",)


def split_of(key: str, seed: int, val_frac: float, test_frac: float) -> str:
    """Split for a group key: ``sha256(f"{seed}:{key}")`` -> [0, 1) -> test / val / train."""
    u = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16) / 2 ** 64
    if u < test_frac:
        return "test"
    if u < test_frac + val_frac:
        return "val"
    return "train"


def partition_corpus(examples: Sequence[Example], pairs: Sequence[DpoPair] = (), *, val_frac: float = 0.1,
                     test_frac: float = 0.1, seed: int = 0, near_dup_threshold: float = 0.9) -> PartitionResult:
    """Deduplicate, then split examples and pairs by source group.

    Args:
        examples / pairs: items to split (not mutated; copies with ``split`` set are returned).
        val_frac, test_frac: expected fractions of *groups* (0 <= each, sum < 1).
        seed: int; changing it reshuffles groups deterministically.
        near_dup_threshold: shingle Jaccard in (0, 1] at or above which items are near duplicates.
    Raises:
        ValueError: fractions out of range (message says the valid range).
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"val_frac={val_frac}, test_frac={test_frac}: each must be in [0, 1) and their sum < 1")
    from dataclasses import replace
    ex_sorted = sorted(examples, key=lambda e: (e.source_key, e.example_id))
    # pairs from real sessions win over mutations when two collide
    pr_sorted = sorted(pairs, key=lambda p: (p.origin == "mutation", p.source_key, p.pair_id))
    keep_e, dups_e = _dedup([e.example_id for e in ex_sorted], [dedup_text(e) for e in ex_sorted],
                            near_dup_threshold)
    keep_p, dups_p = _dedup([p.pair_id for p in pr_sorted], [_pair_text(p) for p in pr_sorted],
                            near_dup_threshold, near_texts=[_prompt_text(p) for p in pr_sorted],
                            groups=[normalize(p.chosen) + "\x00" + normalize(p.rejected) for p in pr_sorted])
    kept_e = [ex_sorted[i] for i in keep_e]
    kept_p = [pr_sorted[i] for i in keep_p]

    uf = _UnionFind()
    for item in kept_e + kept_p:
        sk = "sk:" + item.source_key
        uf.find(sk)
        if item.origin in GENERATED_ORIGINS:
            continue    # generated from a rule, not copied from the record: grouped by source_key alone
        for rid in item.record_ids:
            uf.union(sk, "rid:" + rid)
    members: dict[str, list[str]] = defaultdict(list)
    for node in list(uf.parent):
        if node.startswith("sk:"):
            members[uf.find(node)].append(node[3:])
    group_split = {root: split_of(min(keys), seed, val_frac, test_frac) for root, keys in members.items()}

    out_e = [replace(e, split=group_split[uf.find("sk:" + e.source_key)]) for e in kept_e]
    out_p = [replace(p, split=group_split[uf.find("sk:" + p.source_key)]) for p in kept_p]
    dups = dups_e + dups_p
    counts = {
        "examples": {s: sum(e.split == s for e in out_e) for s in SPLITS},
        "pairs": {s: sum(p.split == s for p in out_p) for s in SPLITS},
        "exact_dups": sum(d[2] == "exact" for d in dups),
        "near_dups": sum(d[2] == "near" for d in dups),
        "groups": len(members),
    }
    return PartitionResult(out_e, out_p, dups, counts)


def coverage(examples: Sequence[Example], min_per_cell: int) -> list[tuple[str, str, int]]:
    """``(role, task, count)`` for every ROLES x TASKS cell with fewer than ``min_per_cell`` examples."""
    c = Counter((e.role, e.task) for e in examples)
    return [(r, t, c[(r, t)]) for r in ROLES for t in TASKS if c[(r, t)] < min_per_cell]
