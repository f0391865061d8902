"""Formula records -> workflow Q&A and formula-authoring SFT examples.

Per ``formula`` record (payload shape in collect.py) this yields, when the fields allow a
correct answer:

- which:    "which formula for <purpose>, how do I start it" -> name + invocation by type
            (workflow: ``gt sling <f> --on <bead> <rig>``; convoy: ``gt formula run <f>``;
            witness/deacon/refinery patrols: ``gt patrol new`` ... ``gt patrol report --summary``;
            expansion/aspect: compose; nothing when the start command is undocumented)
- next:     "finished step X, what's next" -> steps whose ``needs`` are all done (X and its ancestors)
- requires: "what does step X need / do" -> its ``needs`` and the first paragraph of its description
- vars:     "what vars does <f> take" -> each var's description, default and required flag
- author:   "write a formula TOML for <structured workflow>" -> a TOML that parses and validates
            (:func:`validate_formula_toml`)

Task is ``formula``; Q&A about the patrol formulas (mol-witness-patrol, mol-deacon-patrol,
mol-refinery-patrol, mol-boot-triage, ...) is ``patrol-decision`` for the role that runs them.
Formula format and invocation: ``shared/docs/gastown-formats.md`` §1 and gastown
``docs/reference.md`` ("Formula Invocation Patterns").

Usage::

    from node0_ops.corpus.examples_formula import formula_examples, validate_formula_toml
    examples, skipped = formula_examples(records)
"""

import re
import tomllib
from collections.abc import Sequence

import tomli_w

from node0_ops.corpus.examples_common import assistant, first_paragraph, role_card, system, user
from node0_ops.corpus.schema import ROLES, Example, Record

PATROL_ROLES = {"mol-witness-patrol": "witness", "mol-deacon-patrol": "deacon",
                "mol-refinery-patrol": "refinery", "mol-boot-triage": "boot"}
NAME_ROLES = [("mol-polecat-code-review", "polecat", "code-review"), ("mol-polecat-review-pr", "polecat", "code-review"),
              ("code-review", "crew", "code-review"), ("mol-polecat-", "polecat", None), ("mol-dog-", "dog", None),
              ("mol-idea-to-plan", "mayor", "planning"), ("mol-plan-review", "mayor", "planning"),
              ("mol-prd-review", "mayor", "planning"), ("design", "mayor", "planning")]
MAX_STEP_QA = 12          # step questions per formula (evenly spread over its steps)
MAX_QA_STEPS = 40         # formulas with more steps (towers-of-hanoi-10: 1025) get no step Q&A
MAX_AUTHOR_STEPS = 15     # authoring examples only for formulas this small
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")
_HBS_KEYWORDS = {"else", "this", "if", "each", "end", "range", "with"}


def formula_role_task(p: dict) -> tuple[str, str, bool]:
    """``(role, task, is_patrol)`` for a formula payload.

    Patrol formulas map to the role running them and task ``patrol-decision``; name
    prefixes map polecat/dog/planning/review formulas; otherwise the role mentioned most
    in the description (at least twice) runs it, else ``crew``; task ``formula``.
    """
    name = p.get("name") or ""
    if name in PATROL_ROLES:
        return PATROL_ROLES[name], "patrol-decision", True
    for prefix, role, task in NAME_ROLES:
        if name == prefix or (prefix.endswith("-") and name.startswith(prefix)):
            return role, task or "formula", False
    text = (p.get("description") or "")[:1500].lower()
    counts = {r: len(re.findall(rf"\b{r}s?\b", text)) for r in ROLES}
    is_patrol = name.endswith("-patrol")
    if is_patrol:
        counts["polecat"] = 0    # polecats never run patrols
    role = max(sorted(counts), key=lambda r: counts[r])
    if counts[role] < 2:
        role = "deacon" if is_patrol else "crew"
    return role, ("patrol-decision" if is_patrol else "formula"), is_patrol


