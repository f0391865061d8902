"""Cheap pre-filters ("gates") shared by every scrub recognizer.

A :class:`Gate` is a substring test (or one tiny regex) that a text must pass
before a recognizer's regexes run; the scrubber ORs every recognizer's gates to
skip presidio entirely for texts no rule can match.

Usage::

    from node0_ops.corpus.gates import Gate, ascii_lower
    Gate(("ghp_",)).open("token ghp_x")            # True
    Gate(any_of_ci=("secret",)).open("SECRET=1")   # True (looked up in ascii_lower(text))
"""

import re
from dataclasses import dataclass

_LOWER_CACHE: list = [None, None]
_OPEN_CACHE: list = [None, {}]  # (text, {id(gate): open?}): the pre-filter and the recognizers share results


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
        regex: a small regex to ``search`` (used when substrings cannot express it).
    """

    any_of: tuple[str, ...] = ()
    any_of_ci: tuple[str, ...] = ()
    regex: re.Pattern | None = None

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
        if self.any_of_ci:
            low = ascii_lower(text)
            if any(s in low for s in self.any_of_ci):
                return True
        return bool(self.regex is not None and self.regex.search(text))


class GateSet:
    """Many gates tested together: each substring is looked up once per text.

    Args:
        groups: ``{name: [Gate, ...]}``; a group is open when any of its gates is.
    """

    def __init__(self, groups: dict):
        self.groups = {k: tuple(v) for k, v in groups.items()}
        gates = [g for gs in self.groups.values() for g in gs]
        self.cs = tuple(sorted({s for g in gates for s in g.any_of}))
        self.ci = tuple(sorted({s for g in gates for s in g.any_of_ci}))

    def open_groups(self, text: str) -> list:
        """Names of the groups with an open gate for ``text`` (results also fill the per-text cache)."""
        if _OPEN_CACHE[0] is not text:
            _OPEN_CACHE[0], _OPEN_CACHE[1] = text, {}
        cache = _OPEN_CACHE[1]
        done = cache.get(id(self))
        if done is not None:
            return done
        cs = {s for s in self.cs if s in text}
        low = ascii_lower(text) if self.ci else ""
        ci = {s for s in self.ci if s in low}
        out = []
        for name, gates in self.groups.items():
            for g in gates:
                hit = cache.get(id(g))
                if hit is None:
                    hit = bool(cs.intersection(g.any_of) or ci.intersection(g.any_of_ci)
                               or (g.regex is not None and g.regex.search(text)))
                    cache[id(g)] = hit
                if hit:
                    out.append(name)
                    break
        cache[id(self)] = out
        return out
