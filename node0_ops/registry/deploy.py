"""Deploy registered models into Gas Town settings as the ``node0`` provider, and roll back.

A deploy writes two members of a real Gas Town settings file (``gastown-formats.md`` §3.3):

- ``agents["node0-<role>"]``: a RuntimeConfig
  ``{"command": "node0-inference", "args": ["--model", "polecat-v3@3", "--adapters", "a,b",
  "--role", "polecat", "--prime", "compact"], "provider": "node0", "env": {"GASTOWN_FT_HOME": <state>}}``;
  ``--prime compact``: the agent starts from the compact prime (``node0-inference prime --role
  polecat``, its per-turn system context) and answers the ``gt prime`` that Gas Town's startup
  fallback and nudges ask for with it, instead of loading the full prime (:mod:`node0_ops.serve.agent`)
- ``role_agents[<role>] = "node0-<role>"``

into ``<town>/settings/config.json`` (``town=True``) or ``<town>/<rig>/settings/config.json``
(``rig=...``; Gas Town resolves rig -> town -> built-in). Every other byte of the file stays
(:mod:`.settings`: splice edit, backup, atomic replace).

Gates, in order (each refusal raises :class:`DeployRefused` naming every reason):

1. the model's eval report passes the thresholds (``EvalThresholds.passes``; default the state's
   ``resources.yaml`` ``evaluator.thresholds_yaml``, else the eval suite's ``thresholds.yaml``) -- override: ``force=True`` with a ``reason``;
2. the role is open in the progressive rollout (:mod:`.rollout`) -- override:
   ``override_rollout=True`` with a ``reason``.

Both overrides are recorded in ``deployments``. The model becomes ``active`` (the role's
previous active model -> ``archived``) and the scope is added to its ``deployed_rigs``.

:func:`rollback` undoes the scope's latest not-yet-undone deploy in one step: it restores the
``agents`` entry and ``role_agents`` value that deploy replaced (recorded in its row), not the
backup file, so unrelated edits made since survive. Repeated rollbacks walk further back.

Usage::

    from node0_ops.registry.deploy import deploy, rollback
    deploy(db, "polecat-v3", town_root=town, rig="gastown", role="polecat")
    rollback(db, "polecat", town_root=town, rig="gastown")
"""

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from node0_ops.lineage.db import LineageDB, upsert
from node0_ops.registry.rollout import RolloutConfig, load_rollout
from node0_ops.registry.settings import DELETE, edit_settings
from node0_ops.registry.store import (TOWN_SCOPE, RegistryError, get_model, list_models, model_ref, now_utc,
                                      parse_ref, report_overall_rate)

TOWN_ROLES = ("mayor", "deacon", "boot", "dog")
RIG_ROLES = ("witness", "refinery", "polecat", "crew")
INFERENCE_COMMAND = "node0-inference"
PROVIDER = "node0"
PRIME = "compact"   # node0-inference --prime: the compact prime (node0-inference prime --role ROLE), not gt prime


class DeployRefused(RegistryError):
    """A deploy the gates refused; ``reasons`` lists every failed gate."""

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(message + ("\n  - " + "\n  - ".join(reasons) if reasons else ""))
        self.reasons = reasons


@dataclass
class DeployResult:
    """One recorded deploy or rollback (a ``deployments`` row plus warnings)."""

    deploy_id: str
    action: str
    role: str
    scope: str
    rig: str | None
    model: str | None
    previous_model: str | None
    settings_path: str
    backup_path: str | None
    agent_name: str
    entry: dict | None
    forced: bool = False
    rollout_override: bool = False
    reason: str | None = None
    gate_reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def agent_name(role: str) -> str:
    """Agent key written into ``agents``: ``node0-<role>``."""
    return f"{PROVIDER}-{role}"


def settings_path(town_root: str | Path, rig: str | None = None) -> Path:
    """``<town>/settings/config.json`` or ``<town>/<rig>/settings/config.json``.

    Raises:
        RegistryError: a rig that is not a folder of the town (lists the rigs found).
    """
    town = Path(town_root)
    if rig is None:
        return town / "settings" / "config.json"
    if "/" in rig or rig in ("", ".", "..", "settings", "mayor", ".beads"):
        raise RegistryError(f"rig {rig!r} is not a rig name")
    if not (town / rig).is_dir():
        rigs = sorted(p.parent.name for p in town.glob("*/config.json") if p.parent.name != "mayor")
        raise RegistryError(f"rig {rig!r} not found under {town} (rigs: {', '.join(rigs) or 'none'})")
    return town / rig / "settings" / "config.json"


