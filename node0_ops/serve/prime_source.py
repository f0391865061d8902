"""Where a role's prime files are read: a Gas Town, or a ``gt`` source checkout read in place.

**Town layout** (``gastown-formats.md`` §3.4; the embedded sample town): ``CLAUDE.md``,
``roles/<role>.toml`` (nudge), ``templates/roles/<role>.md.tmpl``, ``directives/<role>.md`` (town and
rig), ``logs/prime/<role>.txt`` (a saved ``gt prime``), rig ``CLAUDE.md``/``AGENTS.md`` in ``<rig>/``
and ``<rig>/mayor/rig/``. The rig of a rig role: the one in the prime capture's ``[prime] <rig>/...``
header, else the first rig folder of ``mayor/rigs.json``.

**Checkout layout** (the gastown repository, §3.1 "Prompt / context templates"; e.g.
``../shared/gastown-real/gastown``): the files ``gt`` puts in front of a live session.

==========================  ====================================================================
part of the full prime      file
==========================  ====================================================================
town CLAUDE.md              ``internal/templates/townroot/claude.md`` (``gt install`` writes ``~/gt/CLAUDE.md``)
rig CLAUDE.md / AGENTS.md   the checkout's own, for rig roles (the rig is the repository, named after its folder)
<role> CLAUDE.md            ``internal/templates/<role>-CLAUDE.md``, else ``templates/<role>-CLAUDE.md``
role template               ``internal/templates/roles/<role>.md.tmpl`` (what ``gt prime`` renders)
==========================  ====================================================================

The nudge comes from ``internal/config/roles/<role>.toml``; a checkout has no directives. Templates are
counted unrendered (Go ``{{ }}`` actions included). A checkout's retrieval index holds its prime
material only (:data:`CHECKOUT_INDEX_KINDS`), not its docs, beads and formulas. Nothing under the
root is ever written (the index lives in the state dir).

Usage::

    src = PrimeSource.checkout("../shared/gastown-real")      # finds gastown/ inside
    parts = src.full_parts("polecat", src.default_rig("polecat"))   # [(label, path)]
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

CHECKOUT_MARK = Path("internal") / "templates" / "roles"
CHECKOUT_INDEX_KINDS = ("role_template", "role_config", "prime_output", "claude_md", "directive")
_PRIME_HEADER = re.compile(r"^\[prime\] (?P<rig>[\w.-]+)/", re.M)


def rigs(town_root: Path) -> list[str]:
    """Rig folders of the town: names in ``mayor/rigs.json`` that exist, else folders with ``config.json``."""
    town = Path(town_root)
    try:
        names = list(json.loads((town / "mayor" / "rigs.json").read_text()).get("rigs", {}))
    except (OSError, ValueError, AttributeError):
        names = []
    found = [n for n in names if (town / n).is_dir()]
    return found or sorted(p.parent.name for p in town.glob("*/config.json") if p.parent.name != "mayor")


@dataclass(frozen=True)
class PrimeSource:
    """A folder and how its prime files are laid out (``layout``: ``town`` or ``checkout``)."""

    root: Path
    layout: str = "town"

    @classmethod
    def of(cls, where: "str | os.PathLike | PrimeSource") -> "PrimeSource":
        """``where`` itself when it is a PrimeSource, else the town at that path."""
        return where if isinstance(where, PrimeSource) else cls(Path(where))

    @classmethod
    def checkout(cls, path: str | os.PathLike) -> "PrimeSource":
        """The gastown checkout at ``path`` or in ``path/gastown`` (``../shared/gastown-real`` works).

        Raises:
            FileNotFoundError: neither holds ``internal/templates/roles`` (the message names both).
        """
        base = Path(path).expanduser().resolve()
        for cand in (base, base / "gastown"):
            if (cand / CHECKOUT_MARK).is_dir():
                return cls(cand, "checkout")
        raise FileNotFoundError(f"{base} is not a gastown source checkout: no {CHECKOUT_MARK} in it or in "
                                f"{base / 'gastown'} (point --source at the gt repository or its parent)")

    @property
    def index_kinds(self) -> tuple[str, ...] | None:
        """Chunk kinds of the retrieval index (None: every kind)."""
        return CHECKOUT_INDEX_KINDS if self.layout == "checkout" else None

    def rel(self, path: Path) -> str:
        """``path`` relative to the root (as the index stores chunk paths)."""
        return str(Path(path).relative_to(self.root))

    def role_toml(self, role: str) -> Path:
        """The role's definition TOML (its ``nudge``): ``roles/<role>.toml``; in a checkout under
        ``internal/config/roles/``."""
        sub = Path("internal") / "config" / "roles" if self.layout == "checkout" else Path("roles")
        return self.root / sub / f"{role}.toml"

    def default_rig(self, role: str) -> str | None:
        """Rig of a rig role (module docstring); None for town roles or a town without rigs."""
        # imported here: node0_ops.registry.deploy pulls in duckdb (~0.2 s), too much for importing prime
        from node0_ops.registry.deploy import RIG_ROLES

        if role not in RIG_ROLES:
            return None
        if self.layout == "checkout":
            return self.root.name
        capture = self.root / "logs" / "prime" / f"{role}.txt"
        if capture.is_file():
            m = _PRIME_HEADER.search(capture.read_text(errors="replace"))
            if m and (self.root / m["rig"]).is_dir():
                return m["rig"]
        found = rigs(self.root)
        return found[0] if found else None

    def directives(self, role: str, rig: str | None) -> list[Path]:
        """Existing ``directives/<role>.md`` of the town and of the rig (none in a checkout)."""
        if self.layout == "checkout":
            return []
        folders = [self.root] + ([self.root / rig] if rig else [])
        cands = [folder / "directives" / f"{role}.md" for folder in folders]
        return [p for p in cands if p.is_file()]

    def full_parts(self, role: str, rig: str | None) -> list[tuple[str, Path]]:
        """``(label, path)`` of the full prime's parts, in prime order; missing files are left to the caller."""
        return self._checkout_parts(role, rig) if self.layout == "checkout" else self._town_parts(role, rig)

    def _town_parts(self, role: str, rig: str | None) -> list[tuple[str, Path]]:
        town = self.root
        parts: list[tuple[str, Path]] = [("town CLAUDE.md", town / "CLAUDE.md")]
        if rig:
            for folder in (town / rig, town / rig / "mayor" / "rig"):
                parts += [(f"rig {name}", folder / name) for name in ("CLAUDE.md", "AGENTS.md")]
        capture = town / "logs" / "prime" / f"{role}.txt"
        if capture.is_file():   # the rendered template, hook, mail and directives: not counted again
            return parts + [("gt prime output (captured)", capture)]
        parts.append(("role template", town / "templates" / "roles" / f"{role}.md.tmpl"))
        return parts + [("directives", p) for p in self.directives(role, rig)]

    def _checkout_parts(self, role: str, rig: str | None) -> list[tuple[str, Path]]:
        repo = self.root
        parts: list[tuple[str, Path]] = [("town CLAUDE.md (gt install template)",
                                          repo / "internal" / "templates" / "townroot" / "claude.md")]
        if rig:
            parts += [(f"rig {name}", repo / name) for name in ("CLAUDE.md", "AGENTS.md")]
        own = [repo / d / f"{role}-CLAUDE.md" for d in ("internal/templates", "templates")]
        parts += [(f"{role} CLAUDE.md template", p) for p in own if p.is_file()][:1]
        return parts + [("role template (gt prime)", repo / CHECKOUT_MARK / f"{role}.md.tmpl")]
