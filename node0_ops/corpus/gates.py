"""Cheap pre-filters ("gates") shared by every scrub recognizer.

A :class:`Gate` is a substring test (or one tiny regex) that a text must pass
before a recognizer's regexes run; the scrubber ORs every recognizer's gates to
skip presidio entirely for texts no rule can match.

Usage::

    from node0_ops.corpus.gates import Gate, ascii_lower
    Gate(("ghp_",)).open("token ghp_x")            # True
    Gate(any_of_ci=("secret",)).open("SECRET=1")   # True (looked up in ascii_lower(text))
    Gate(words_ci=("us",)).open("status ok")       # False: "us" only inside a word
"""

import re
from dataclasses import dataclass

from functools import lru_cache

_LOWER_CACHE: list = [None, None]
_OPEN_CACHE: list = [None, {}]  # (text, {id(gate): open?}): the pre-filter and the recognizers share results
_WORDS_KEY = "words"            # _OPEN_CACHE[1][_WORDS_KEY]: {word: occurs whole?} a GateSet decided for that text


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
    ``text`` object (empty when none did: callers look the others up themselves)."""
    return _OPEN_CACHE[1].get(_WORDS_KEY, {}) if _OPEN_CACHE[0] is text else {}


def ascii_lower(text: str) -> str:
    """``text.lower()`` when that keeps every offset, else ASCII-only lowering (same length)."""
    if _LOWER_CACHE[0] is text:
        return _LOWER_CACHE[1]
    low = text.lower()
    if len(low) != len(text):  # e.g. 'İ' lowers to 2 chars: keep offsets aligned
        low = "".join(ch.lower() if ch.isascii() else ch for ch in text)
    _LOWER_CACHE[0], _LOWER_CACHE[1] = text, low
    return low


@dataclass(frozen=True)
class Gate:
    """Cheap test a text must pass before a rule's regex runs.

    Attributes:
        any_of: case-sensitive substrings; one must occur.
        any_of_ci: lower-case substrings looked up in the lower-cased text.
        words_ci: lower-case whole words (context words: ``us`` opens on "US citizen", not on "status").
        regex: a small regex to ``search`` (used when substrings cannot express it).
    """

    any_of: tuple[str, ...] = ()
    any_of_ci: tuple[str, ...] = ()
    regex: re.Pattern | None = None
    words_ci: tuple[str, ...] = ()

    def open(self, text: str) -> bool:
        """True when ``text`` holds one of the substrings (or the regex matches); cached per text."""
        if _OPEN_CACHE[0] is not text:
            _OPEN_CACHE[0], _OPEN_CACHE[1] = text, {}
        key = id(self)
        hit = _OPEN_CACHE[1].get(key)
        if hit is None:
            hit = _OPEN_CACHE[1][key] = self._open(text)
        return hit

    def _open(self, text: str) -> bool:
        if any(s in text for s in self.any_of):
            return True
        if self.any_of_ci or self.words_ci:
            low = ascii_lower(text)
            if any(s in low for s in self.any_of_ci) or any(_has_word(low, w) for w in self.words_ci):
                return True
        return bool(self.regex is not None and self.regex.search(text))


class GateSet:
    """Many gates tested together: each substring and word is looked up once per text.

    Args:
        groups: ``{name: [Gate, ...]}``; a group is open when any of its gates is.
    """

    def __init__(self, groups: dict):
        self.groups = {k: tuple(v) for k, v in groups.items()}
        self.gates = tuple({id(g): g for gs in self.groups.values() for g in gs}.values())
        index = {id(g): i for i, g in enumerate(self.gates)}
        self._members = {k: tuple(index[id(g)] for g in gs) for k, gs in self.groups.items()}
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
        if _OPEN_CACHE[0] is not text:
            _OPEN_CACHE[0], _OPEN_CACHE[1] = text, {}
        cache = _OPEN_CACHE[1]
        done = cache.get(id(self))
        if done is not None:
            return done
        low = ascii_lower(text) if (self.ci or self.words) else ""
        hits = [ix for s, ix in self._by["cs"] if s in text] + [ix for s, ix in self._by["ci"] if s in low]
        words = cache.setdefault(_WORDS_KEY, {})
        for w, ix in self._by["words"]:
            hit = words.get(w)
            if hit is None:
                hit = words[w] = (w in low) and _has_word(low, w)
            if hit:
                hits.append(ix)
        opened = frozenset().union(*hits)
        out = []
        for name, members in self._members.items():
            hit = False
            for i in members:
                g = self.gates[i]
                known = cache.get(id(g))
                if known is None:
                    known = i in opened or (g.regex is not None and g.regex.search(text) is not None)
                    cache[id(g)] = known
                if known:
                    hit = True
                    break
            if hit:
                out.append(name)
        cache[id(self)] = out
        return out