def model_from_entry(entry: Any) -> str | None:
    """The ``--model`` value of a node0 RuntimeConfig entry, else None."""
    if not isinstance(entry, dict) or entry.get("provider") != PROVIDER:
        return None
    args = entry.get("args") or []
    return args[args.index("--model") + 1] if "--model" in args[:-1] else None


def runtime_entry(ref: str, role: str, adapters: list[str], state: str | Path | None) -> dict:
    """RuntimeConfig for ``agents["node0-<role>"]`` (``gastown-formats.md`` §3.3 RuntimeConfig)."""
    args = ["--model", ref]
    if adapters:
        args += ["--adapters", ",".join(adapters)]
    args += ["--role", role, "--prime", PRIME, "--intake"]  # --intake: its sessions become corpus at exit
    entry: dict[str, Any] = {"command": INFERENCE_COMMAND, "args": args, "provider": PROVIDER,
                             # how Gas Town sees the agent is ready in its tmux pane (§3.3 RuntimeConfig.tmux)
                             "tmux": {"ready_prompt_prefix": "node0> ", "process_names": ["node0-inference", "python"]}}
    if state:
        entry["env"] = {"GASTOWN_FT_HOME": str(state)}
    return entry


def _default_adapters(db: LineageDB, model: dict) -> list[str]:
    """Task adapters of the model (role/DPO adapters are merged into its weights)."""
    if not model["adapters"]:
        return []
    kinds = {f"{r['name']}@{r['version']}": r["kind"] for r in db.query(
        "select name, version, kind from adapters where list_contains(?, name || '@' || version)", [model["adapters"]])}
    return [ref.partition("@")[0] for ref in model["adapters"] if kinds.get(ref) == "task"]


def gate(model: dict, role: str, thresholds: Any = None, base_report: dict | None = None) -> tuple[bool, list[str]]:
    """Check a model's registered eval report against deployment thresholds.

    Args:
        thresholds: None (eval suite default ``thresholds.yaml``), a YAML path, a dict for
            ``EvalThresholds.from_dict``, an object with ``passes(report, role, base=...)``,
            or a float (minimum overall pass rate).
        base_report: the currently active model's report, for ``max_regression``.

    Returns:
        ``(ok, reasons)``; a model without an eval report does not pass.
    """
    report = model.get("eval_report")
    if not report:
        return False, [f"{model['ref']} has no eval report; run `node0-eval run` and register the model with it"]
    overall = report_overall_rate(report)
    if isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool):
        ok = overall is not None and overall >= float(thresholds)
        return ok, [f"overall: pass rate {overall} {'>=' if ok else 'below'} {float(thresholds):.2f}"]
    try:
        from node0_ops.evals.eval_config import EvalThresholds
        from node0_ops.evals.report import EvalReport
    except ImportError as exc:  # eval suite unavailable: gate the overall rate only (0.5, its default)
        need = float(getattr(thresholds, "overall", 0.5) if not isinstance(thresholds, dict) else thresholds.get("overall", 0.5))
        ok = overall is not None and overall >= need
        return ok, [f"overall: pass rate {overall} {'>=' if ok else 'below'} {need:.2f} (eval suite not importable: {exc})"]

    if thresholds is None:
        th = EvalThresholds.from_yaml()
    elif isinstance(thresholds, (str, os.PathLike)):
        th = EvalThresholds.from_yaml(thresholds)
    elif isinstance(thresholds, dict):
        th = EvalThresholds.from_dict(thresholds)
    else:
        th = thresholds
    if not report.get("cases"):  # summary-only report: only the overall rate can be gated
        need = float(getattr(th, "overall", 0.5))
        ok = overall is not None and overall >= need
        return ok, [f"overall: pass rate {overall} {'>=' if ok else 'below'} {need:.2f} (report has no per-case results)"]
    rep = EvalReport.from_dict(report)
    base = EvalReport.from_dict(base_report) if base_report and base_report.get("cases") else None
    try:
        return th.passes(rep, role, base=base)
    except TypeError:
        return th.passes(rep, role)


