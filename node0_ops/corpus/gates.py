"""Cheap pre-filters ("gates") shared by every scrub recognizer.

A :class:`Gate` is a substring test (or one tiny regex) that a text must pass
before a recognizer's regexes run; the scrubber ORs every recognizer's gates to
skip presidio entirely for texts no rule can match.

Usage::

    from node0_ops.corpus.gates import Gate, ascii_lower
    Gate(("ghp_",)).open("token ghp_x")            # True
    Gate(any_of_ci=("secret",)).open("SECRET=1")   # True (looked up in ascii_lower(text))
    Gate(words_ci=("us",)).open("status ok")       # False: "us" only inside a word
    Gate(regex=re.compile(r"\\d{8}:"), shape_any=(b"00000000:",)).open("id 12345678:x")  # True
"""

import re
from dataclasses import dataclass
from functools import lru_cache

_SLOTS = 4            # texts remembered: a record's joined text survives the recognizers' checks of single values
_LOWER_CACHE: list = []   # [(text, lowered)], newest last
_SHAPE_CACHE: list = []   # [(text, shape bytes)]
_OPEN_CACHE: list = []    # [(text, {gate.key: open?})]: the pre-filter and the recognizers share results
_WORDS_KEY = "words"      # cache[_WORDS_KEY]: {word: occurs whole?} a GateSet decided for that text
_GATE_KEYS: dict = {}     # gate definition -> small int: equal gates (rebuilt recognizers) share cached results
_SHAPE = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         b"0" * 10 + b"A" * 26 + b"a" * 26)


def _remember(slots: list, text: str, make):
    """Value kept for the very object ``text`` among the last :data:`_SLOTS` texts (``make()`` if new)."""
    if slots and slots[-1][0] is text:  # the common case: the text just looked at
        return slots[-1][1]
    for i in range(len(slots) - 2, -1, -1):
        if slots[i][0] is text:
            return slots[i][1]
    value = make()
    slots.append((text, value))
    if len(slots) > _SLOTS:
        del slots[0]
    return value


def _open_cache(text: str) -> dict:
    return _remember(_OPEN_CACHE, text, dict)


@lru_cache(maxsize=512)
def word_re(word: str) -> re.Pattern:
    """``word`` as a whole word in lower-cased text (no ASCII letter on either side)."""
    return re.compile(rf"(?<![a-z]){re.escape(word)}(?![a-z])")


@lru_cache(maxsize=512)
def _tail_re(word: str) -> re.Pattern:
    return re.compile(rf"{re.escape(word)}(?![a-z])")  # a literal prefix: re's fast search finds it


def _has_word(low: str, word: str) -> bool:
    """``word`` occurs in ``low`` as a whole word (same test as :func:`word_re`, faster: the
    look-behind is checked by hand so the search keeps its literal prefix)."""
    if word not in low:
        return False
    rx, pos = _tail_re(word), 0
    while (m := rx.search(low, pos)) is not None:
        i = m.start()
        if i == 0 or not ("a" <= low[i - 1] <= "z"):
            return True
        pos = i + 1
    return False


def word_checks(text: str) -> dict[str, bool]:
    """``{word: occurs as a whole word}`` for the words a :class:`GateSet` already decided for this very
    ``text`` object (words absent even as substrings are left out; callers look up what is missing)."""
    for t, cache in _OPEN_CACHE:
        if t is text:
            return cache.get(_WORDS_KEY, {})
    return {}


def ascii_lower(text: str) -> str:
    """``text.lower()`` when that keeps every offset, else ASCII-only lowering (same length)."""
    def make() -> str:
        low = text.lower()
        if len(low) != len(text):  # e.g. 'İ' lowers to 2 chars: keep offsets aligned
            low = "".join(ch.lower() if ch.isascii() else ch for ch in text)
        return low
    return _remember(_LOWER_CACHE, text, make)


def shape(text: str) -> bytes:
    """``text`` as UTF-8 with every ASCII digit as ``0``, upper-case letter as ``A``, lower-case as
    ``a`` ("Card 4111-1111" -> b"Aaaa 0000-0000"): a digit-shape substring is then one fast ``in``
    test (offsets are bytes: for presence tests only)."""
    return _remember(_SHAPE_CACHE, text, lambda: text.encode("utf-8", "surrogatepass").translate(_SHAPE))


