"""Formulas and overlays (gastown-formats.md §1): all four types, inferType, JSON form."""

import json
from pathlib import Path

import pytest

from node0_ops.corpus.collect import collect_paths
from node0_ops.corpus.formulas import infer_type, parse_formula

WORKFLOW = '''formula = "mol-demo"
description = "Demo."
version = 3

[vars]
base_branch = "main"
[vars.issue]
description = "bead id"
required = true

[[steps]]
id = "load"
title = "Load"
description = "Run gt prime for {{issue}}"

[[steps]]
id = "submit"
title = "Submit"
description = "gt done"
needs = ["load"]

[squash]
trigger = "on_complete"
'''
CONVOY = '''formula = "review"
version = 1
[prompts]
base = "Focus {{.leg.focus}}"
[[legs]]
id = "security"
title = "Security"
focus = "secrets"
description = "scan"
[synthesis]
depends_on = ["security"]
'''
EXPANSION = '''formula = "exp-five"
version = 1
[[template]]
id = "{target}.draft"
title = "Draft {target}"
description = "{target.description}"
'''
ASPECT_GT = '''formula = "aspect-gt"
version = 1
[[aspects]]
id = "sec"
title = "Security"
focus = "secrets"
description = "scan"
'''
ASPECT_BD = '''formula = "security-audit"
type = "aspect"
version = 1
[[advice]]
target = "implement"
[[advice.around.before]]
id = "{step.id}-prescan"
title = "Prescan {step.id}"
description = "scan"
[[pointcuts]]
glob = "implement"
'''
COMPOSED = '''formula = "shiny-secure"
extends = ["shiny"]
version = 1
[compose]
aspects = ["security-audit"]
'''


def _write(base: Path, name: str, text: str) -> Path:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("data,expected", [
    ({"steps": [{}]}, "workflow"), ({"extends": ["x"]}, "workflow"), ({"legs": [{}]}, "convoy"),
    ({"template": [{}]}, "expansion"), ({"aspects": [{}]}, "aspect"), ({"advice": [{}]}, "aspect"),
    ({"description": "only"}, None),
])
def test_infer_type_follows_gastown_order(data, expected):
    assert infer_type(data) == expected


def test_all_four_types_parse_with_inference(tmp_path):
    for name, text in [("mol-demo", WORKFLOW), ("review", CONVOY), ("exp-five", EXPANSION),
                       ("aspect-gt", ASPECT_GT), ("security-audit", ASPECT_BD), ("shiny-secure", COMPOSED)]:
        _write(tmp_path / "formulas", f"{name}.formula.toml", text)
    result = collect_paths([tmp_path])
    assert result.quarantine == []
    by_name = {r.payload["name"]: r for r in result.records}
    got = {n: (r.payload["type"], r.payload["type_inferred"]) for n, r in by_name.items()}
    assert got == {"mol-demo": ("workflow", True), "review": ("convoy", True), "exp-five": ("expansion", True),
                   "aspect-gt": ("aspect", True), "security-audit": ("aspect", False),
                   "shiny-secure": ("workflow", True)}
    demo = by_name["mol-demo"]
    assert demo.source_key == "formula:mol-demo" and demo.kind == "formula"
    assert demo.payload["vars"] == {"base_branch": {"default": "main"},
                                   "issue": {"description": "bead id", "required": True}}
    assert [s["id"] for s in demo.payload["steps"]] == ["load", "submit"]
    assert demo.payload["raw"]["squash"] == {"trigger": "on_complete"}   # keys outside the Go structs kept
    assert by_name["review"].payload["legs"][0]["focus"] == "secrets"
    assert by_name["security-audit"].payload["pointcuts"] == [{"glob": "implement"}]
    assert by_name["shiny-secure"].payload["compose"] == {"aspects": ["security-audit"]}
    assert by_name["shiny-secure"].payload["extends"] == ["shiny"]


def test_json_formula_matches_toml_formula(tmp_path):
    toml_payload = parse_formula(WORKFLOW, Path("mol-demo.formula.toml"))
    raw = dict(toml_payload["raw"])
    path = _write(tmp_path, "mol-demo.formula.json", json.dumps(raw))
    (rec,) = collect_paths([path]).records
    for key in ("name", "type", "type_inferred", "version", "steps", "vars"):
        assert rec.payload[key] == toml_payload[key], key


def test_toml_content_in_json_named_file_falls_back_like_beads(tmp_path):
    path = _write(tmp_path, "mol-demo.formula.json", WORKFLOW)
    result = collect_paths([path])
    assert result.quarantine == [] and result.records[0].payload["name"] == "mol-demo"


def test_overlay_parsed_and_bad_override_quarantined(tmp_path):
    text = ('[[step-overrides]]\nstep_id = "submit"\nmode = "append"\ndescription = "open a PR"\n\n'
            '[[step-overrides]]\nstep_id = "load"\nmode = "explode"\n')
    _write(tmp_path / "formula-overlays", "mol-polecat-work.toml", text)
    result = collect_paths([tmp_path])
    (rec,) = result.records
    assert rec.kind == "formula_overlay" and rec.source_key == "formula:mol-polecat-work"
    assert rec.payload["step_overrides"] == [{"step_id": "submit", "mode": "append", "description": "open a PR"}]
    (q,) = result.quarantine
    assert q.position == "step-overrides[1]" and "explode" in q.reason


def test_overlay_outside_formula_overlays_is_sniffed(tmp_path):
    _write(tmp_path / "docs" / "harness", "mol-polecat-work.toml",
           '# overlay\n[[step-overrides]]\nstep_id = "submit"\nmode = "skip"\n')
    (rec,) = collect_paths([tmp_path]).records
    assert rec.kind == "formula_overlay"


def test_invalid_formula_quarantined_with_line(tmp_path):
    _write(tmp_path, "good.formula.toml", EXPANSION)
    _write(tmp_path, "bad.formula.toml", 'formula = "bad"\nversion = = 2\n')
    result = collect_paths([tmp_path])
    assert [r.payload["name"] for r in result.records] == ["exp-five"]
    (q,) = result.quarantine
    assert q.path.endswith("bad.formula.toml") and q.position == "line 2" and q.reason.startswith("invalid TOML")