def formula_kind(p: dict) -> str:
    """Formula type, explicit or inferred like gastown ``parser.go inferType`` (formats doc §1.1)."""
    t = p.get("type")
    if t:
        return t
    if p.get("extends") or p.get("steps"):
        return "workflow"
    if p.get("legs"):
        return "convoy"
    if p.get("template"):
        return "expansion"
    if p.get("advice") or (p.get("raw") or {}).get("aspects"):
        return "aspect"
    return "workflow"


def _required_vars(p: dict) -> list[str]:
    out = []
    for name, spec in sorted((p.get("vars") or {}).items()):
        spec = spec if isinstance(spec, dict) else {"default": spec}
        if spec.get("required") and not spec.get("default"):
            out.append(name)
    return out


def invocation(p: dict, role: str, is_patrol: bool) -> str:
    """How the formula is started, by type (gastown ``docs/reference.md``, formats doc §1.3); "" when undocumented."""
    name, kind = p["name"], formula_kind(p)
    if name == "mol-boot-triage":
        return ("It is Boot's triage cycle: the daemon spawns Boot fresh on each tick to run it, so there is "
                "nothing to sling; work the steps in order.")
    if is_patrol and role not in ("witness", "deacon", "refinery"):
        return ""         # a standing patrol we have no documented start command for
    if is_patrol:
        return (f"It is the {role} patrol: start a cycle with `gt patrol new` (a root-only wisp on your hook), "
                "run `gt prime` to see the checklist, work the steps in order, then close the cycle with "
                "`gt patrol report --summary \"...\"`, which also starts the next one.")
    if kind == "convoy":
        inputs = sorted(((p.get("raw") or {}).get("inputs") or {}).keys())
        extra = f" Its inputs: {', '.join(inputs)}." if inputs else ""
        return (f"It is a convoy formula, so run it with `gt formula run {name}` "
                f"(not `gt sling`, which refuses convoys).{extra}")
    if kind == "expansion":
        return (f"It is an expansion formula: it is not run on its own but composed into a workflow, e.g. "
                f"`[[compose.expand]] target = \"<step id>\"` with `with = \"{name}\"`.")
    if kind == "aspect":
        return f"It is an aspect: apply it from a workflow with `compose.aspects = [\"{name}\"]`."
    req = _required_vars(p)
    var_args = "".join(f" --var {v}=<{v}>" for v in req)
    return f"It is a workflow: sling it onto a bead with `gt sling {name} --on <bead> <rig>{var_args}`."


def _steps(p: dict) -> list[dict]:
    steps = p.get("steps") or p.get("template") or []
    return [s for s in steps if isinstance(s, dict) and s.get("id") and s.get("title")]


def _needs(s: dict) -> list[str]:
    needs = s.get("needs") or s.get("depends_on") or []
    return [n for n in needs if isinstance(n, str)] if isinstance(needs, list) else []


