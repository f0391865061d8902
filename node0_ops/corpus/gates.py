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
        """True when ``text`` holds one of the substrings (or the regex matches)."""
        if any(s in text for s in self.any_of):
            return True
        if self.any_of_ci:
            low = ascii_lower(text)
            if any(s in low for s in self.any_of_ci):
                return True
        return bool(self.regex is not None and self.regex.search(text))
