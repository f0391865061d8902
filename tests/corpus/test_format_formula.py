"""Formula Q&A and authoring examples (node0_ops.corpus.examples_formula)."""

import re
import tomllib

import pytest

from node0_ops.corpus.examples_formula import (
    formula_examples, formula_role_task, ready_after, validate_formula_toml,
)
from node0_ops.corpus.schema import Provenance, Record


def _formula(name, steps=(), *, vars_=None, ftype=None, legs=(), description="Does a thing.\n\nMore."):
    payload = {"name": name, "type": ftype or ("convoy" if legs else "workflow"), "type_inferred": ftype is None,
               "version": 3, "description": description, "vars": vars_ or {},
               "steps": [dict(s) for s in steps], "legs": [dict(lg) for lg in legs], "template": [], "advice": [],
               "pointcuts": [], "extends": [], "compose": {}, "raw": {}}
    return Record("formula", f"formula:{name}", payload,
                  Provenance(f"/town/.beads/formulas/{name}.formula.toml", "3" * 64, None, 0, "formula"))


DIAMOND = [
    {"id": "load", "title": "Load context", "description": "Run `bd show {{issue}}`."},
    {"id": "impl", "title": "Implement", "description": "Write the code.", "needs": ["load"]},
    {"id": "docs", "title": "Update docs", "description": "Docs.", "needs": ["load"]},
    {"id": "submit", "title": "Submit", "description": "Run `gt done`.", "needs": ["impl", "docs"]},
]
VARS = {"issue": {"description": "The bead to work", "required": True},
        "base_branch": {"description": "Base branch", "default": "main"}}


def test_ready_after_respects_all_needs():
    assert ready_after(DIAMOND, "load") == ["impl", "docs"]
    # finishing impl does not make submit ready: docs is not an ancestor of impl
    assert ready_after(DIAMOND, "impl") == ["docs"]
    assert ready_after(DIAMOND, "submit") == []


def test_next_step_answers_match_the_dag():
    examples, _ = formula_examples([_formula("mol-feature-basic", DIAMOND, vars_=VARS)])
    nxt = {re.search(r"step `([\w-]+)`", e.messages[1]["content"]).group(1): e.messages[2]["content"]
           for e in examples if e.meta["generator"] == "next"}
    assert set(nxt) == {"load", "impl", "docs", "submit"}
    assert "`impl`" in nxt["load"] and "`docs`" in nxt["load"] and "`submit`" not in nxt["load"]
    assert "`docs`" in nxt["impl"] and "`submit`" not in nxt["impl"]
    assert "last step" in nxt["submit"]


def test_requires_and_vars_answers():
    examples, _ = formula_examples([_formula("mol-feature-basic", DIAMOND, vars_=VARS)])
    req = {e.messages[1]["content"]: e.messages[2]["content"] for e in examples if e.meta["generator"] == "requires"}
    (submit,) = [a for q, a in req.items() if "`submit`" in q]
    assert "`impl`, `docs`" in submit
    (vars_ex,) = [e for e in examples if e.meta["generator"] == "vars"]
    ans = vars_ex.messages[2]["content"]
    assert "`issue`: The bead to work; required" in ans and "`base_branch`: Base branch; default `main`; optional" in ans


def test_which_formula_invocation_by_type():
    wf, _ = formula_examples([_formula("mol-feature-basic", DIAMOND, vars_=VARS)])
    (which,) = [e for e in wf if e.meta["generator"] == "which"]
    assert "gt sling mol-feature-basic --on <bead> <rig> --var issue=<issue>" in which.messages[2]["content"]
    cv, _ = formula_examples([_formula("code-review", legs=[{"id": "sec", "title": "Security", "focus": "vulns",
                                                             "description": "Look for vulns."}])])
    (which,) = [e for e in cv if e.meta["generator"] == "which"]
    assert "gt formula run code-review" in which.messages[2]["content"] and "gt sling code-review" not in which.messages[2]["content"]
    assert which.task == "code-review"


