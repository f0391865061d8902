"""``gt-model``: the node0 model registry, deploys and rollbacks from the shell.

    gt-model [--state-dir S] [--town T] [--json] COMMAND ...

    list [--role R] [--status S]             registered models (● active ○ candidate ◌ archived)
    show NAME                                one model with lineage, corpus contributors, eval scores, artifacts, deployments
    adapters [--task T] [--model M] [--for BEAD]          registered LoRA adapters
    register ROLE --artifact KIND=PATH ...   register a new candidate version
    deploy NAME (--rig RIG | --town) --role ROLE [--force --reason R] [--override-rollout --reason R]
    rollback ROLE [--rig RIG]                undo the latest deploy of ROLE there, in one step
    history [ROLE]                           deployments and rollbacks
    set-status NAME STATUS                   active | candidate | archived
    prune NAME --keep N [--dry-run]          delete artifacts of old inactive versions
    diff A [B]                               hyperparameters, corpus, eval per category, artifacts
    rollout [status]                         each stage, its roles' active models, eval scores, gate, days active
    rollout advance [--force --reason R]     open the next stage when every role of the current one passes
    serve-api [--host 127.0.0.1 --port N]    read-only JSON API (GET /models, /models/NAME, /adapters)
    formulas install [--town T] [--force] | formulas list | formulas validate [PATH ...]
    formulas run NAME --var role=polecat [--dry-run]   (step commands against this town/state)
    jobs [--pending] [--replay]              job beads (corpus, role/task/DPO training): commands, replay
    hooks install|uninstall|status [--settings FILE ...] [--collect]
                                             node0-intake as the town's Claude Code SessionEnd hook

``--json`` works on every command (before or after it). Exit status: 0 ok, 1 refused or
failed (message on stderr), 2 usage error. State dir and town: ``node0_ops.paths``; ``--state-dir`` and
``--town`` work before or after the command (``deploy --town`` is its scope switch: give the town root first).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from node0_ops.cli_flags import share_flags
from node0_ops.paths import state_dir, town_root
from node0_ops.registry import table as T
from node0_ops.registry.schema import MODEL_STATUSES, registry_db
from node0_ops.registry.settings import SettingsError
from node0_ops.registry.store import RegistryError


def _emit(args, payload, text: str) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False, default=str) if args.json else text)


def _report(args, action: str, payload: dict) -> None:
    """Hand a done registry action to the ``on_action`` hook of :func:`main` (the Dagster entry point
    reports it to the UI); a failing hook only warns: the action itself stands."""
    hook = getattr(args, "on_action", None)
    if hook is None:
        return
    try:
        hook(action, payload, args.state)
    except Exception as exc:  # noqa: BLE001 - reporting never undoes a deploy
        print(f"gt-model: warning: {action} done, but not reported to the Dagster UI: {type(exc).__name__}: {exc}",
              file=sys.stderr)


def _db(args):
    return registry_db(args.state)


def _town(args) -> Path:
    return town_root(args.town, args.state)


# ----------------------------------------------------------------------------- commands


def cmd_list(args) -> int:
    from node0_ops.registry.store import list_models

    models = list_models(_db(args), role=args.role, status=args.status)
    rows = [[f"{T.marker(m['status'])} {m['name']}", m["role"], f"v{m['version']}", m["status"], T.rate(m["eval_score"]),
             m["lora_rank"] or "-", (m["corpus_version"] or "-")[:14], ",".join(m["deployed_rigs"]) or "-",
             (m["created_at"] or "")[:10]] for m in models]
    counts = {s: sum(m["status"] == s for m in models) for s in MODEL_STATUSES}
    footer = (f"{len(models)} model{'s' * (len(models) != 1)}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
              + "\nUse 'gt-model show <name>' for details.") if models else "No models registered. Register one with 'gt-model register'."
    text = T.table(["NAME", "ROLE", "VER", "STATUS", "EVAL", "RANK", "CORPUS", "DEPLOYED", "CREATED"], rows,
                   title="Models", footer=footer) if models else footer
    slim = [{k: v for k, v in m.items() if k != "eval_report"} for m in models]
    _emit(args, {"models": slim}, text)
    return 0


def cmd_show(args) -> int:
    from node0_ops.registry.store import lineage, resolve_model

    db = _db(args)
    model = resolve_model(db, args.name)
    lin = lineage(db, args.name)
    run = lin["run"] or {}
    corpus = f"{model['corpus_version'] or '-'}"
    if model.get("corpus_examples") is not None or model.get("dpo_pairs") is not None:
        corpus += f" ({model.get('corpus_examples') or 0} examples, {model.get('dpo_pairs') or 0} DPO pairs)"
    pairs = [("Role", model["role"]), ("Status", f"{T.marker(model['status'])} {model['status']}"),
             ("Base", model["base"]), ("LoRA rank", model["lora_rank"] or "-"), ("Corpus", corpus),
             ("Run", (model["run_id"] or "-") + (f" ({run.get('status')})" if run.get("status") else "")),
             ("Trained", model["trained_at"] or "-"), ("Created", model["created_at"]),
             ("Eval", T.rate(model["eval_score"]) + " overall pass rate"),
             ("Deployed", ", ".join(model["deployed_rigs"]) or "-"), ("GGUF", model["gguf_path"] or "-"),
             ("HF weights", model["hf_path"] or "-"), ("Notes", model["notes"] or "-")]
    out = [f"{T.marker(model['status'])} {model['ref']}", "", T.fields(pairs)]
    report = model.get("eval_report") or {}
    scores = [["category", k, T.rate(v.get("rate")), f"{v.get('passed')}/{v.get('n')}"]
              for k, v in (report.get("by_category") or {}).items()]
    scores += [["role", k, T.rate(v.get("rate")), f"{v.get('passed')}/{v.get('n')}"] for k, v in (report.get("by_role") or {}).items()]
    if scores:
        out += ["", "  Eval scores:", T.table(["GROUP", "NAME", "RATE", "PASSED"], scores, indent=4)]
    if model["adapters"]:
        out += ["", "  Adapters:", T.table(["NAME", "VER", "KIND", "GGUF", "PEFT"], [
            [n, a["version"], a["kind"] or "-", a["gguf"] or "-", a["peft"] or "-"] for n, a in model["adapters"].items()], indent=4)]
    if model["artifacts"]:
        out += ["", "  Artifacts:", T.table(["KIND", "SIZE", "SHA256", "PATH"], [
            [k, T.human_bytes(a.get("bytes")), (a.get("sha256") or "")[:12], a["path"] + (" (pruned)" if a.get("pruned_at") else "")]
            for k, a in sorted(model["artifacts"].items())], indent=4)]
    if lin["contributors"]:
        out += ["", "  Corpus contributors:", T.table(["CONTRIBUTOR", "EXAMPLES", "PAIRS", "BUNDLE", "IMPORTED"], [
            [c["contributor_fingerprint"], c["n_examples"], c["n_pairs"], c["bundle_id"][:16], c["imported_at"] or "-"]
            for c in lin["contributors"]], indent=4)]
    if lin["deployments"]:
        out += ["", "  Deployments:", T.table(["WHEN", "ACTION", "WHERE", "MODEL", "PREVIOUS", "FORCED"], [
            [d["ts"], d["action"], d["rig"] or "(town)", d["model"] or "-", d["previous_model"] or "-",
             f"yes: {d['reason']}" if d["forced"] else "-"] for d in lin["deployments"]], indent=4)]
    _emit(args, {**model, "lineage": {k: v for k, v in lin.items() if k != "model"}}, "\n".join(out))
    return 0


def _adapter_eval(a: dict) -> str:
    """``0.62 (+0.10)``: the stacked model's pass rate on the adapter's cases and its gain over the role model alone."""
    if not isinstance(a.get("eval_score"), (int, float)):
        return "-"
    base = a.get("baseline_score")
    return f"{a['eval_score']:.2f}" + (f" ({a['eval_score'] - base:+.2f})" if isinstance(base, (int, float)) else "")


def cmd_adapters(args) -> int:
    from node0_ops.registry.store import list_adapters

    rows = list_adapters(_db(args), task=args.task, model=args.model)
    if args.for_bead:
        from node0_ops.registry.adapter_select import load_map, read_bead, select_adapters

        bead = read_bead(args.for_bead, town_root=_town(args))
        if bead is None:
            print(f"bead {args.for_bead} not found (bd show, or the town's .beads/*.jsonl)", file=sys.stderr)
            return 1
        available = {a["name"]: a["task"] for a in rows if a.get("task")}
        pick = select_adapters(bead, load_map(town_root=_town(args), state=args.state), available)
        _emit(args, pick.to_dict(), f"Adapters for {args.for_bead}: {', '.join(pick.adapters) or '(none)'}\n  {pick.why}")
        return 0
    text = T.table(["NAME", "VER", "KIND", "TASK/ROLE", "EVAL (vs ROLE)", "SHA256", "MODELS", "PATH"], [
        [a["name"], f"v{a['version']}", a["kind"] or "-", a["task"] or a["role"] or "-", _adapter_eval(a),
         (a["sha256"] or "")[:12], ",".join(a["compatible_models"]) or "-", a["path"]] for a in rows],
        title="Adapters", footer=f"{len(rows)} adapter version{'s' * (len(rows) != 1)}") if rows else "No adapters registered."
    _emit(args, {"adapters": rows}, text)
    return 0


def _kv(items: list[str], what: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise RegistryError(f"{what} {item!r}: use KIND=PATH (e.g. gguf_q4_k_m=out/model-q4_k_m.gguf)")
        out[key] = value
    return out


def cmd_register(args) -> int:
    from node0_ops.registry.artifacts import artifacts_from_export
    from node0_ops.registry.store import register_model

    artifacts = _kv(args.artifact, "--artifact")
    if args.export_json:
        artifacts = {**artifacts_from_export(json.loads(Path(args.export_json).read_text())), **artifacts}
    report = json.loads(Path(args.eval_report).read_text()) if args.eval_report else None
    ref = register_model(_db(args), args.role, args.base, args.adapter, artifacts, args.corpus_version,
                         eval_report=report, run_id=args.run_id, lora_rank=args.lora_rank, notes=args.notes)
    _emit(args, {"registered": ref, "status": "candidate"}, f"{T.paint('✓', 'ok')} Registered {ref} (candidate)")
    return 0


def _deploy_text(r) -> str:
    where = f"rig {r.rig}" if r.rig else "the town"
    verb = "Deployed" if r.action == "deploy" else "Rolled back"
    head = (f"{T.paint('✓', 'ok')} {verb} {r.role} in {where}: "
            + (f"{r.previous_model or '-'} → {r.model or '(unset)'}"))
    pairs = [("Agent", f"{r.agent_name} ({' '.join(r.entry['args']) if r.entry else 'removed'})"),
             ("Settings", r.settings_path), ("Backup", r.backup_path or "-")]
    if r.forced:
        pairs.append(("Forced", f"below eval thresholds; reason: {r.reason}"))
    if r.rollout_override:
        pairs.append(("Rollout", f"overridden; reason: {r.reason}"))
    lines = [head, "", T.fields(pairs)]
    if r.gate_reasons:
        lines += ["", "  Gates:"] + [f"    - {g}" for g in r.gate_reasons]
    lines += [f"  {T.paint('⚠', 'warn')} {w}" for w in r.warnings]
    return "\n".join(lines)


def cmd_deploy(args) -> int:
    from node0_ops.registry.deploy import deploy

    adapters = [a for a in args.adapters.split(",") if a] if args.adapters is not None else None
    r = deploy(_db(args), args.name, town_root=_town(args), rig=args.rig, town=args.town_scope, role=args.role,
               force=args.force, reason=args.reason, thresholds=args.thresholds, rollout=args.rollout,
               override_rollout=args.override_rollout, adapters=adapters, state=args.state)
    _emit(args, r.to_dict(), _deploy_text(r))
    _report(args, "deploy", r.to_dict())
    return 0


def cmd_rollback(args) -> int:
    from node0_ops.registry.deploy import rollback

    r = rollback(_db(args), args.role, town_root=_town(args), rig=args.rig, reason=args.reason)
    _emit(args, r.to_dict(), _deploy_text(r))
    _report(args, "rollback", r.to_dict())
    return 0


def cmd_history(args) -> int:
    from node0_ops.registry.deploy import deployment_history

    rows = deployment_history(_db(args), args.role)
    text = T.table(["WHEN", "ACTION", "ROLE", "WHERE", "MODEL", "PREVIOUS", "OVERRIDES", "REASON"], [
        [str(d["ts"])[:19], d["action"], d["role"], d["rig"] or "(town)", d["model"] or "-", d["previous_model"] or "-",
         ",".join(x for x, on in (("force", d["forced"]), ("rollout", d["rollout_override"])) if on) or "-",
         d["reason"] or "-"] for d in rows], title="Deployments") if rows else "No deployments yet."
    _emit(args, {"deployments": rows}, text)
    return 0


def cmd_set_status(args) -> int:
    from node0_ops.registry.store import set_status

    m = set_status(_db(args), args.name, args.status, note=args.note)
    _emit(args, {k: v for k, v in m.items() if k != "eval_report"}, f"{T.marker(m['status'])} {m['ref']} is now {m['status']}")
    return 0


def cmd_prune(args) -> int:
    from node0_ops.registry.store import prune

    rep = prune(_db(args), args.name, args.keep, dry_run=args.dry_run, state=args.state,
                allow_outside_state=args.allow_outside_state)
    verb = "Would free" if args.dry_run else "Freed"
    rows = [[p["ref"], T.human_bytes(p["bytes"]), len(p["paths"])] for p in rep["pruned"]]
    lines = [f"Prune {rep['role']} (keep {rep['keep']}){' — dry run' if args.dry_run else ''}", ""]
    lines.append(T.table(["MODEL", "BYTES", "PATHS"], rows) if rows else "  nothing to prune")
    lines += ["", f"  Kept: {', '.join(rep['kept']) or '-'}"]
    lines += [f"  {T.paint('⚠', 'warn')} skipped {s['path']}: {s['why']}" for s in rep["skipped"]]
    lines += ["", f"{verb} {T.human_bytes(rep['freed_bytes'])} ({rep['freed_bytes']} bytes)"]
    _emit(args, rep, "\n".join(lines))
    _report(args, "prune", rep)
    return 0


def cmd_diff(args) -> int:
    from node0_ops.registry.store import diff, list_models, parse_ref

    db = _db(args)
    b = args.b
    if not b:
        role, _ = parse_ref(args.a)
        models = list_models(db, role=role)
        if not models:
            raise RegistryError(f"no {role} models registered")
        b = models[0]["ref"]
    d = diff(db, args.a, b)
    out = [f"Diff {d['a']} → {d['b']}", ""]
    rows = [[k, v["a"], v["b"]] for k, v in d["fields"].items()]
    rows += [[f"hyper.{k}", v["a"], v["b"]] for k, v in d["hyperparameters"].items()]
    out.append(T.table(["FIELD", "A", "B"], rows) if rows else "  no field or hyperparameter changes")
    if d["eval"]:
        out += ["", T.table(["EVAL", "A", "B", "DELTA"], [
            [k, T.rate(v["a"]), T.rate(v["b"]), "-" if v["delta"] is None else f"{v['delta']:+.2f}"]
            for k, v in d["eval"].items()])]
    if d["artifacts"]:
        out += ["", T.table(["ARTIFACT", "A SHA256", "B SHA256", "A SIZE", "B SIZE"], [
            [k, (v["a"] or "-")[:12], (v["b"] or "-")[:12], T.human_bytes(v["bytes_a"]), T.human_bytes(v["bytes_b"])]
            for k, v in d["artifacts"].items()])]
    if d["adapters"]["added"] or d["adapters"]["removed"]:
        out += ["", f"  Adapters: +{', +'.join(d['adapters']['added']) or ' none'}  -{', -'.join(d['adapters']['removed']) or ' none'}"]
    _emit(args, d, "\n".join(out))
    return 0


def cmd_rollout(args) -> int:
    from node0_ops.registry.rollout import load_rollout
    from node0_ops.registry.rollout_advance import RolloutRefused, advance, rollout_status

    plan = load_rollout(args.rollout, town_root=_town(args), state=args.state)
    db = _db(args)
    if args.action == "advance":
        try:
            ev = advance(db, plan, state=state_dir(args.state), thresholds=args.thresholds, force=args.force,
                         reason=args.reason)
        except RolloutRefused as exc:
            print(str(exc), file=sys.stderr)
            return 1
        forced = f" (FORCED over {len(ev['blockers'])} blocker(s): {ev['reason']})" if ev["forced"] else ""
        _emit(args, ev, f"{T.paint('✓', 'ok')} Rollout advanced: stage {ev['from_stage']} -> {ev['to_stage']}{forced}"
                        f"\n  written to {ev['rollout_file']}")
        return 0
    rows = rollout_status(db, plan, thresholds=args.thresholds)
    table = []
    for r in rows:
        mark = T.paint("●", "ok") if r["state"] == "open" else "○"
        score = f"{r['eval_score']:.2f}" if isinstance(r["eval_score"], (int, float)) else "-"
        days = "-" if r["days_active"] is None else f"{r['days_active']:.1f}"
        gate_txt = "pass" if r["passes"] else (r["reasons"][0][:60] if r["reasons"] else "fail")
        table.append([f"{mark} {r['role']}", r["stage"], r["state"], r["model"] or "-", score, days, gate_txt])
    listed = {r for g in plan.stages for r in g}
    from node0_ops.corpus.schema import ROLES

    table += [[f"○ {r}", "-", "blocked" if r in plan.blocked else "not staged", "-", "-", "-", "-"]
              for r in ROLES if r not in listed]
    text = T.table(["ROLE", "STAGE", "STATE", "ACTIVE MODEL", "EVAL", "DAYS", "GATE"], table,
                   title=f"Rollout: stage {plan.stage} of {len(plan.stages)} ({plan.source})")
    _emit(args, {**plan.to_dict(), "roles": rows}, text)
    return 0


def cmd_serve(args) -> int:
    from node0_ops.registry.api import start_server

    srv = start_server(_db(args), args.host, args.port, backend=args.backend)
    print(f"gt-model API on {srv.url} ({srv.backend}): GET /models, /models/<name>, /adapters", flush=True)
    srv.wait()
    return 0


def cmd_formulas(args) -> int:
    from node0_ops.registry.formulas import install_formulas, packaged_formulas, validate_formula

    if args.action == "install":
        rep = install_formulas(_town(args), force=args.force)
        icon = {"new": "✓", "updated": "✓", "overwritten": "⚠", "unchanged": "·", "modified": "✗", "untracked": "✗"}
        rows = [[f"{icon[a]} {f}", a] for f, a in rep["files"].items()]
        text = T.table(["FORMULA", "ACTION"], rows, title=f"Formulas → {rep['dir']}")
        if rep["kept"]:
            text += "\n\n  Locally modified files were kept; rerun with --force to overwrite them."
        _emit(args, rep, text)
        return 0
    if args.action == "run":
        return _run_formula(args)
    paths = [Path(p) for p in args.paths] if args.action == "validate" and args.paths else packaged_formulas()
    results = {str(p): validate_formula(p) for p in paths}
    rows = [[f"{T.paint('✓', 'ok') if not e else T.paint('✗', 'fail')} {Path(p).name}", "ok" if not e else "; ".join(e)]
            for p, e in results.items()]
    _emit(args, {"formulas": results}, T.table(["FORMULA", "VALIDATION"], rows, title="Formulas"))
    return 1 if args.action == "validate" and any(results.values()) else 0


def _formula_path(town: Path, name: str) -> Path:
    from node0_ops.registry.formulas import packaged_formulas

    if Path(name).is_file():
        return Path(name)
    file = name if name.endswith(".formula.toml") else f"{name}.formula.toml"
    installed = town / ".beads" / "formulas" / file
    if installed.is_file():
        return installed
    for p in packaged_formulas():
        if p.name == file:
            return p
    raise RegistryError(f"no formula {name!r} in {installed.parent} or ours ({', '.join(p.name for p in packaged_formulas())})")


def _run_formula(args) -> int:
    """``formulas run NAME --var k=v``: the step commands against this town and state (bd lines printed)."""
    import os
    import sys

    from node0_ops.paths import dagster_home, state_dir
    from node0_ops.registry.formula_run import formula_commands, run_formula

    if len(args.paths) != 1:
        raise RegistryError("formulas run takes one formula name, e.g. gt-model formulas run train-role-model --var role=polecat")
    town = _town(args)
    path = _formula_path(town, args.paths[0])
    given = {}
    for kv in args.var:
        if "=" not in kv:
            raise RegistryError(f"--var {kv!r}: expected NAME=VALUE")
        k, v = kv.split("=", 1)
        given[k] = v
    try:
        if args.dry_run:
            cmds = formula_commands(path, given)
            _emit(args, {"formula": str(path), "commands": [c.__dict__ for c in cmds]},
                  "\n".join(f"[{c.step}] {'$' if c.kind == 'run' else c.kind + ':'} {c.command}" for c in cmds))
            return 0
        state = state_dir(args.state)
        env = {**os.environ, "GT_ROOT": str(town), "GASTOWN_FT_HOME": str(state),
               "DAGSTER_HOME": str(dagster_home(state)),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        results = run_formula(path, given, env=env, echo=None if args.json else print)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    failed = [r for r in results if r.returncode]
    _emit(args, {"formula": str(path), "ran": [{"step": r.command.step, "command": r.command.command,
                                                "returncode": r.returncode, "seconds": round(r.seconds, 1)} for r in results]},
          f"{len(results)} commands ran, {'FAILED: ' + failed[0].command.command if failed else 'all succeeded'}")
    return 1 if failed else 0


def cmd_jobs(args) -> int:
    from node0_ops.registry.beads import job_var, replay, shell_line, transitions

    db = _db(args)
    if args.replay:
        res = replay(db, cwd=_town(args))
        _emit(args, {"replayed": res}, "\n".join(
            f"{'✓' if not r['error'] else '✗'} {r['job_id']} → {r['bead_id'] or '-'}: {r['ran']} command(s)"
            + (f" ({r['error']})" if r["error"] else "") for r in res) or "Nothing to replay.")
        return 1 if any(r["error"] for r in res) else 0
    rows = transitions(db, pending_only=args.pending)
    text = T.table(["JOB", "KIND", "SEQ", "STATUS", "BD", "COMMAND"], [
        [r["job_id"], r["kind"] or "-", r["seq"], r["status"], "sent" if r["replayed"] else "pending",
         shell_line(r["argv"], job_var(r["job_id"]))] for r in rows],
        title="Job beads (corpus collection, role/task/DPO training)") if rows else "No job bead transitions recorded."
    _emit(args, {"transitions": rows}, text)
    return 0


def cmd_hooks(args) -> int:
    from node0_ops.registry.hooks import install, intake_command, status, uninstall

    town = _town(args)
    files = [Path(f).expanduser() for f in args.settings] or None
    command = intake_command(args.state, town, collect=args.collect)
    if args.action == "status":
        rows = status(town, command, files)
        mark = {True: T.paint("●", "ok"), False: "○"}
        table = [[f"{mark[r.current]} {r.path}", "yes" if r.exists else "no",
                  ("current" if r.current else "other command") if r.ours else "not installed", len(r.others)]
                 for r in rows]
        _emit(args, {"command": command, "files": [r.to_dict() for r in rows]},
              T.table(["SETTINGS FILE", "EXISTS", "SESSIONEND HOOK", "OTHER HOOKS"], table,
                      title="node0 SessionEnd hook", footer=f"command: {command}"))
        return 0
    changes = install(town, command, files) if args.action == "install" else uninstall(town, files)
    icon = {"installed": "✓", "updated": "✓", "removed": "✓", "unchanged": "·", "absent": "·"}
    rows = [[f"{icon[c.action]} {c.path}", c.action, c.backup_path or "-"] for c in changes]
    _emit(args, {"command": command, "files": [c.to_dict() for c in changes]},
          T.table(["SETTINGS FILE", "ACTION", "BACKUP"], rows, title=f"SessionEnd hook: {args.action}",
                  footer=f"command: {command}" if args.action == "install" else None)
          if rows else "No Claude Code settings file in this town (pass --settings FILE).")
    return 0


# ----------------------------------------------------------------------------- parser


def cmd_status(args) -> int:
    from node0_ops.registry.status import format_status, role_status

    report = role_status(_db(args))
    _emit(args, report, format_status(report))
    return 0


def _place_flags(p) -> None:
    p.add_argument("--state-dir", dest="state_dir", help="state directory (default: $GASTOWN_FT_HOME)")
    p.add_argument("--town", help="Gas Town root (default: $GT_ROOT, else the embedded sample town's copy)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gt-model", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _place_flags(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, fn, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, parents=[common], help=help_)
        sp.set_defaults(fn=fn)
        return sp

    add("status", cmd_status, "per role: active model, eval, drift score, last sensor decision, pending retrain")
    s = add("list", cmd_list, "registered models")
    s.add_argument("--role")
    s.add_argument("--status", choices=MODEL_STATUSES)
    s = add("show", cmd_show, "one model with lineage")
    s.add_argument("name")
    s = add("adapters", cmd_adapters, "registered adapters; --for BEAD: the task adapters a node0 agent would load for it")
    s.add_argument("--task")
    s.add_argument("--model")
    s.add_argument("--for", dest="for_bead", metavar="BEAD", help="bead id: show the adapters picked for it and why")
    s = add("register", cmd_register, "register a new candidate model version")
    s.add_argument("role")
    s.add_argument("--base", help="base model (default: from the role adapter's gastown_adapter.json)")
    s.add_argument("--adapter", action="append", default=[], help="adapter folder or registered adapter name (repeatable)")
    s.add_argument("--artifact", action="append", default=[], help="KIND=PATH, e.g. gguf_q4_k_m=out/m.gguf (repeatable)")
    s.add_argument("--export-json", help="exporter result as JSON (paths are picked up as artifacts)")
    s.add_argument("--eval-report", help="EvalReport JSON file")
    s.add_argument("--corpus-version")
    s.add_argument("--run-id")
    s.add_argument("--lora-rank", type=int)
    s.add_argument("--notes")
    s = add("deploy", cmd_deploy, "point a role at a model in town or rig settings")
    s.add_argument("name")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--rig")
    where.add_argument("--town", dest="town_scope", action="store_true", help="town settings (settings/config.json)")
    s.add_argument("--role", required=True)
    s.add_argument("--force", action="store_true", help="deploy below the eval thresholds (needs --reason)")
    s.add_argument("--override-rollout", action="store_true", help="deploy a role the rollout keeps closed (needs --reason)")
    s.add_argument("--reason")
    s.add_argument("--adapters", help="comma-separated adapter names (default: the model's task adapters)")
    s.add_argument("--thresholds", help="EvalThresholds YAML (default: evaluator.thresholds_yaml of the state's resources.yaml, else the eval suite's thresholds.yaml)")
    s.add_argument("--rollout", help="rollout config file (default: town settings/node0-rollout.yaml, then state dir)")
    s = add("rollback", cmd_rollback, "undo the latest deploy of a role")
    s.add_argument("role")
    s.add_argument("--rig")
    s.add_argument("--reason")
    s = add("history", cmd_history, "deployments and rollbacks")
    s.add_argument("role", nargs="?")
    s = add("set-status", cmd_set_status, "set a model's status")
    s.add_argument("name")
    s.add_argument("status", choices=MODEL_STATUSES)
    s.add_argument("--note")
    s = add("prune", cmd_prune, "delete artifacts of old inactive versions")
    s.add_argument("name")
    s.add_argument("--keep", type=int, required=True)
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--allow-outside-state", action="store_true", help="also delete artifact paths outside the state dir")
    s = add("diff", cmd_diff, "compare two models")
    s.add_argument("a")
    s.add_argument("b", nargs="?", help="default: the newest version of A's role")
    s = add("rollout", cmd_rollout, "progressive rollout stages: status, or advance to the next stage when earned")
    s.add_argument("action", nargs="?", choices=("status", "advance"), default="status")
    s.add_argument("--rollout", help="rollout config file")
    s.add_argument("--thresholds", help="thresholds YAML of the gate (default: the eval suite's)")
    s.add_argument("--force", action="store_true", help="advance: open the next stage despite failing roles")
    s.add_argument("--reason", help="advance --force: why (recorded in rollout_events)")
    s = add("serve-api", cmd_serve, "read-only JSON API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--backend", choices=("auto", "starlette", "stdlib"), default="auto")
    s = add("formulas", cmd_formulas, "install / list / validate / run our formulas")
    s.add_argument("action", choices=("install", "list", "validate", "run"))
    s.add_argument("paths", nargs="*", help="validate: formula files (default: ours); run: one formula name")
    s.add_argument("--var", action="append", default=[], help="run: formula variable NAME=VALUE (repeatable)")
    s.add_argument("--dry-run", action="store_true", help="run: print the rendered commands only")
    s.add_argument("--town", default=argparse.SUPPRESS, help="Gas Town root to install into")
    s.add_argument("--force", action="store_true", help="overwrite locally modified formulas")
    s = add("hooks", cmd_hooks, "node0-intake as the SessionEnd hook of the town's Claude Code settings")
    s.add_argument("action", choices=("install", "uninstall", "status"))
    s.add_argument("--settings", action="append", default=[], metavar="FILE",
                   help="Claude Code settings file (repeatable; default: the town's .claude/settings.json files)")
    s.add_argument("--collect", action="store_true", help="the hook also starts the session_records run at once")
    s = add("jobs", cmd_jobs, "job beads: corpus collection, role/task/DPO training")
    s.add_argument("--pending", action="store_true")
    s.add_argument("--replay", action="store_true", help="run pending transitions through bd")
    share_flags(sub, _place_flags)  # also after the subcommand (deploy keeps its own --town scope switch)
    return p


def main(argv: list[str] | None = None, on_action=None) -> int:
    """Entry point of ``gt-model``; returns the exit status.

    ``on_action(action, payload, state)`` is called after each deploy, rollback and prune
    (``gastown_assets.cli.model`` passes the hook that reports them to Dagster)."""
    args = build_parser().parse_args(argv)
    args.state = state_dir(args.state_dir)
    args.on_action = on_action
    try:
        return args.fn(args)
    except BrokenPipeError:  # output piped into head & co.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (RegistryError, SettingsError, FileNotFoundError, ValueError) as exc:
        if args.json:
            print(json.dumps({"error": str(exc), "reasons": getattr(exc, "reasons", None)}, indent=2))
        print(f"gt-model: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
