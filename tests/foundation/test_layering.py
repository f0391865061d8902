"""Imports flow one way: node0_ops never imports dagster; the code location loads without torch."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_node0_ops_imports_without_dagster():
    mods = sorted(p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".")
                  for p in (REPO / "node0_ops").rglob("*.py") if "sample_town" not in p.parts)
    mods = [m.removesuffix(".__init__") for m in mods]
    code = ("import sys, importlib\nsys.modules['dagster'] = None\n"
            f"for m in {mods!r}:\n    importlib.import_module(m)\nprint(len({mods!r}))")
    assert int(_run(code)) == len(mods) > 5


def test_node0_ops_source_never_mentions_dagster_import():
    offenders = []
    for path in (REPO / "node0_ops").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in ("dagster", "gastown_assets", "resources", "sensors")]
    assert not offenders, offenders


def test_code_location_loads_without_torch():
    out = _run("import sys, dagster as dg\nimport gastown_assets.definitions as d\n"
               "dg.Definitions.validate_loadable(d.defs)\n"
               "print(sorted(m for m in ('torch','transformers','peft','trl','hivemind') if m in sys.modules))")
    assert out == "[]"


def test_resources_do_not_import_gastown_assets_or_sensors():
    for path in (REPO / "resources").rglob("*.py"):
        src = path.read_text()
        assert "gastown_assets" not in src and "import sensors" not in src, path
