"""Reversions: a watched file whose content went back to an earlier recorded version.

Rule (the same as :func:`node0_ops.corpus.conventions.find_reversions`, with the sensor's own
memory added): file ``f`` reverted when its sha256 now differs from the last version seen
(the sensor cursor's, else the newest ``file_versions`` row) and equals an *earlier* version
in its history (``file_versions`` rows by ``first_seen``, then the versions the sensor saw).
A reversion is held for review instead of retraining: an operator undoing a convention
change may be a rollback on purpose or an accident (a stale branch, a restored backup).

Usage::

    hist = merge_history(store.file_history(db), cursor.history)
    reverted = find_reverted(current, cursor.seen, hist)   # {path: Reversion}
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reversion:
    """One reverted file.

    Attributes:
        path: absolute path.  sha256: its content now (an earlier version).
        to_version: 1-based position of that content in ``history``; n_versions: history length.
        previous_sha256: the version it replaced (last seen).
    """

    path: str
    sha256: str
    to_version: int
    n_versions: int
    previous_sha256: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self, rel: str | None = None) -> str:
        """``CLAUDE.md reverted to version 1 of 3 (sha256 ab12..); latest was cd34..``."""
        prev = (self.previous_sha256 or "-")[:12]
        return (f"{rel or self.path} reverted to version {self.to_version} of {self.n_versions} "
                f"(sha256 {self.sha256[:12]}); latest was {prev}")


def merge_history(*histories: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Concatenate per-path version lists, keeping each sha's first position."""
    out: dict[str, list[str]] = {}
    for hist in histories:
        for path, shas in hist.items():
            cur = out.setdefault(path, [])
            for s in shas:
                if s not in cur:
                    cur.append(s)
    return out


def find_reverted(current: Mapping[str, str], last_seen: Mapping[str, str],
                  history: Mapping[str, Sequence[str]]) -> dict[str, Reversion]:
    """Reverted files (see the module rule).

    Args:
        current: ``{path: sha256}`` now.
        last_seen: ``{path: sha256}`` last seen; paths missing here use ``history[path][-1]``.
        history: ``{path: [sha256, ...]}`` oldest first.
    """
    out = {}
    for path, sha in sorted(current.items()):
        past = list(history.get(path) or [])
        last = last_seen.get(path) or (past[-1] if past else None)
        if last is None or sha == last:
            continue
        earlier = [i for i, s in enumerate(past) if s == sha and s != last]
        if not earlier:
            continue
        n = len(past) + (0 if last in past else 1)
        out[path] = Reversion(path, sha, earlier[-1] + 1, n, last)
    return out
