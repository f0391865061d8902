"""Our Gas Town formulas (``train-role-model``, ``corpus-collect``, ``eval-suite``): validate, install.

The three ``*.formula.toml`` files ship as package data in ``node0_ops/registry/formulas/``.

:func:`validate_formula` applies the rules of Gas Town's formula parser
(``gastown internal/formula/parser.go`` ``Validate`` and ``variable_validation.go``, summarized
in ``shared/docs/gastown-formats.md`` §1):

- TOML parses; ``formula`` (name) is a non-empty string; ``description`` and ``version`` (int)
  are present (all 54 real formulas have them);
- the type is explicit or inferred (``steps``/``extends`` -> workflow, ``legs`` -> convoy,
  ``template`` -> expansion, ``aspects`` -> aspect) and is one of those four;
- workflow: at least one step (unless it ``extends`` another), every step has ``id`` and
  ``title``, ids are unique, ``needs`` (beads alias ``depends_on``) name existing steps, no cycles;
- expansion (``[[template]]``), convoy (``[[legs]]``, ``synthesis.depends_on``,
  ``inputs.*.required_unless``) and aspect (``[[aspects]]``) get the same id/reference checks;
- every ``{{name}}`` placeholder in the description and step/leg/template/aspect text is
  declared in ``[vars]`` (Handlebars keywords such as ``else``/``this`` are skipped).

:func:`install_formulas` copies them to ``<town>/.beads/formulas/`` and records their sha256 in
``.installed.json`` (``{"formulas": {filename: sha256}}``, the file ``gt install`` writes). A
file whose content no longer matches the recorded sha (edited locally) is never overwritten
without ``force``.

Usage::

    from node0_ops.registry.formulas import validate_formula, install_formulas, packaged_formulas
    errors = validate_formula(path)              # [] when valid
    report = install_formulas(town_root)         # {"installed": [...], "kept": [...], ...}
"""

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path

from node0_ops.registry.settings import atomic_write

FORMULA_DIR = Path(__file__).resolve().parent / "formulas"
FORMULA_TYPES = ("workflow", "expansion", "aspect", "convoy")
PLACEHOLDER = re.compile(r"\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}")
HANDLEBARS_KEYWORDS = {"else", "this", "root", "index", "key", "first", "last", "end", "range", "with", "block",
                       "define", "template", "nil"}
INSTALLED_JSON = ".installed.json"


def packaged_formulas() -> list[Path]:
    """The ``*.formula.toml`` files shipped in this package, sorted by name."""
    return sorted(FORMULA_DIR.glob("*.formula.toml"))


def infer_type(data: dict) -> str | None:
    """Formula type when ``type`` is omitted (gastown ``parser.go inferType``)."""
    if data.get("steps") or data.get("extends"):
        return "workflow"
    if data.get("legs"):
        return "convoy"
    if data.get("template"):
        return "expansion"
    if data.get("aspects"):
        return "aspect"
    return None


def _cycle(deps: dict[str, list[str]]) -> str | None:
    """An id on a dependency cycle (depth-first, ids visited in sorted order), else None."""
    state: dict[str, int] = {}

    def visit(node: str) -> str | None:
        if state.get(node) == 1:
            return node
        if state.get(node) == 2:
            return None
        state[node] = 1
        for dep in deps.get(node, []):
            hit = visit(dep)
            if hit:
                return hit
        state[node] = 2
        return None

    for node in sorted(deps):
        hit = visit(node)
        if hit:
            return hit
    return None


def _check_items(items: object, label: str, errors: list[str], *, need_title: bool = True) -> dict[str, list[str]]:
    """Ids, titles, uniqueness and ``needs`` references of steps/templates; returns the dep graph."""
    if not isinstance(items, list):
        errors.append(f"[[{label}]] must be an array of tables")
        return {}
    deps: dict[str, list[str]] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            errors.append(f"{label}[{n}] is not a table")
            continue
        sid = item.get("id")
        if not isinstance(sid, str) or not sid:
            errors.append(f"{label}[{n}] missing required id field")
            continue
        if sid in deps:
            errors.append(f"duplicate {label} id: {sid}")
            continue
        if need_title and not item.get("title"):
            errors.append(f"{label} {sid!r} has no title")
        needs = item.get("needs", item.get("depends_on", []))
        if isinstance(needs, str):
            needs = [needs]
        if not isinstance(needs, list):
            errors.append(f"{label} {sid!r}: needs must be a list of step ids")
            needs = []
        deps[sid] = [str(x) for x in needs]
    for sid, needs in deps.items():
        for need in needs:
            if need not in deps:
                errors.append(f"{label} {sid!r} needs unknown {label}: {need}")
    hit = _cycle({k: [d for d in v if d in deps] for k, v in deps.items()})
    if hit:
        errors.append(f"cycle detected involving: {hit}")
    return deps


def _texts(data: dict) -> list[str]:
    """Text that may hold ``{{var}}`` placeholders (``variable_validation.go``)."""
    out = [str(data.get("description") or "")]
    for key, fields in (("steps", ("title", "description")), ("legs", ("title", "description", "focus")),
                        ("template", ("title", "description")), ("aspects", ("title", "description", "focus"))):
        for item in data.get(key) or []:
            if isinstance(item, dict):
                out += [str(item.get(f) or "") for f in fields]
                for child in item.get("children") or []:
                    if isinstance(child, dict):
                        out += [str(child.get(f) or "") for f in fields]
    syn = data.get("synthesis")
    if isinstance(syn, dict):
        out += [str(syn.get("title") or ""), str(syn.get("description") or "")]
    return out