def ready_after(steps: list[dict], done_id: str) -> list[str]:
    """Step ids that become ready once ``done_id`` and all its transitive ``needs`` are done.

    Ready = not done and every entry of ``needs`` done. Order follows the formula.
    """
    by_id = {s["id"]: s for s in steps}
    done, stack = set(), [done_id]
    while stack:
        sid = stack.pop()
        if sid in done or sid not in by_id:
            continue
        done.add(sid)
        stack += _needs(by_id[sid])
    return [s["id"] for s in steps if s["id"] not in done and set(_needs(s)) <= done]


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def validate_formula_toml(text: str) -> list[str]:
    """Problems with a formula TOML (empty list = valid).

    Checks (formats doc §1.2): parses as TOML; ``formula`` name set; every step/leg has
    ``id`` and ``title``; ids unique; every ``needs`` entry names an earlier-declared or
    existing step; no dependency cycle; every ``{{var}}`` placeholder in step text is
    declared in ``[vars]`` (Handlebars keywords skipped).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"not valid TOML: {exc}"]
    problems = []
    if not isinstance(data.get("formula"), str) or not data["formula"]:
        problems.append("missing `formula` name")
    items = list(data.get("steps") or []) + list(data.get("legs") or [])
    if not items:
        problems.append("no [[steps]] or [[legs]]")
    ids = [s.get("id") for s in items]
    if any(not s.get("id") or not s.get("title") for s in items):
        problems.append("a step/leg lacks id or title")
    if len(set(ids)) != len(ids):
        problems.append("duplicate step ids")
    known = set(ids)
    for s in items:
        for n in s.get("needs") or []:
            if n not in known:
                problems.append(f"step {s.get('id')} needs unknown step {n}")
    # cycle check (Kahn)
    indeg = {i: 0 for i in known}
    for s in items:
        for n in s.get("needs") or []:
            if n in known:
                indeg[s["id"]] += 1
    queue, seen = [i for i, d in indeg.items() if d == 0], 0
    while queue:
        cur = queue.pop()
        seen += 1
        for s in items:
            if cur in (s.get("needs") or []):
                indeg[s["id"]] -= 1
                if indeg[s["id"]] == 0:
                    queue.append(s["id"])
    if seen != len(known):
        problems.append("dependency cycle among steps")
    declared = set((data.get("vars") or {}).keys())
    for s in items:
        for field in ("title", "description"):
            for var in _PLACEHOLDER.findall(str(s.get(field) or "")):
                if var not in declared and var not in _HBS_KEYWORDS:
                    problems.append(f"step {s.get('id')} uses undeclared var {{{{{var}}}}}")
    return problems


def _mk(rec, role, task, msgs, gen) -> Example:
    return Example(kind="chat", role=role, task=task, origin="formula", source_key=rec.source_key,
                   record_ids=[rec.record_id],
                   messages=[system(role_card(role, rec.provenance.rig))] + msgs,
                   meta={"generator": gen, "formula": rec.payload.get("name")})


def _authoring(rec, p, role) -> Example | None:
    kind, steps = formula_kind(p), _steps(p)
    legs = [lg for lg in p.get("legs") or [] if isinstance(lg, dict) and lg.get("id") and lg.get("title")]
    if p.get("template") or p.get("extends") or kind not in ("workflow", "convoy"):
        return None
    items = steps if kind == "workflow" else legs
    if not items or len(items) > MAX_AUTHOR_STEPS:
        return None
    purpose = first_paragraph(p.get("description") or "", 400)
    doc: dict = {"formula": p["name"], "description": purpose or p["name"],
                 "version": int(p.get("version") or 1)}
    if not p.get("type_inferred") and p.get("type"):
        doc["type"] = p["type"]
    elif kind == "convoy":
        doc["type"] = "convoy"
    ask = [f"Write a Gas Town {kind} formula TOML named `{p['name']}` (version {doc['version']}).",
           f"Purpose: {doc['description']}"]
    vars_ = {}
    for vname, spec in sorted((p.get("vars") or {}).items()):
        spec = spec if isinstance(spec, dict) else {"default": spec}
        v = {k: spec[k] for k in ("description", "default", "required") if spec.get(k) not in (None, "")}
        if "default" in v:
            v["default"] = str(v["default"])
        if "required" in v:
            v["required"] = bool(v["required"])
        vars_[vname] = v
        bits = [v.get("description", ""), f"default {v['default']!r}" if "default" in v else "",
                "required" if v.get("required") else ""]
        ask.append(f"Var `{vname}`: " + "; ".join(b for b in bits if b) + ".")
    if vars_:
        doc["vars"] = vars_
    key = "steps" if kind == "workflow" else "legs"
    out_items = []
    for s in items:
        desc = first_paragraph(s.get("description") or "", 300) or s["title"]
        item = {"id": s["id"], "title": s["title"]}
        if kind == "convoy" and s.get("focus"):
            item["focus"] = s["focus"]
        if _needs(s) and kind == "workflow":
            item["needs"] = _needs(s)
        item["description"] = desc
        out_items.append(item)
        after = f" (after: {', '.join(item['needs'])})" if item.get("needs") else ""
        focus = f" [focus: {item['focus']}]" if item.get("focus") else ""
        ask.append(f"{'Step' if kind == 'workflow' else 'Leg'} `{s['id']}` \"{s['title']}\"{after}{focus}: {desc}")
    doc[key] = out_items
    text = tomli_w.dumps(doc, multiline_strings=True)
    if validate_formula_toml(text):
        return None
    msgs = [user("\n".join(ask)),
            assistant(f"Here is `{p['name']}.formula.toml`:\n\n```toml\n{text}```")]
    return _mk(rec, role, "formula", msgs, "author")


def _one_formula(rec: Record) -> list[Example]:
    p = rec.payload
    if not isinstance(p, dict) or not p.get("name"):
        return []
    role, task, is_patrol = formula_role_task(p)
    name, kind, out = p["name"], formula_kind(p), []
    purpose = first_paragraph(p.get("description") or "", 400)
    if purpose:
        out.append(_mk(rec, role, task, [
            user(f"Which Gas Town formula do I use for this, and how do I start it? {purpose}"),
            assistant(f"Use `{name}` ({kind}, version {p.get('version') or 1}). {invocation(p, role, is_patrol)}".strip())],
            "which"))
    steps = _steps(p)
    qa_task = "patrol-decision" if is_patrol else task
    if steps and len(steps) <= MAX_QA_STEPS and len({s["id"] for s in steps}) == len(steps):
        for s in _spread(steps, MAX_STEP_QA):
            nxt = ready_after(steps, s["id"])
            titles = {x["id"]: x["title"] for x in steps}
            if nxt:
                listing = "; ".join(f"`{n}` ({titles[n]})" for n in nxt)
                ans = (f"With `{s['id']}` and everything it needs done, the ready step"
                       f"{'s are' if len(nxt) > 1 else ' is'}: {listing}.")
            else:
                ans = f"`{s['id']}` is the last step of `{name}`; nothing is left once it is done."
            out.append(_mk(rec, role, qa_task, [
                user(f"In `{name}` I just finished step `{s['id']}` ({s['title']}). What comes next?"),
                assistant(ans)], "next"))
            needs = _needs(s)
            what = first_paragraph(s.get("description") or "", 500)
            req = (f"needs {', '.join(f'`{n}`' for n in needs)} to be done first"
                   if needs else "has no prerequisites")
            out.append(_mk(rec, role, qa_task, [
                user(f"What does step `{s['id']}` of `{name}` require, and what do I do in it?"),
                assistant(f"`{s['id']}` ({s['title']}) {req}." + (f" What it does: {what}" if what else ""))],
                "requires"))
    vars_ = p.get("vars") or {}
    if vars_:
        lines = []
        for vname, spec in sorted(vars_.items()):
            spec = spec if isinstance(spec, dict) else {"default": spec}
            bits = [str(spec.get("description") or "").strip()]
            if spec.get("default") not in (None, ""):
                bits.append(f"default `{spec['default']}`")
            bits.append("required" if spec.get("required") else "optional")
            lines.append(f"- `{vname}`: " + "; ".join(b for b in bits if b))
        out.append(_mk(rec, role, "formula", [
            user(f"What variables does the `{name}` formula take?"),
            assistant(f"`{name}` declares {len(vars_)} var{'s' if len(vars_) > 1 else ''} "
                      f"(pass them as `--var name=value`):\n" + "\n".join(lines))], "vars"))
    auth = _authoring(rec, p, role)
    if auth:
        out.append(auth)
    return out


def formula_examples(records: Sequence[Record]) -> tuple[list[Example], list[tuple[str, str]]]:
    """Build formula Q&A/authoring examples from ``formula`` records.

    Returns:
        ``(examples, skipped)``; ``skipped`` holds ``(record_id, reason)`` for formula records
        that gave nothing (no name, no description/steps/vars).
    """
    out, skipped = [], []
    for rec in records:
        if rec.kind != "formula":
            continue
        made = _one_formula(rec)
        if not made:
            skipped.append((rec.record_id, "formula has no name, purpose, steps or vars"))
        out += made
    return out, skipped
