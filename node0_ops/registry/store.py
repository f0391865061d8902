"""Versioned model registry: register, resolve, list, status, prune and diff role models.

A role model is ``<role>-v<version>`` (``polecat-v3``); versions count up per role from 1.
Its canonical reference is ``NAME@VERSION`` (``polecat-v3@3``), which is what deploys write
into Gas Town settings. References accepted everywhere:

=================  ===================================================
``polecat-v3``     that model
``polecat@3``      role + version
``polecat-v3@3``   both (they must agree)
``polecat``        the role's active model, else its latest version
=================  ===================================================

Lineage: ``run_id`` -> ``train_runs.run_id`` (trainer), ``corpus_version`` ->
``corpus_versions`` (corpus pipeline), adapters -> ``adapters`` rows; :func:`lineage`
joins them with the deployments.

Usage::

    from node0_ops.registry.schema import registry_db
    from node0_ops.registry.store import register_model, resolve_model
    db = registry_db()
    ref = register_model(db, "polecat", "HuggingFaceTB/SmolLM2-135M-Instruct",
                         adapters=[{"path": "artifacts/adapters/polecat"}],
                         artifacts={"gguf_q4_k_m": "out/polecat-q4_k_m.gguf", "hf": "out/merged"},
                         corpus_version="cv-20250101-ab12", eval_report=report.to_dict(), run_id="r-1")
    resolve_model(db, "polecat")["gguf_path"]
"""

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from node0_ops.corpus.schema import ROLES
from node0_ops.lineage.db import LineageDB, upsert
from node0_ops.registry.artifacts import hash_path, normalize_artifacts, path_bytes, preferred_gguf
from node0_ops.registry.schema import MODEL_STATUSES

REF_RE = re.compile(r"^(?P<role>[a-z][a-z0-9_]*?)(?:-v(?P<v1>\d+))?(?:@(?P<v2>\d+))?$")
ADAPTER_META = "gastown_adapter.json"
TOWN_SCOPE = "(town)"


class RegistryError(ValueError):
    """A registry request that cannot be served (unknown model, bad reference, bad status)."""


def now_utc() -> datetime:
    """Naive UTC timestamp (DuckDB ``timestamp`` columns hold UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: Any) -> Any:
    """``datetime`` -> ``YYYY-MM-DDTHH:MM:SSZ``; other values unchanged."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def model_name(role: str, version: int) -> str:
    """``polecat``, 3 -> ``polecat-v3``."""
    return f"{role}-v{int(version)}"