def validate_formula_data(data: dict) -> list[str]:
    """Errors of a parsed formula (see module docstring for the rules); [] when valid."""
    errors: list[str] = []
    name = data.get("formula")
    if not isinstance(name, str) or not name.strip():
        errors.append("formula field is required (the formula's name)")
    if not isinstance(data.get("description"), str) or not data["description"].strip():
        errors.append("description is required (agents read it)")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        errors.append(f"version must be an integer, got {version!r}")
    ftype = data.get("type") or infer_type(data)
    if ftype not in FORMULA_TYPES:
        errors.append(f"invalid formula type {ftype!r} (must be convoy, workflow, expansion, or aspect)"
                      if ftype else "cannot infer the formula type: no steps, extends, legs, template or aspects")
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        errors.append("[vars] must be a table")
        raw_vars = {}
    for vname, spec in raw_vars.items():
        if isinstance(spec, dict):
            if "required" in spec and not isinstance(spec["required"], bool):
                errors.append(f"vars.{vname}.required must be true or false")
            if "default" in spec and not isinstance(spec["default"], str):
                errors.append(f"vars.{vname}.default must be a string")
        elif not isinstance(spec, str):
            errors.append(f"vars.{vname} must be a table or a default string")
    if ftype == "workflow":
        if data.get("steps") or not data.get("extends"):
            if not data.get("steps"):
                errors.append("workflow formula requires at least one step")
            else:
                _check_items(data["steps"], "step", errors)
    elif ftype == "expansion":
        _check_items(data.get("template") or [], "template", errors)
        if not data.get("template"):
            errors.append("expansion formula requires at least one template")
    elif ftype == "convoy":
        legs = data.get("legs") or []
        if not legs:
            errors.append("convoy formula requires at least one leg")
        ids = _check_items(legs, "leg", errors, need_title=False)
        syn = data.get("synthesis")
        if isinstance(syn, dict):
            for dep in syn.get("depends_on") or []:
                if dep not in ids:
                    errors.append(f"synthesis depends_on references unknown leg: {dep}")
        inputs = data.get("inputs") or {}
        for iname, spec in inputs.items():
            for ref in (spec or {}).get("required_unless") or [] if isinstance(spec, dict) else []:
                if ref not in inputs:
                    errors.append(f"input {iname!r} has required_unless referencing unknown input {ref!r}")
    elif ftype == "aspect":
        aspects = data.get("aspects") or []
        if not aspects:
            errors.append("aspect formula requires at least one aspect ([[aspects]] with id, title, focus, description)")
        _check_items(aspects, "aspect", errors, need_title=False)
    used = sorted({m for text in _texts(data) for m in PLACEHOLDER.findall(text)} - HANDLEBARS_KEYWORDS)
    undefined = [v for v in used if v not in raw_vars]
    if undefined:
        errors.append(f"undefined template variables: {', '.join(undefined)} "
                      f"(add to [vars] section with default=\"\" for computed values)")
    return errors


def validate_formula(path: str | os.PathLike) -> list[str]:
    """Validate one ``*.formula.toml`` file; returns error messages prefixed with the file name ([] = valid)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{p.name}: cannot read: {exc}"]
    except tomllib.TOMLDecodeError as exc:
        return [f"{p.name}: parsing TOML: {exc}"]
    return [f"{p.name}: {e}" for e in validate_formula_data(data)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_formulas(town_root: str | os.PathLike, *, force: bool = False,
                     sources: list[Path] | None = None) -> dict:
    """Write our formulas into ``<town>/.beads/formulas/`` and record them in ``.installed.json``.

    Per file: ``new`` (written), ``updated`` (we installed it before and it was unmodified),
    ``unchanged`` (same bytes), ``modified`` (local edits: kept unless ``force``, then
    ``overwritten``), ``untracked`` (a file we never installed is there: kept unless ``force``).
    Other entries of ``.installed.json`` (Gas Town's own formulas) are preserved.

    Returns:
        ``{"dir": str, "files": {filename: action}, "installed": [...], "kept": [...]}``.

    Raises:
        ValueError: a packaged formula that fails :func:`validate_formula` (never installed broken).
        ValueError: ``.installed.json`` that is not ``{"formulas": {...}}`` JSON.
    """
    dest = Path(town_root) / ".beads" / "formulas"
    dest.mkdir(parents=True, exist_ok=True)
    record_path = dest / INSTALLED_JSON
    record: dict = {"formulas": {}}
    if record_path.exists():
        try:
            record = json.loads(record_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{record_path}: invalid JSON ({exc.msg} at line {exc.lineno}); fix or remove it") from exc
        if not isinstance(record, dict) or not isinstance(record.setdefault("formulas", {}), dict):
            raise ValueError(f"{record_path}: expected {{\"formulas\": {{filename: sha256}}}}")
    files: dict[str, str] = {}
    for src in sources or packaged_formulas():
        errs = validate_formula(src)
        if errs:
            raise ValueError(f"refusing to install an invalid formula: {'; '.join(errs)}")
        target = dest / src.name
        new_sha = _sha(src)
        if not target.exists():
            action = "new"
        else:
            cur = _sha(target)
            recorded = record["formulas"].get(src.name)
            if cur == new_sha:
                action = "unchanged"
            elif recorded is None:
                action = "overwritten" if force else "untracked"
            elif cur != recorded:
                action = "overwritten" if force else "modified"
            else:
                action = "updated"
        if action in ("new", "updated", "overwritten"):
            atomic_write(target, src.read_text(encoding="utf-8"))
        if action in ("new", "updated", "overwritten", "unchanged"):
            record["formulas"][src.name] = new_sha
        files[src.name] = action
    atomic_write(record_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {"dir": str(dest), "files": files,
            "installed": [f for f, a in files.items() if a in ("new", "updated", "overwritten")],
            "kept": [f for f, a in files.items() if a in ("modified", "untracked")]}