def _rig_overrides(town_root: Path, role: str) -> list[str]:
    out = []
    for p in sorted(town_root.glob("*/settings/config.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("role_agents"), dict) and role in doc["role_agents"]:
            if doc["role_agents"][role] != agent_name(role):
                out.append(p.parent.parent.name)
    return out


def _move_scope(con, role: str, scope: str, to_model: str | None) -> None:
    """Remove ``scope`` from every ``role`` model's deployed_rigs; add it to ``to_model``."""
    for name, rigs in con.execute("select name, deployed_rigs from models where role = ?", [role]).fetchall():
        rigs = [r for r in (rigs or []) if r != scope]
        if name == to_model:
            rigs.append(scope)
        con.execute("update models set deployed_rigs = ? where name = ?", [rigs, name])


def _record(con, result: DeployResult, undoes: str | None, previous_agent: Any, previous_entry: Any) -> None:
    upsert(con, "deployments", [{
        "deploy_id": result.deploy_id, "ts": now_utc(), "action": result.action, "role": result.role,
        "scope": result.scope, "rig": result.rig, "model": result.model, "previous_model": result.previous_model,
        "forced": result.forced, "rollout_override": result.rollout_override, "reason": result.reason,
        "gate_reasons": json.dumps(result.gate_reasons), "settings_path": result.settings_path,
        "backup_path": result.backup_path, "agent_name": result.agent_name,
        "entry": json.dumps(result.entry) if result.entry is not None else None,
        "previous_agent": json.dumps(previous_agent) if previous_agent is not None else None,
        "previous_entry": json.dumps(previous_entry) if previous_entry is not None else None, "undoes": undoes}])


def _scope(rig: str | None, town: bool) -> str:
    if bool(rig) == bool(town):
        raise RegistryError("choose exactly one target: a rig (--rig NAME) or the town (--town)")
    return "rig" if rig else "town"


def deploy(db: LineageDB, name: str, *, town_root: str | Path, rig: str | None = None, town: bool = False,
           role: str | None = None, force: bool = False, reason: str | None = None, thresholds: Any = None,
           rollout: RolloutConfig | str | Path | None = None, override_rollout: bool = False,
           adapters: list[str] | None = None, state: str | Path | None = None) -> DeployResult:
    """Point ``role`` at model ``name`` in the town or one rig's settings.

    Args:
        name: model reference (``polecat-v3``, ``polecat@3``, ``polecat``).
        role: Gas Town role; defaults to the model's role and must match it.
        force / reason: deploy despite failed eval gates (``reason`` required, recorded).
        thresholds: see :func:`gate`.  rollout: config, its file, or None (town/state lookup).
        override_rollout: deploy a role the rollout keeps closed (``reason`` required, recorded).
        adapters: adapter names for ``--adapters`` (default: the model's task adapters).
        state: state dir written into the entry's env (default: the DB's folder).

    Returns:
        the recorded :class:`DeployResult` (``warnings``: rigs whose own settings still
        override a town deploy).

    Raises:
        DeployRefused: a gate failed without its override.
        RegistryError: unknown model/rig, role mismatch, town-only role on a rig, override without reason,
            model with no weights on disk.
        node0_ops.registry.settings.SettingsError: the settings file is not a JSON object.
    """
    scope = _scope(rig, town)
    model = get_model(db, name)
    role = role or model["role"]
    if role != model["role"]:
        raise RegistryError(f"{model['ref']} is trained for role {model['role']}, not {role}")
    if scope == "rig" and role in TOWN_ROLES:
        raise RegistryError(f"{role} is a town-level role; deploy it with --town (rig settings are not read for it)")
    if (force or override_rollout) and not (reason or "").strip():
        raise RegistryError("--force / --override-rollout need --reason \"...\" (it is recorded in deployments)")
    weights = [a for k, a in model["artifacts"].items()
               if (k.startswith("gguf_") or k == "hf") and not a.get("pruned_at") and Path(a["path"]).exists()]
    if not weights:
        raise RegistryError(f"{model['ref']} has no GGUF or merged weights on disk (pruned or never exported)")
    town_root = Path(town_root)
    path = settings_path(town_root, rig)
    state = state or db.path.parent
    if thresholds is None:  # the state's resources.yaml (evaluator.thresholds_yaml), else the suite default
        from node0_ops.paths import state_thresholds

        thresholds = state_thresholds(state)

    active = [m for m in list_models(db, role=role, status="active") if m["name"] != model["name"]]
    ok, gate_reasons = gate(model, role, thresholds, active[0]["eval_report"] if active else None)
    refusals = [] if ok else [f"eval gate: {r}" for r in gate_reasons if "not gated" not in r]
    if not ok and not refusals:
        refusals = [f"eval gate: {r}" for r in gate_reasons]
    plan = rollout if isinstance(rollout, RolloutConfig) else load_rollout(rollout, town_root=town_root, state=state)
    open_, why = plan.allows(role)
    blocked = []
    if not ok and not force:
        blocked += refusals + ["override with --force --reason \"...\""]
    if not open_ and not override_rollout:
        blocked += [f"rollout: {why}", "override with --override-rollout --reason \"...\""]
    if blocked:
        raise DeployRefused(f"deploy of {model['ref']} for {role} refused", blocked)

    adapter_names = list(adapters) if adapters is not None else _default_adapters(db, model)
    ref = model_ref(model)
    entry = runtime_entry(ref, role, adapter_names, state)
    key = agent_name(role)
    res = edit_settings(path, {("agents", key): entry, ("role_agents", role): key},
                        default_type="rig-settings" if rig else "town-settings")
    prev_entry = (res.before.get("agents") or {}).get(key) if isinstance(res.before.get("agents"), dict) else None
    prev_agent = (res.before.get("role_agents") or {}).get(role) if isinstance(res.before.get("role_agents"), dict) else None
    previous_model = model_from_entry(prev_entry) if prev_agent == key else None
    warnings = []
    if scope == "town" and role in RIG_ROLES:
        over = _rig_overrides(town_root, role)
        if over:
            warnings.append(f"rigs {', '.join(over)} set role_agents.{role} themselves and keep it; "
                            f"deploy there with --rig to reach them")
    result = DeployResult(
        deploy_id=f"dep-{uuid.uuid4().hex[:12]}", action="deploy", role=role, scope=scope, rig=rig, model=ref,
        previous_model=previous_model or (prev_agent if prev_agent != key else None), settings_path=str(path),
        backup_path=str(res.backup_path) if res.backup_path else None, agent_name=key, entry=entry,
        forced=bool(force and not ok), rollout_override=bool(override_rollout and not open_),
        reason=reason, gate_reasons=gate_reasons + ([why] if open_ else [f"rollout overridden: {why}"]),
        warnings=warnings)
    label = rig or TOWN_SCOPE
    if not res.changed:  # already deployed exactly so: nothing to record or to roll back later
        result.warnings.append(f"{path} already points {role} at {ref}; settings unchanged")
    try:
        with db.write() as con:
            if res.changed:
                _record(con, result, None, prev_agent, prev_entry)
            con.execute("update models set status = 'archived' where role = ? and status = 'active' and name <> ?",
                        [role, model["name"]])
            con.execute("update models set status = 'active' where name = ?", [model["name"]])
            _move_scope(con, role, label, model["name"])
    except BaseException:
        if res.changed:  # keep settings and registry in step: undo the settings edit
            edit_settings(path, _restore_edits(key, role, prev_entry, prev_agent, []))
        raise
    return result


def _restore_edits(key: str, role: str, prev_entry: Any, prev_agent: Any, warnings: list[str],
                   expect_model: str | None = None, path: Path | None = None):
    """Edits (as a function of the current document) that put back ``agents[key]`` and
    ``role_agents[role]`` as they were; objects left empty by that are removed."""

    def edits(doc: dict) -> dict:
        out: dict = {}
        agents = doc.get("agents") if isinstance(doc.get("agents"), dict) else {}
        roles = doc.get("role_agents") if isinstance(doc.get("role_agents"), dict) else {}
        if expect_model is not None:
            current = model_from_entry(agents.get(key))
            if current != expect_model or roles.get(role) != key:
                warnings.append(f"{path} no longer pointed {role} at {expect_model} (found {roles.get(role)!r}, "
                                f"model {current!r}); restored the pre-deploy values anyway")
        if prev_entry is None and set(agents) <= {key}:
            out[("agents",)] = DELETE
        else:
            out[("agents", key)] = prev_entry if prev_entry is not None else DELETE
        if prev_agent is None and set(roles) <= {role}:
            out[("role_agents",)] = DELETE
        else:
            out[("role_agents", role)] = prev_agent if prev_agent is not None else DELETE
        return out

    return edits


def deployment_history(db: LineageDB, role: str | None = None) -> list[dict]:
    """Deployments rows (oldest first), JSON columns decoded."""
    sql, params = "select * from deployments", []
    if role:
        sql, params = sql + " where role = ?", [role]
    rows = db.query(sql + " order by ts, deploy_id", params)
    for r in rows:
        for k in ("entry", "previous_entry", "previous_agent", "gate_reasons"):
            r[k] = json.loads(r[k]) if r.get(k) else None
    return rows


def _undo_stack(db: LineageDB, role: str, scope: str, rig: str | None) -> list[dict]:
    stack: list[dict] = []
    for row in deployment_history(db, role):
        if row["scope"] != scope or (row["rig"] or None) != (rig or None):
            continue
        if row["action"] == "deploy":
            stack.append(row)
        elif row["action"] == "rollback" and stack and stack[-1]["deploy_id"] == row["undoes"]:
            stack.pop()
    return stack


def rollback(db: LineageDB, role: str, *, town_root: str | Path, rig: str | None = None,
             reason: str | None = None) -> DeployResult:
    """Undo the latest deploy of ``role`` in one rig (or the town when ``rig`` is None).

    Restores exactly the ``agents["node0-<role>"]`` entry and ``role_agents[role]`` value that
    deploy replaced (removing them when they did not exist; an ``agents``/``role_agents``
    object left empty by that is removed too). Other settings keys, including ones edited
    since the deploy, are kept. The restored node0 model (if any) becomes active and the
    rolled-back one is archived when no other scope still runs it.

    Raises:
        RegistryError: nothing to roll back in that scope.
    """
    scope = "rig" if rig else "town"
    parse_ref(role)
    town_root = Path(town_root)
    path = settings_path(town_root, rig)
    stack = _undo_stack(db, role, scope, rig)
    if not stack:
        raise RegistryError(f"no deploy of {role} to {'rig ' + rig if rig else 'the town'} to roll back")
    top = stack[-1]
    key = top["agent_name"]
    prev_entry, prev_agent = top["previous_entry"], top["previous_agent"]
    warnings: list[str] = []
    edits = _restore_edits(key, role, prev_entry, prev_agent, warnings, expect_model=top["model"], path=path)

    res = edit_settings(path, edits, default_type="rig-settings" if rig else "town-settings")
    restored = model_from_entry(prev_entry) if prev_agent == key else None
    result = DeployResult(
        deploy_id=f"dep-{uuid.uuid4().hex[:12]}", action="rollback", role=role, scope=scope, rig=rig,
        model=restored or prev_agent, previous_model=top["model"], settings_path=str(path),
        backup_path=str(res.backup_path) if res.backup_path else None, agent_name=key,
        entry=prev_entry, reason=reason, warnings=warnings)
    label = rig or TOWN_SCOPE
    rolled_name = parse_ref(top["model"])
    try:
        _rollback_rows(db, result, top, restored, role, label, rolled_name)
    except BaseException:
        if res.changed:  # keep settings and registry in step: put the deploy back
            edit_settings(path, {("agents", key): top["entry"], ("role_agents", role): key})
        raise
    return result


def _rollback_rows(db: LineageDB, result: DeployResult, top: dict, restored: str | None, role: str, label: str,
                   rolled_name: tuple[str, int | None]) -> None:
    with db.write() as con:
        _record(con, result, top["deploy_id"], None, None)
        restored_name = None
        if restored:
            r_role, r_ver = parse_ref(restored)
            rows = con.execute("select name from models where role = ? and version = ?", [r_role, r_ver]).fetchall()
            restored_name = rows[0][0] if rows else None
        _move_scope(con, role, label, restored_name)
        if restored_name:
            con.execute("update models set status = 'archived' where role = ? and status = 'active' and name <> ?",
                        [role, restored_name])
            con.execute("update models set status = 'active' where name = ?", [restored_name])
        con.execute("update models set status = 'archived' where role = ? and version = ? and len(coalesce(deployed_rigs, [])) = 0",
                    [rolled_name[0], rolled_name[1]])
