"""Formula (``*.formula.toml`` / ``*.formula.json``) and overlay parsing.

Usage::

    from node0_ops.corpus.formulas import parse_formula, infer_type
    payload = parse_formula(text, Path("mol-polecat-work.formula.toml"))
    payload["type"], payload["type_inferred"]      # "workflow", True

Format source: ``shared/docs/gastown-formats.md`` §1 (keys, types, gastown
``parser.go inferType``, overlays, beads TOML-then-JSON fallback).
"""

import json
import re
import tomllib
from pathlib import Path

from node0_ops.corpus.readers import FileInfo, FileRejected, json_error, jsonable, read_text
from node0_ops.corpus.schema import QuarantineEntry, Record

FORMULA_TYPES = ("workflow", "expansion", "aspect", "convoy")
OVERLAY_MODES = ("replace", "append", "skip")
FORMULA_SUFFIXES = (".formula.toml", ".formula.json")


def infer_type(data: dict) -> str | None:
    """Formula type when ``type`` is omitted, per gastown ``parser.go inferType`` (§1.1).

    ``extends`` or ``steps`` → workflow, ``legs`` → convoy, ``template`` →
    expansion, ``aspects`` → aspect; then, as a beads-engine fallback,
    ``advice``/``pointcuts`` → aspect. None when no key decides.
    """
    if data.get("extends") or data.get("steps"):
        return "workflow"
    if data.get("legs"):
        return "convoy"
    if data.get("template"):
        return "expansion"
    if data.get("aspects") or data.get("advice") or data.get("pointcuts"):
        return "aspect"
    return None


def formula_name_from_path(path: Path) -> str:
    name = path.name
    for suffix in FORMULA_SUFFIXES + (".toml", ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _parse_toml_or_json(text: str, path: Path) -> dict:
    """TOML or JSON by extension, then the other one (beads tries TOML first, then JSON)."""
    order = ("json", "toml") if path.name.lower().endswith(".json") else ("toml", "json")
    errors = {}
    for fmt in order:
        try:
            data = json.loads(text) if fmt == "json" else tomllib.loads(text)
        except json.JSONDecodeError as exc:
            errors[fmt] = json_error(exc)
            continue
        except tomllib.TOMLDecodeError as exc:
            errors[fmt] = f"invalid TOML: {exc}"
            continue
        if not isinstance(data, dict):
            errors[fmt] = f"expected a table/object at top level, got {type(data).__name__}"
            continue
        return jsonable(data)
    raise FileRejected(_position(errors[order[0]]), errors[order[0]])


def _position(reason: str) -> str:
    """``line N`` from a TOML/JSON error message, else ``whole file``."""
    m = re.search(r"at line (\d+)", reason) or re.search(r"\bline (\d+) col", reason)
    return f"line {m.group(1)}" if m else "whole file"


def _normalize_vars(raw: object) -> dict:
    """``[vars]``: tables kept; the shorthand ``name = "default"`` becomes ``{"default": ...}``."""
    if not isinstance(raw, dict):
        return {}
    return {k: (v if isinstance(v, dict) else {"default": v}) for k, v in raw.items()}


def parse_formula(text: str, path: Path) -> dict:
    """Parse a formula file into the collector payload.

    Returns:
        ``{name, type, type_inferred, version, description, vars, steps, legs,
        template, advice, pointcuts, extends, compose, raw}``: ``type`` is the
        explicit type or the inferred one (``type_inferred`` says which, None
        when undecidable); ``vars`` uses the table form; list fields default to
        ``[]``, ``compose`` to ``{}``; ``raw`` is the whole parsed document
        (convoy ``inputs/prompts/output/synthesis``, ``squash``, ``presets``...).

    Raises:
        FileRejected: invalid TOML and JSON (position = error line), or a
            top-level value that is not a table.
    """
    data = _parse_toml_or_json(text, path)
    explicit = data.get("type")
    inferred = infer_type(data) if not explicit else None
    return {
        "name": str(data.get("formula") or formula_name_from_path(path)),
        "type": explicit or inferred,
        "type_inferred": not explicit and inferred is not None,
        "version": data.get("version"),
        "description": data.get("description"),
        "vars": _normalize_vars(data.get("vars")),
        "steps": data.get("steps") or [],
        "legs": data.get("legs") or [],
        "template": data.get("template") or [],
        "advice": data.get("advice") or [],
        "pointcuts": data.get("pointcuts") or [],
        "extends": data.get("extends") or [],
        "compose": data.get("compose") or {},
        "raw": data,
    }


def collect_formula(info: FileInfo, max_line_bytes: int) -> tuple[list[Record], list[QuarantineEntry]]:
    """One ``formula`` Record (source_key ``formula:<name>``) or one quarantine entry."""
    try:
        payload = parse_formula(read_text(info, max_line_bytes), info.path)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    return [Record("formula", f"formula:{payload['name']}", payload, info.prov(offset=0))], []


def collect_overlay(info: FileInfo, max_line_bytes: int) -> tuple[list[Record], list[QuarantineEntry]]:
    """One ``formula_overlay`` Record per overlay file (§1.2 Overlays).

    Payload ``{name, step_overrides: [{step_id, mode, description?}], raw}``;
    ``name`` is the formula it overlays (the file stem), source_key
    ``formula:<name>`` so an overlay lands in the same split as its formula.
    An override without ``step_id`` or with a mode other than
    replace/append/skip is quarantined (``step-overrides[i]``); the rest are kept.
    """
    try:
        data = _parse_toml_or_json(read_text(info, max_line_bytes), info.path)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    overrides, quarantine = [], []
    raw = data.get("step-overrides")
    if not isinstance(raw, list) or not raw:
        return [], [info.quarantine("whole file", "formula overlay has no [[step-overrides]] entries")]
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("step_id"):
            quarantine.append(info.quarantine(f"step-overrides[{i}]", "step override has no step_id"))
        elif item.get("mode", "replace") not in OVERLAY_MODES:
            quarantine.append(info.quarantine(
                f"step-overrides[{i}]", f"step override mode {item.get('mode')!r} is not one of {OVERLAY_MODES}"))
        else:
            overrides.append(item)
    name = formula_name_from_path(info.path)
    payload = {"name": name, "step_overrides": overrides, "raw": data}
    return [Record("formula_overlay", f"formula:{name}", payload, info.prov(offset=0))], quarantine
