"""Whole-file sources (markdown, templates, role configs, settings, beads config, merge
requests) and line sources (town events/feed).

Usage::

    from node0_ops.corpus.documents import collect_markdown
    records, quarantine = collect_markdown(info, max_line_bytes=8_000_000)

Payloads (source_key ``file:<path relative to the collected root>`` unless noted):

- ``doc`` / ``claude_md`` / ``role_template`` / ``prime_output``: ``{text, title}``
  plus ``front_matter`` (dict) when the file starts with TOML ``+++`` or YAML
  ``---`` front matter (gastown ``plugins/*/plugin.md``).
- ``role_config``: ``{role, data, text}`` (``internal/config/roles/<role>.toml``, §3.1).
- ``settings``: ``{data, text, templated}``; templated JSON (``{{GT_BIN}}``,
  ``{{.ReadyDelayMs | default 8000}}`` outside strings, §3.3/§5) is parsed with
  each bare ``{{...}}`` replaced by its text as a JSON string.
- ``beads_config`` (``config.yaml``, ``metadata.json``, ``backup_state.json``,
  ``.installed.json``): ``{data, text}``.
- ``merge_request`` (``.beads/mq/*.json``, §2.2): the JSON object; source_key ``bead:<id>``.
- ``town_event`` (``.events.jsonl``, ``.feed.jsonl``, §4): one record per line,
  the JSON object; source_key ``bead:<payload.bead>`` when the event names a
  bead (so it shares its bead's split), else ``file:<rel>``; rig/role from ``actor``.
"""

import json
import re
import tomllib

import yaml

from node0_ops.corpus.readers import FileInfo, FileRejected, iter_jsonl, json_error, jsonable, read_text
from node0_ops.corpus.schema import ROLES, QuarantineEntry, Record
from node0_ops.corpus.sources import role_from_actor, role_from_name

Result = tuple[list[Record], list[QuarantineEntry]]
TEMPLATE_EXPR = re.compile(r"\{\{.*?\}\}", re.S)


def split_front_matter(text: str) -> tuple[dict | None, str]:
    """(front matter dict or None, body) for ``+++`` TOML or ``---`` YAML front matter."""
    for fence, loader in (("+++", tomllib.loads), ("---", yaml.safe_load)):
        if text.startswith(fence + "\n"):
            end = text.find("\n" + fence, len(fence))
            if end > 0:
                try:
                    meta = loader(text[len(fence) + 1:end])
                except (tomllib.TOMLDecodeError, yaml.YAMLError):
                    return None, text
                return (jsonable(meta) if isinstance(meta, dict) else None), text[end + len(fence) + 1:]
    return None, text


def markdown_title(body: str, fallback: str) -> str:
    """First ATX heading (``# Title``) outside code fences, else ``fallback``."""
    in_code = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)):
            return m.group(1)
    return fallback


def collect_markdown(info: FileInfo, max_line_bytes: int) -> Result:
    """One Record ``{text, title[, front_matter]}`` for a markdown/template/prime file.

    Errors: empty, binary, non-UTF-8 or oversized files are quarantined (whole file).
    """
    try:
        text = read_text(info, max_line_bytes)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    meta, body = split_front_matter(text)
    stem = info.path.name.split(".", 1)[0]
    title = markdown_title(body, (meta or {}).get("name") or stem)
    payload = {"text": text, "title": title}
    if meta is not None:
        payload["front_matter"] = meta
    return [Record(info.kind, f"file:{info.rel}", payload, info.prov(offset=0))], []


def _load_structured(text: str, name: str) -> object:
    lname = name.lower()
    try:
        if lname.endswith(".toml"):
            return tomllib.loads(text)
        if lname.endswith((".yaml", ".yml")):
            return yaml.safe_load(text)
        return json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileRejected(_line_of(str(exc)), f"invalid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f"line {mark.line + 1}" if mark is not None else "whole file"
        raise FileRejected(pos, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except json.JSONDecodeError as exc:
        raise FileRejected(f"line {exc.lineno}", json_error(exc)) from None


def _line_of(message: str) -> str:
    m = re.search(r"at line (\d+)", message)
    return f"line {m.group(1)}" if m else "whole file"


def render_template_json(text: str) -> str:
    """Replace every ``{{...}}`` that sits outside a JSON string by that text as a JSON string.

    ``"command": "{{GT_BIN}} tap"`` is already valid JSON and is left alone;
    ``"ready_delay_ms": {{.ReadyDelayMs | default 8000}}`` becomes a string value.
    """
    out, i, in_str, n = [], 0, False, len(text)
    while i < n:
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_str = False
            i += 1
        elif ch == '"':
            in_str = True
            out.append(ch)
            i += 1
        elif text.startswith("{{", i) and (m := TEMPLATE_EXPR.match(text, i)):
            out.append(json.dumps(m.group(0)))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def collect_structured(info: FileInfo, max_line_bytes: int) -> Result:
    """One Record for a settings / role config / beads config file (see module docstring).

    Errors: invalid JSON/TOML/YAML → quarantined with the parser's line. JSON
    with Go-template expressions is retried after :func:`render_template_json`.
    """
    try:
        text = read_text(info, max_line_bytes)
        templated = "{{" in text
        try:
            data = _load_structured(text, info.path.name.removesuffix(".tmpl"))
        except FileRejected:
            if not (templated and info.path.name.lower().removesuffix(".tmpl").endswith(".json")):
                raise
            data = _load_structured(render_template_json(text), "x.json")
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    data = jsonable(data)
    if info.kind == "role_config":
        role = (data.get("role") if isinstance(data, dict) else None) or role_from_name(info.path.name)
        payload = {"role": role, "data": data, "text": text}
        prov = info.prov(offset=0, role=role if role in ROLES else None)
    elif info.kind == "settings":
        payload, prov = {"data": data, "text": text, "templated": templated}, info.prov(offset=0)
    else:
        payload, prov = {"data": data, "text": text}, info.prov(offset=0)
    return [Record(info.kind, f"file:{info.rel}", payload, prov)], []


def collect_merge_request(info: FileInfo, max_line_bytes: int) -> Result:
    """One ``merge_request`` Record ``{id, branch, target, source_issue, worker, rig, title,
    priority, created_at, ...}``; source_key ``bead:<id>`` (file stem when ``id`` is missing)."""
    try:
        data = _load_structured(read_text(info, max_line_bytes), info.path.name)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    if not isinstance(data, dict):
        return [], [info.quarantine("whole file", f"expected a JSON object, got {type(data).__name__}")]
    mr_id = data.get("id") or info.path.stem
    rig = data.get("rig") if isinstance(data.get("rig"), str) and data.get("rig") else info.rig
    return [Record("merge_request", f"bead:{mr_id}", data, info.prov(offset=0, rig=rig))], []


def collect_town_events(info: FileInfo, max_line_bytes: int) -> Result:
    """``town_event`` Records, one per ``.events.jsonl`` / ``.feed.jsonl`` line (§4)."""
    pending, quarantine = [], []
    try:
        for ln in iter_jsonl(info, max_line_bytes):
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
            else:
                pending.append(ln)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    records = []
    for ln in pending:
        payload = ln.obj.get("payload") if isinstance(ln.obj.get("payload"), dict) else {}
        bead = payload.get("bead")
        key = f"bead:{bead}" if isinstance(bead, str) and bead else f"file:{info.rel}"
        rig, role = role_from_actor(ln.obj.get("actor"))
        records.append(Record("town_event", key, ln.obj,
                              info.prov(ln.lineno, ln.offset, rig=rig or info.rig, role=role or info.role)))
    return records, quarantine