def model_ref(row: dict) -> str:
    """Canonical ``NAME@VERSION`` of a model row (``polecat-v3@3``)."""
    return f"{row['name']}@{row['version']}"


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split a model reference into ``(role, version | None)``.

    Raises:
        RegistryError: malformed reference, or name and ``@version`` that disagree.
    """
    m = REF_RE.match((ref or "").strip())
    if not m:
        raise RegistryError(f"model reference {ref!r} is not one of ROLE, ROLE-vN, ROLE@N, ROLE-vN@N (e.g. polecat-v3)")
    v1, v2 = m.group("v1"), m.group("v2")
    if v1 and v2 and int(v1) != int(v2):
        raise RegistryError(f"model reference {ref!r}: name says version {v1} but @ says {v2}")
    version = int(v1 or v2) if (v1 or v2) else None
    return m.group("role"), version


def _loads(text: Any, default: Any) -> Any:
    if text is None or text == "":
        return default
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return default


def _dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)


def _decode_model(row: dict) -> dict:
    out = {k: iso(v) for k, v in row.items()}
    out["artifacts"] = _loads(row.get("artifacts"), {})
    out["eval_report"] = _loads(row.get("eval_report"), None)
    out["hyperparameters"] = _loads(row.get("hyperparameters"), {})
    out["adapters"] = list(row.get("adapters") or [])
    out["deployed_rigs"] = list(row.get("deployed_rigs") or [])
    out["ref"] = model_ref(row)
    return out


def _decode_adapter(row: dict) -> dict:
    out = {k: iso(v) for k, v in row.items()}
    out["compatible_models"] = sorted(row.get("compatible_models") or [])
    out["ref"] = f"{row['name']}@{row['version']}"
    return out


# ----------------------------------------------------------------------------- adapters


def _read_meta(path: str | Path | None) -> dict:
    """``gastown_adapter.json`` + ``adapter_config.json`` of a PEFT folder (``{}`` when absent)."""
    if not path:
        return {}
    folder = Path(path)
    meta: dict = {}
    for fname, key in ((ADAPTER_META, None), ("adapter_config.json", "_peft")):
        f = folder / fname
        if f.is_file():
            try:
                data = json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                raise RegistryError(f"{f}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
            if key:
                meta[key] = data
            else:
                meta.update(data)
    return meta


def _adapter_name(meta: dict, path: str | Path | None) -> str:
    """``<kind>-<role|task>`` from the metadata (the exporter's naming), else the folder name."""
    kind = meta.get("kind")
    label = meta.get("task") if kind == "task" else meta.get("role")
    if kind and label:
        return f"{kind}-{label}"
    if path:
        return Path(path).name
    raise RegistryError("adapter needs a name or a folder with gastown_adapter.json (kind + role/task)")


def register_adapter(db: LineageDB, path: str | Path, *, name: str | None = None, kind: str | None = None,
                     task: str | None = None, role: str | None = None, gguf_path: str | Path | None = None,
                     sha256: str | None = None, run_id: str | None = None, corpus_version: str | None = None,
                     base: str | None = None, compatible_models: Iterable[str] = ()) -> str:
    """Register a PEFT LoRA adapter folder; returns ``name@version``.

    Metadata missing from the arguments is read from the folder's ``gastown_adapter.json``
    (``kind``, ``role``, ``task``, ``base``, ``corpus_version``, ``run_id``). The version counts
    up per name; registering the same weights again (same ``sha256``) returns the existing
    version and only adds ``compatible_models``.

    Args:
        path: adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``).
        sha256: of ``adapter_model.safetensors`` (computed when omitted; folder hash if that file is absent).

    Raises:
        FileNotFoundError: the folder does not exist.  RegistryError: no name can be derived.
    """
    folder = Path(path).expanduser().resolve()
    if not folder.exists():
        raise FileNotFoundError(f"adapter folder {folder} does not exist")
    meta = _read_meta(folder)
    name = name or _adapter_name(meta, folder)
    if not sha256:
        weights = folder / "adapter_model.safetensors"
        sha256 = hash_path(weights if weights.is_file() else folder)[0]
    with db.write() as con:
        rows = con.execute("select version, sha256, compatible_models from adapters where name = ? order by version",
                           [name]).fetchall()
        same = [r for r in rows if r[1] == sha256]
        if same:
            version, _, compat = same[-1]
            merged = sorted(set(compat or []) | set(compatible_models))
            con.execute("update adapters set compatible_models = ? where name = ? and version = ?", [merged, name, version])
            return f"{name}@{version}"
        version = (max(r[0] for r in rows) + 1) if rows else 1
        upsert(con, "adapters", [{
            "name": name, "version": version, "kind": kind or meta.get("kind"),
            "task": task or meta.get("task"), "role": role or meta.get("role"), "path": str(folder),
            "gguf_path": str(Path(gguf_path).resolve()) if gguf_path else None, "sha256": sha256,
            "compatible_models": sorted(set(compatible_models)), "run_id": run_id or meta.get("run_id"),
            "corpus_version": corpus_version or meta.get("corpus_version"), "base": base or meta.get("base"),
            "created_at": now_utc()}])
    return f"{name}@{version}"


def get_adapter(db: LineageDB, ref: str) -> dict:
    """One adapter row by ``name`` (latest version) or ``name@version``.

    Raises:
        RegistryError: unknown adapter.
    """
    name, _, ver = ref.partition("@")
    if ver:
        rows = db.query("select * from adapters where name = ? and version = ?", [name, int(ver)])
    else:
        rows = db.query("select * from adapters where name = ? order by version desc limit 1", [name])
    if not rows:
        raise RegistryError(f"unknown adapter {ref!r}; `gt-model adapters` lists the registered ones")
    return _decode_adapter(rows[0])


def models_with_adapter(db: LineageDB, path: str | Path) -> list[str]:
    """Names of registered models whose adapter stack includes the adapter folder ``path``."""
    folder = str(Path(path).expanduser().resolve())
    rows = db.query("select distinct m.name from models m join adapters a on list_contains(m.adapters, "
                    "a.name || '@' || cast(a.version as varchar)) where a.path = ? order by m.name", [folder])
    return [r["name"] for r in rows]


def record_adapter_eval(db: LineageDB, ref: str, *, report_id: str, score: float, baseline_score: float,
                        gguf_path: str | None = None, export_dir: str | None = None) -> dict:
    """Attach the eval of a stacked adapter (base + role + adapter vs base + role, on the adapter's own
    cases; pass rates in [0, 1]) and its export (LoRA GGUF, export folder) to adapter ``ref``.

    Returns the updated adapter row.  Raises:
        RegistryError: unknown adapter.
    """
    row = get_adapter(db, ref)
    with db.write() as con:
        con.execute("update adapters set eval_report_id = ?, eval_score = ?, baseline_score = ?, "
                    "gguf_path = coalesce(?, gguf_path), export_dir = coalesce(?, export_dir) "
                    "where name = ? and version = ?",
                    [report_id, float(score), float(baseline_score), str(gguf_path) if gguf_path else None,
                     str(export_dir) if export_dir else None, row["name"], row["version"]])
    return get_adapter(db, ref)


def list_adapters(db: LineageDB, *, task: str | None = None, model: str | None = None) -> list[dict]:
    """All adapter versions (newest first per name), optionally for one task or compatible model."""
    rows = [_decode_adapter(r) for r in db.query("select * from adapters order by name, version desc")]
    if task:
        rows = [r for r in rows if r.get("task") == task]
    if model:
        rows = [r for r in rows if model in r["compatible_models"]]
    return rows


# ----------------------------------------------------------------------------- models


def _report_dict(report: Any) -> dict | None:
    if report is None:
        return None
    if isinstance(report, str):
        return json.loads(report)
    if hasattr(report, "to_dict"):
        return report.to_dict()
    if isinstance(report, dict):
        return report
    raise RegistryError(f"eval_report: expected an EvalReport, a dict or JSON text, got {type(report).__name__}")


def report_overall_rate(report: dict | None) -> float | None:
    """Overall pass rate of an ``EvalReport.to_dict()`` (``overall.rate``), else None."""
    if not report:
        return None
    overall = report.get("overall")
    if isinstance(overall, dict) and overall.get("rate") is not None:
        return float(overall["rate"])
    cases = report.get("cases") or []
    return round(sum(bool(c.get("passed")) for c in cases) / len(cases), 4) if cases else None


def _corpus_counts(db: LineageDB, corpus_version: str | None, role: str) -> tuple[int | None, int | None]:
    if not corpus_version:
        return None, None
    with db.read() as con:  # one connection for both counts
        ex = con.execute("select count(*) from examples e join corpus_version_members m on m.item_id = e.example_id "
                         "where m.corpus_version = ? and m.item_kind = 'example' and e.role = ?",
                         [corpus_version, role]).fetchall()[0][0]
        dp = con.execute("select count(*) from dpo_pairs p join corpus_version_members m on m.item_id = p.pair_id "
                         "where m.corpus_version = ? and m.item_kind = 'dpo_pair' and p.role = ?",
                         [corpus_version, role]).fetchall()[0][0]
    return (ex or None), (dp or None)


def register_model(db: LineageDB, role: str, base: str | None, adapters: Iterable[str | dict] = (),
                   artifacts: dict | None = None, corpus_version: str | None = None, *,
                   lora_rank: int | None = None, trained_at: datetime | str | None = None,
                   corpus_examples: int | None = None, dpo_pairs: int | None = None,
                   eval_report: Any = None, eval_score: float | None = None, run_id: str | None = None,
                   hyperparameters: dict | None = None, chat_template: str | None = None,
                   notes: str | None = None) -> str:
    """Register a new role-model version as ``candidate``; returns ``NAME@VERSION`` (``polecat-v3@3``).

    Args:
        role: Gas Town role (``node0_ops.corpus.schema.ROLES``).
        base: base model id; read from the role adapter's ``gastown_adapter.json`` when None.
        adapters: registered adapter refs (``task-git-workflow``, ``task-git-workflow@2``) or dicts
            ``{path, name?, kind?, task?, gguf_path?, sha256?}`` registered on the fly. The role
            adapter's metadata fills ``base``, ``corpus_version``, ``hyperparameters``,
            ``chat_template``, ``run_id`` and ``lora_rank`` (``adapter_config.json`` ``r``).
        artifacts: ``{kind: path | {path, sha256, bytes}}`` (see :mod:`.artifacts`); hashes of
            missing entries are computed.
        eval_report: ``EvalReport`` or its ``to_dict()``; ``eval_score`` defaults to its overall pass rate.
        corpus_examples / dpo_pairs: default to this role's counts in ``corpus_version`` when known.

    Raises:
        RegistryError: unknown role, no base model, unknown adapter ref.
        FileNotFoundError: an artifact or adapter path that does not exist.
    """
    if role not in ROLES:
        raise RegistryError(f"role {role!r} is not a Gas Town role; use one of {ROLES}")
    report = _report_dict(eval_report)
    arts = normalize_artifacts(artifacts)
    metas: list[dict] = []
    order: list[str | dict] = []  # the stack in the order given: registered refs and specs registered below
    for item in adapters or ():
        if isinstance(item, (str, Path)) and not Path(str(item)).is_dir():
            order.append(get_adapter(db, str(item))["ref"])
        else:
            spec = {"path": item} if isinstance(item, (str, Path)) else dict(item)
            if not spec.get("path"):
                raise RegistryError(f"adapter {item!r}: needs 'path' (PEFT folder) or a registered name")
            meta = _read_meta(spec["path"])
            metas.append({**meta, **{k: v for k, v in spec.items() if k in ("kind", "role", "task")}})
            order.append(spec)
    role_meta = next((m for m in metas if m.get("kind") == "role"), metas[0] if metas else {})
    base = base or role_meta.get("base")
    if not base:
        raise RegistryError(f"register {role}: base model unknown (pass base= or register a role adapter "
                            f"whose {ADAPTER_META} names it)")
    hyper = hyperparameters if hyperparameters is not None else (role_meta.get("hyperparameters") or {})
    if lora_rank is None:
        lora_rank = hyper.get("lora_rank") or hyper.get("r") or (role_meta.get("_peft") or {}).get("r")
    corpus_version = corpus_version or role_meta.get("corpus_version")
    run_id = run_id or role_meta.get("run_id")
    chat_template = chat_template or role_meta.get("chat_template")
    metrics = role_meta.get("metrics") or {}
    if corpus_examples is None or dpo_pairs is None:
        ex, dp = _corpus_counts(db, corpus_version, role)
        corpus_examples = corpus_examples if corpus_examples is not None else (ex or metrics.get("train_examples"))
        dpo_pairs = dpo_pairs if dpo_pairs is not None else (dp or metrics.get("dpo_pairs"))
    if isinstance(trained_at, str):
        trained_at = datetime.fromisoformat(trained_at.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)

    refs = [spec if isinstance(spec, str) else register_adapter(
        db, spec["path"], name=spec.get("name"), kind=spec.get("kind"), task=spec.get("task"),
        role=spec.get("role"), gguf_path=spec.get("gguf_path") or spec.get("gguf"), sha256=spec.get("sha256"),
        run_id=spec.get("run_id") or run_id, corpus_version=spec.get("corpus_version") or corpus_version,
        base=spec.get("base") or base) for spec in order]
    with db.write() as con:  # version allocation and insert in one transaction (one writer at a time)
        version = (con.execute("select max(version) from models where role = ?", [role]).fetchall()[0][0] or 0) + 1
        name = model_name(role, version)
        for ref in refs:
            aname, _, aver = ref.partition("@")
            con.execute("update adapters set compatible_models = list_distinct(list_append(coalesce(compatible_models, []), ?)) "
                        "where name = ? and version = ?", [name, aname, int(aver)])
        upsert(con, "models", [{
            "name": name, "role": role, "base": base, "version": version,
            "lora_rank": int(lora_rank) if lora_rank is not None else None, "trained_at": trained_at,
            "corpus_examples": corpus_examples, "corpus_version": corpus_version, "dpo_pairs": dpo_pairs,
            "eval_score": eval_score if eval_score is not None else report_overall_rate(report),
            "eval_report": _dumps(report), "adapters": refs, "status": "candidate", "deployed_rigs": [],
            "artifacts": _dumps(arts), "run_id": run_id, "created_at": now_utc(), "notes": notes,
            "hyperparameters": _dumps(hyper), "chat_template": chat_template}])
    return f"{name}@{version}"


def get_model(db: LineageDB, ref: str) -> dict:
    """The model row a reference names (decoded: JSON columns as objects, ISO timestamps).

    Raises:
        RegistryError: malformed reference or no such model (the message lists what exists).
    """
    role, version = parse_ref(ref)
    if version is not None:
        rows = db.query("select * from models where role = ? and version = ?", [role, version])
    else:
        rows = db.query("select * from models where role = ? order by (status = 'active') desc, version desc limit 1", [role])
    if not rows:
        have = [r["name"] for r in db.query("select name from models where role = ? order by version", [role])]
        hint = f"registered {role} models: {', '.join(have)}" if have else f"no {role} model is registered yet"
        raise RegistryError(f"unknown model {ref!r} ({hint})")
    return _decode_model(rows[0])


def resolve_model(db: LineageDB, ref: str) -> dict:
    """What a server needs to load a model reference.

    Returns:
        the model row plus ``ref`` (``NAME@VERSION``), ``gguf_path`` (q4_k_m preferred, None when
        no GGUF), ``hf_path`` (merged safetensors folder or None), ``chat_template`` and
        ``adapters``: ``{adapter name: {version, kind, task, peft, gguf, sha256}}``.

    Raises:
        RegistryError: unknown model (see :func:`get_model`).
    """
    model = get_model(db, ref)
    arts = model["artifacts"]
    adapters: dict[str, dict] = {}
    rows = {r["ref"]: r for r in (_decode_adapter(x) for x in db.query(
        "select * from adapters where list_contains(?, name || '@' || version)", [model["adapters"]]))}
    for aref in model["adapters"]:
        a = rows.get(aref)
        if a is None:
            continue
        lora = arts.get(f"lora_gguf:{a['name']}", {}).get("path")
        peft = arts.get(f"peft:{a['name']}", {}).get("path") or a["path"]
        adapters[a["name"]] = {"version": a["version"], "kind": a["kind"], "task": a["task"], "peft": peft,
                               "gguf": lora or a.get("gguf_path"), "sha256": a["sha256"]}
    return {**model, "gguf_path": preferred_gguf(arts), "hf_path": arts.get("hf", {}).get("path"),
            "adapters": adapters, "adapter_refs": model["adapters"]}


def list_models(db: LineageDB, *, role: str | None = None, status: str | None = None) -> list[dict]:
    """Model rows ordered by role, newest version first; filters by role and status."""
    sql, params = "select * from models where 1=1", []
    if role:
        sql, params = sql + " and role = ?", params + [role]
    if status:
        sql, params = sql + " and status = ?", params + [status]
    return [_decode_model(r) for r in db.query(sql + " order by role, version desc", params)]


def set_status(db: LineageDB, ref: str, status: str, *, note: str | None = None) -> dict:
    """Set a model's status; making one ``active`` archives the role's other active model.

    Raises:
        RegistryError: unknown status or model.
    """
    if status not in MODEL_STATUSES:
        raise RegistryError(f"status {status!r} is not one of {MODEL_STATUSES}")
    model = get_model(db, ref)
    with db.write() as con:
        if status == "active":
            con.execute("update models set status = 'archived' where role = ? and status = 'active' and name <> ?",
                        [model["role"], model["name"]])
        con.execute("update models set status = ?, notes = coalesce(?, notes) where name = ?", [status, note, model["name"]])
    return get_model(db, model["name"])


def lineage(db: LineageDB, ref: str) -> dict:
    """Model with its training run (``train_runs``), corpus version row, the contributors of that
    corpus (:func:`node0_ops.corpus.contributions.contributors_of`), adapters and deployments."""
    from node0_ops.corpus.contributions import contributors_of

    model = get_model(db, ref)
    out: dict[str, Any] = {"model": model, "run": None, "corpus": None, "contributors": [], "adapters": [],
                           "deployments": []}
    if model.get("run_id"):
        rows = db.query("select * from train_runs where run_id = ?", [model["run_id"]])
        out["run"] = {k: iso(v) for k, v in rows[0].items()} if rows else None
    if model.get("corpus_version"):
        rows = db.query("select corpus_version, created_at, n_examples, n_pairs from corpus_versions "
                        "where corpus_version = ?", [model["corpus_version"]])
        out["corpus"] = {k: iso(v) for k, v in rows[0].items()} if rows else None
        out["contributors"] = contributors_of(db, model["corpus_version"])
    for aref in model["adapters"]:
        try:
            out["adapters"].append(get_adapter(db, aref))
        except RegistryError:
            out["adapters"].append({"ref": aref, "missing": True})
    out["deployments"] = [{k: iso(v) for k, v in r.items()} for r in db.query(
        "select ts, action, scope, rig, model, previous_model, forced, reason from deployments "
        "where model = ? or previous_model = ? order by ts", [model_ref(model), model_ref(model)])]
    return out


# ----------------------------------------------------------------------------- prune


def prune(db: LineageDB, name_or_role: str, keep: int, *, dry_run: bool = False,
          state: str | Path | None = None, allow_outside_state: bool = False) -> dict:
    """Delete the artifacts of a role's older archived/candidate models, keeping ``keep`` of them.

    Never touches the active model, a model still listed in some settings file
    (``deployed_rigs``), or a path another kept model also uses. Pruned rows stay (lineage)
    with status ``archived``, each artifact marked ``pruned_at``. Paths outside the state
    directory are skipped unless ``allow_outside_state``.

    Returns:
        ``{"role", "keep", "dry_run", "kept": [refs], "pruned": [{"ref", "paths": [...], "bytes"}],
        "skipped": [{"path", "why"}], "freed_bytes"}``; bytes are what is (dry run: would be) freed.

    Raises:
        RegistryError: ``keep`` < 0 or unknown role/model.
    """
    from node0_ops.paths import state_dir

    if keep < 0:
        raise RegistryError(f"--keep {keep}: use 0 or more (number of inactive versions to keep)")
    role, _ = parse_ref(name_or_role)
    models = list_models(db, role=role)
    if not models:
        raise RegistryError(f"no {role} models registered")
    root = state_dir(state)
    protected = [m for m in models if m["status"] == "active" or m["deployed_rigs"]]
    inactive = [m for m in models if m not in protected and m["status"] in ("archived", "candidate")]
    kept = protected + inactive[:keep]
    victims = inactive[keep:]
    kept_paths = {Path(a["path"]) for m in kept for a in m["artifacts"].values()}
    report: dict[str, Any] = {"role": role, "keep": keep, "dry_run": dry_run, "kept": [m["ref"] for m in kept],
                              "pruned": [], "skipped": [], "freed_bytes": 0}
    for m in victims:
        arts, paths, freed = dict(m["artifacts"]), [], 0
        for kind, entry in arts.items():
            p = Path(entry["path"])
            if entry.get("pruned_at") or not p.exists():
                continue
            if any(p == k or p in k.parents or k in p.parents for k in kept_paths):
                report["skipped"].append({"path": str(p), "why": "shared with a kept model"})
                continue
            if not allow_outside_state and root not in p.resolve().parents:
                report["skipped"].append({"path": str(p), "why": f"outside the state dir {root}"})
                continue
            size = path_bytes(p)
            if not dry_run:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                entry = arts[kind] = {**entry, "pruned_at": iso(now_utc())}
            paths.append(str(p))
            freed += size
        if not paths:
            continue
        report["pruned"].append({"ref": m["ref"], "paths": paths, "bytes": freed})
        report["freed_bytes"] += freed
        if not dry_run:
            with db.write() as con:
                con.execute("update models set artifacts = ?, status = 'archived', notes = ? where name = ?",
                            [_dumps(arts), ((m.get("notes") or "") + f" [pruned {iso(now_utc())}]").strip(), m["name"]])
    return report


# ----------------------------------------------------------------------------- diff


def _pair(a: Any, b: Any) -> dict:
    return {"a": a, "b": b}


def _scores(report: dict | None, group: str) -> dict[str, float]:
    return {k: v.get("rate") for k, v in ((report or {}).get(group) or {}).items() if isinstance(v, dict)}


def diff(db: LineageDB, a: str, b: str) -> dict:
    """What changed between two models.

    Returns:
        ``{"a": ref, "b": ref, "fields": {field: {a, b}}`` (base, lora_rank, corpus, counts,
        eval_score, chat_template when different), ``"hyperparameters": {key: {a, b}}`` (changed
        keys), ``"eval": {"overall"|"category:<name>"|"role:<name>": {a, b, delta}}``,
        ``"artifacts": {kind: {a: sha256|None, b: sha256|None, bytes_a, bytes_b}}`` (changed only),
        ``"adapters": {"added": [...], "removed": [...]}}``.
    """
    ma, mb = get_model(db, a), get_model(db, b)
    fields = {}
    for key in ("role", "base", "lora_rank", "corpus_version", "corpus_examples", "dpo_pairs", "eval_score",
                "run_id", "status", "chat_template"):
        if ma.get(key) != mb.get(key):
            fields[key] = _pair(ma.get(key), mb.get(key))
    ha, hb = ma["hyperparameters"] or {}, mb["hyperparameters"] or {}
    hyper = {k: _pair(ha.get(k), hb.get(k)) for k in sorted(set(ha) | set(hb)) if ha.get(k) != hb.get(k)}
    ev: dict[str, dict] = {}
    ra, rb = ma["eval_report"], mb["eval_report"]
    oa, ob = report_overall_rate(ra), report_overall_rate(rb)
    if oa is not None or ob is not None:
        ev["overall"] = {"a": oa, "b": ob, "delta": round(ob - oa, 4) if oa is not None and ob is not None else None}
    for group, label in (("by_category", "category"), ("by_role", "role")):
        sa, sb = _scores(ra, group), _scores(rb, group)
        for k in sorted(set(sa) | set(sb)):
            x, y = sa.get(k), sb.get(k)
            ev[f"{label}:{k}"] = {"a": x, "b": y, "delta": round(y - x, 4) if x is not None and y is not None else None}
    aa, ab = ma["artifacts"], mb["artifacts"]
    arts = {}
    for kind in sorted(set(aa) | set(ab)):
        x, y = aa.get(kind) or {}, ab.get(kind) or {}
        if x.get("sha256") != y.get("sha256"):
            arts[kind] = {"a": x.get("sha256"), "b": y.get("sha256"), "bytes_a": x.get("bytes"), "bytes_b": y.get("bytes")}
    ad_a, ad_b = set(ma["adapters"]), set(mb["adapters"])
    return {"a": ma["ref"], "b": mb["ref"], "fields": fields, "hyperparameters": hyper, "eval": ev,
            "artifacts": arts, "adapters": {"added": sorted(ad_b - ad_a), "removed": sorted(ad_a - ad_b)}}
