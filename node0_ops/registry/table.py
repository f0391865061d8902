"""Terminal layout in Gas Town's CLI style: a title line, two-space indented aligned columns,
status icons (``●`` active, ``○`` candidate, ``◌`` archived; ``✓``/``✗``/``⚠`` outcomes), a
count footer. Colour only on a TTY and never with ``NO_COLOR`` (https://no-color.org).

Usage::

    from node0_ops.registry.table import table, marker, human_bytes
    print(table(["NAME", "ROLE"], [["● polecat-v3", "polecat"]], title="Models"))
"""

import os
import sys
import unicodedata

MARKERS = {"active": "●", "candidate": "○", "archived": "◌"}
_COLORS = {"active": "32", "candidate": "33", "archived": "90", "ok": "32", "fail": "31", "warn": "33", "dim": "2"}


def use_color() -> bool:
    """Colour on when stdout is a TTY and ``NO_COLOR`` is unset."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, style: str) -> str:
    """Wrap ``text`` in the ANSI colour of ``style`` (no-op without colour)."""
    code = _COLORS.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code and use_color() else text


def marker(status: str) -> str:
    """Status icon, coloured: ``●`` active, ``○`` candidate, ``◌`` archived."""
    return paint(MARKERS.get(status, "?"), status)


def width(text: str) -> int:
    """Display width: ANSI escapes count 0, East Asian wide characters 2."""
    out, i = 0, 0
    while i < len(text):
        if text[i] == "\x1b":
            j = text.find("m", i)
            i = j + 1 if j >= 0 else len(text)
            continue
        out += 2 if unicodedata.east_asian_width(text[i]) in ("W", "F") else 1
        i += 1
    return out


def table(headers: list[str], rows: list[list], *, title: str | None = None, indent: int = 2,
          footer: str | None = None) -> str:
    """Aligned columns (two spaces apart); the last column is not padded."""
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    cols = len(headers)
    widths = [max([width(headers[i])] + [width(r[i]) for r in cells if i < len(r)]) for i in range(cols)]
    pad = " " * indent

    def line(values: list[str]) -> str:
        parts = [v + " " * (widths[i] - width(v)) if i < cols - 1 else v for i, v in enumerate(values)]
        return (pad + "  ".join(parts)).rstrip()

    out = []
    if title:
        out += [title, ""]
    out.append(paint(line(headers), "dim"))
    out += [line(r) for r in cells]
    if footer:
        out += ["", footer]
    return "\n".join(out)


def fields(pairs: list[tuple[str, object]], *, indent: int = 2) -> str:
    """``Key:  value`` lines with the values aligned (``gt convoy status`` style)."""
    keyw = max((len(k) for k, _ in pairs), default=0) + 1
    return "\n".join(" " * indent + f"{k + ':':<{keyw}}  {'' if v is None else v}" for k, v in pairs)


def human_bytes(n: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``-``."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def rate(value: float | None) -> str:
    """Pass rate to two decimals, ``-`` when unknown."""
    return "-" if value is None else f"{value:.2f}"