@dataclass(frozen=True)
class Gate:
    """Cheap test a text must pass before a rule's regex runs.

    Attributes:
        any_of: case-sensitive substrings; one must occur.
        any_of_ci: lower-case substrings looked up in the lower-cased text.
        regex: a small regex to ``search`` (used when substrings cannot express it).
        words_ci: lower-case whole words (context words: ``us`` opens on "US citizen", not on "status").
        shape_any: necessary condition of ``regex`` in :func:`shape` terms (``b"00000000:"`` for
            ``\\d{8}:``): the regex runs only when one of these occurs, so digit-led regexes do not
            scan every timestamp-filled text. Must hold for every match of ``regex``.
    """

    any_of: tuple[str, ...] = ()
    any_of_ci: tuple[str, ...] = ()
    regex: re.Pattern | None = None
    words_ci: tuple[str, ...] = ()
    shape_any: tuple[bytes, ...] = ()

    def __post_init__(self):
        rx = (self.regex.pattern, self.regex.flags) if self.regex is not None else None
        definition = (self.any_of, self.any_of_ci, rx, self.words_ci, self.shape_any)
        object.__setattr__(self, "key", _GATE_KEYS.setdefault(definition, len(_GATE_KEYS)))

    def open(self, text: str) -> bool:
        """True when ``text`` holds one of the substrings or words (or the regex matches); cached per text."""
        cache = _open_cache(text)
        hit = cache.get(self.key)
        if hit is None:
            hit = cache[self.key] = self._open(text)
        return hit

    def regex_open(self, text: str) -> bool:
        """``regex`` matches ``text`` (after the cheap ``shape_any`` pre-check)."""
        if self.regex is None:
            return False
        if self.shape_any:
            sh = shape(text)
            if not any(s in sh for s in self.shape_any):
                return False
        return self.regex.search(text) is not None

    def _open(self, text: str) -> bool:
        if any(s in text for s in self.any_of):
            return True
        if self.any_of_ci or self.words_ci:
            low = ascii_lower(text)
            if any(s in low for s in self.any_of_ci) or any(_has_word(low, w) for w in self.words_ci):
                return True
        return self.regex_open(text)


class GateSet:
    """Many gates tested together: each substring and word is looked up once per text.

    Args:
        groups: ``{name: [Gate, ...]}``; a group is open when any of its gates is.
    """

    def __init__(self, groups: dict):
        self.groups = {k: tuple(v) for k, v in groups.items()}
        self.gates = tuple({id(g): g for gs in self.groups.values() for g in gs}.values())
        index = {id(g): i for i, g in enumerate(self.gates)}
        members = {k: tuple(index[id(g)] for g in gs) for k, gs in self.groups.items()}
        self._plan = tuple((k, frozenset(m), tuple(i for i in m if self.gates[i].regex is not None))
                           for k, m in members.items())
        self._plain = tuple((i, g.key) for i, g in enumerate(self.gates) if g.regex is None)
        self._key = ("set", id(self))
        by: dict[str, dict[str, set]] = {"cs": {}, "ci": {}, "words": {}}
        for i, g in enumerate(self.gates):
            for kind, items in (("cs", g.any_of), ("ci", g.any_of_ci), ("words", g.words_ci)):
                for s in items:
                    by[kind].setdefault(s, set()).add(i)
        self._by = {kind: tuple((s, frozenset(ix)) for s, ix in sorted(m.items())) for kind, m in by.items()}
        self.cs = tuple(s for s, _ in self._by["cs"])
        self.ci = tuple(s for s, _ in self._by["ci"])
        self.words = tuple(s for s, _ in self._by["words"])

    def open_groups(self, text: str) -> list:
        """Names of the groups with an open gate for ``text`` (results also fill the per-text cache:
        each gate decided here, and :func:`word_checks`)."""
        cache = _open_cache(text)
        done = cache.get(self._key)
        if done is not None:
            return done
        low = ascii_lower(text) if (self.ci or self.words) else ""
        hits = [ix for s, ix in self._by["cs"] if s in text] + [ix for s, ix in self._by["ci"] if s in low]
        words = cache.setdefault(_WORDS_KEY, {})
        for w, ix in [(w, ix) for w, ix in self._by["words"] if w in low]:  # substring first: most are absent
            hit = words.get(w)
            if hit is None:
                hit = words[w] = _has_word(low, w)
            if hit:
                hits.append(ix)
        opened = frozenset().union(*hits)
        for i, gid in self._plain:  # substring-only gates are decided: the recognizers reuse these
            if gid not in cache:
                cache[gid] = i in opened
        out = []
        for name, members, with_regex in self._plan:
            if not opened.isdisjoint(members):
                out.append(name)
                continue
            for i in with_regex:
                g = self.gates[i]
                known = cache.get(g.key)
                if known is None:
                    known = cache[g.key] = g.regex_open(text)
                if known:
                    out.append(name)
                    break
        cache[self._key] = out
        return out
