"""The validator against real command lines: the example lines of beads' CLI reference and the
bd/gt commands in Gas Town's role templates (read in place from ../shared/gastown-real)."""

import html
import re

import pytest

from node0_ops.evals.answers import extract_commands
from node0_ops.evals.command_validator import validate_all

pytestmark = pytest.mark.realdata

_PROSE_COLUMN = re.compile(r"\S\s{2,}[A-Z][a-z]")  # "bd dolt start        Start the Dolt server" (a help table)


def _reference_examples(text: str) -> list[str]:
    out, in_block = [], False
    for line in html.unescape(text).splitlines():
        if line.startswith("```"):
            in_block = not in_block  # usage blocks hold synopses (<id>, [flags]), not commands
            continue
        m = re.match(r"^\s+(bd [^#]*?)\s*(#.*)?$", line)
        if in_block or not m:
            continue
        cmd = m.group(1)
        if any(s in cmd for s in ("<", "[", "...", "->")) or _PROSE_COLUMN.search(cmd):
            continue
        out.append(cmd)
    return out


def test_cli_reference_examples_validate(real_root):
    examples = _reference_examples((real_root / "beads" / "docs" / "CLI_REFERENCE.md").read_text())
    assert len(examples) > 400
    results = [r for cmd in examples for r in validate_all(cmd)]
    bad = [(r.segment, r.errors[0]) for r in results if not r.ok]
    rate = 1 - len(bad) / len(results)
    # what remains: commands the examples still show but the reference lists nowhere (bd reset,
    # bd migrate-issues, custom statuses such as 'stale'), i.e. stale examples
    assert rate >= 0.95, bad[:20]


def test_role_template_commands_validate(real_root):
    templates = sorted((real_root / "gastown" / "internal" / "templates" / "roles").glob("*.md.tmpl"))
    assert templates
    results = []
    for path in templates:
        text = path.read_text().replace("{{ cmd }}", "gt")
        text = re.sub(r"\{\{[^}]*\}\}", "x-1", text)  # other template fields
        for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S):  # fenced examples, not prose mentions
            for cmd in extract_commands(f"```bash\n{block}```"):
                lines = [ln for ln in cmd.splitlines() if "<" not in ln and "..." not in ln]  # <rig>/<name> placeholders
                results += validate_all("\n".join(lines))
    assert len(results) > 50
    bad = [(r.segment, r.errors[0]) for r in results if not r.ok]
    assert 1 - len(bad) / len(results) >= 0.95, bad[:20]