@pytest.mark.parametrize("name, role, task", [
    ("mol-witness-patrol", "witness", "patrol-decision"), ("mol-deacon-patrol", "deacon", "patrol-decision"),
    ("mol-refinery-patrol", "refinery", "patrol-decision"), ("mol-boot-triage", "boot", "patrol-decision"),
    ("mol-polecat-work", "polecat", "formula"), ("mol-dog-reaper", "dog", "formula"),
    ("mol-idea-to-plan", "mayor", "planning"),
])
def test_role_and_task_of_formulas(name, role, task):
    assert formula_role_task({"name": name, "description": ""})[:2] == (role, task)


def test_patrol_formula_examples_are_patrol_decisions_for_their_role():
    steps = [{"id": "inbox", "title": "Check inbox", "description": "gt mail inbox"},
             {"id": "survey", "title": "Survey polecats", "description": "gt polecat list", "needs": ["inbox"]}]
    examples, _ = formula_examples([_formula("mol-witness-patrol", steps)])
    qa = [e for e in examples if e.meta["generator"] in ("which", "next", "requires")]
    assert qa and all(e.role == "witness" and e.task == "patrol-decision" for e in qa)
    (which,) = [e for e in examples if e.meta["generator"] == "which"]
    assert "gt patrol new" in which.messages[2]["content"] and "gt patrol report" in which.messages[2]["content"]


def test_authoring_output_is_a_valid_formula_matching_the_request():
    examples, _ = formula_examples([_formula("mol-feature-basic", DIAMOND, vars_=VARS)])
    (auth,) = [e for e in examples if e.meta["generator"] == "author"]
    assert auth.task == "formula"
    body = re.search(r"```toml\n(.*)```", auth.messages[2]["content"], re.S).group(1)
    assert validate_formula_toml(body) == []
    data = tomllib.loads(body)
    assert data["formula"] == "mol-feature-basic" and data["version"] == 3
    assert [s["id"] for s in data["steps"]] == ["load", "impl", "docs", "submit"]
    assert data["steps"][3]["needs"] == ["impl", "docs"]
    assert data["vars"]["issue"] == {"description": "The bead to work", "required": True}
    for s in data["steps"]:      # everything in the answer was in the request
        assert f"`{s['id']}` \"{s['title']}\"" in auth.messages[1]["content"]


def test_validator_catches_broken_formulas():
    assert validate_formula_toml('formula = "x"\n[[steps]]\nid = "a"\ntitle = "A"\nneeds = ["zzz"]\n')
    cyc = 'formula = "x"\n[[steps]]\nid="a"\ntitle="A"\nneeds=["b"]\n[[steps]]\nid="b"\ntitle="B"\nneeds=["a"]\n'
    assert any("cycle" in p for p in validate_formula_toml(cyc))
    undeclared = 'formula = "x"\n[[steps]]\nid="a"\ntitle="A {{who}}"\n'
    assert any("undeclared var" in p for p in validate_formula_toml(undeclared))
    assert validate_formula_toml("formula = ") != []
    ok = 'formula = "x"\n[vars.who]\ndescription="w"\n[[steps]]\nid="a"\ntitle="A {{who}}"\n'
    assert validate_formula_toml(ok) == []


def test_undeclared_placeholder_formula_gets_no_authoring_example():
    steps = [{"id": "a", "title": "Do {{thing}}", "description": "x"}]
    examples, _ = formula_examples([_formula("mol-x", steps)])
    assert not [e for e in examples if e.meta["generator"] == "author"]


@pytest.mark.realdata
def test_real_formulas_give_valid_authoring_and_patrol_examples(real_root):
    from node0_ops.corpus.collect import collect_paths

    recs = [r for r in collect_paths([real_root / "gastown" / "internal" / "formula"]).records if r.kind == "formula"]
    examples, _ = formula_examples(recs)
    authored = [e for e in examples if e.meta["generator"] == "author"]
    assert len(authored) >= 15
    for e in authored:
        body = re.search(r"```toml\n(.*)```", e.messages[2]["content"], re.S).group(1)
        assert validate_formula_toml(body) == [], e.meta["formula"]
    roles = {(e.role, e.task) for e in examples if e.meta["formula"] == "mol-witness-patrol"}
    assert ("witness", "patrol-decision") in roles
