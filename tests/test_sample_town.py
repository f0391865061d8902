"""The embedded sample town is well-formed Gas Town data.

Formats follow ``shared/docs/gastown-formats.md`` (formulas §1, beads §2,
roles/settings/layout §3, events and Claude Code transcripts §4). These tests
pin the properties other stages rely on: every file parses, formulas cover all
four types with declared placeholders and valid step graphs, transcripts have
the real Claude Code entry shape and cover every role and failure mode the
DPO builder pairs up, and every planted secret is really in the file that
``tests/fixtures/planted_secrets.json`` names.
"""

import json
import re
import shlex
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from node0_ops.paths import EMBEDDED_TOWN

TOWN = EMBEDDED_TOWN
FIXTURE = Path(__file__).parent / "fixtures" / "planted_secrets.json"
ROLES = ("mayor", "deacon", "witness", "refinery", "polecat", "crew", "boot", "dog")
STATUSES = {"open", "in_progress", "blocked", "deferred", "closed", "pinned", "hooked"}
ISSUE_TYPES = {"bug", "feature", "task", "epic", "chore", "decision", "message", "molecule", "gate", "spike",
               "story", "milestone", "event", "agent", "role", "rig", "convoy", "slot", "queue", "merge-request"}
FAILURE_MODES = ("timeout", "wrong_branch", "broke_tests", "ignored_conventions", "skipped_hooks",
                 "wrong_dep_direction", "force_push")
HANDLEBARS_KEYWORDS = {"else", "this"}


# ----------------------------------------------------------------- helpers
def all_files():
    return [p for p in TOWN.rglob("*") if p.is_file()]


def load_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def formulas():
    return {p.name: tomllib.loads(p.read_text()) for p in sorted((TOWN / ".beads/formulas").glob("*.formula.toml"))}


def formula_type(f):
    """Explicit ``type`` or gastown's ``inferType`` rules (formats doc §1.1)."""
    if "type" in f:
        return f["type"]
    if "extends" in f or "steps" in f:
        return "workflow"
    if "legs" in f:
        return "convoy"
    if "template" in f:
        return "expansion"
    if "aspects" in f:
        return "aspect"
    return None


def placeholders(text):
    """``{{var}}`` names in step text; Go-template ``{{.x}}`` and Handlebars keywords are skipped."""
    names = set()
    for m in re.finditer(r"\{\{\s*([^}]*?)\s*\}\}", text):
        body = m.group(1)
        if not body or body[0] in ".#/^!" or body in HANDLEBARS_KEYWORDS:
            continue
        names.add(body.split()[0])
    return names


def transcripts():
    return sorted((TOWN / ".claude/projects").glob("*/*.jsonl"))


def role_of(cwd):
    """Role from a session cwd, using the work_dir conventions of roles/*.toml."""
    rel = cwd.removeprefix("/home/alice/gt").strip("/")
    parts = rel.split("/") if rel else []
    if not parts:
        return "deacon"
    if parts[0] == "mayor":
        return "mayor"
    if parts[0] == "deacon" and len(parts) > 2 and parts[1] == "dogs":
        return "dog"
    if len(parts) >= 2 and parts[1] in ("witness", "refinery"):
        return parts[1]
    if len(parts) >= 3 and parts[1] == "polecats":
        return "polecat"
    if len(parts) >= 3 and parts[1] == "crew":
        return "crew"
    return None


def tool_calls(rows):
    """[(tool_use block, entry, tool_result block or None)] in order."""
    results = {}
    for e in rows:
        if e["type"] == "user":
            for b in e["message"]["content"]:
                if b.get("type") == "tool_result":
                    results[b["tool_use_id"]] = b
    out = []
    for e in rows:
        if e["type"] == "assistant":
            for b in e["message"]["content"]:
                if b.get("type") == "tool_use":
                    out.append((b, e, results.get(b["id"])))
    return out


def commands(rows):
    return [(u["input"]["command"], e, r) for u, e, r in tool_calls(rows) if u["name"] == "Bash"]


def rig_issues():
    issues = {}
    for path in TOWN.glob("*/mayor/rig/.beads/issues.jsonl"):
        for r in load_jsonl(path):
            issues[r["id"]] = r
    return issues


TEST_CMD = re.compile(r"\b(go test|npm test|vitest|pytest)\b")


def detect_failures(rows, issues):
    """Failure modes visible in a transcript's tool calls and results (set of FAILURE_MODES)."""
    found = set()
    cmds = commands(rows)
    last = rows[-1]
    last_result = [b for b in last["message"]["content"] if b.get("type") == "tool_result"]
    done_calls = [c for c, _, _ in cmds if c.startswith("gt done")]
    if last_result and last_result[0].get("is_error") and "timed out" in str(last_result[0]["content"]) and not done_calls:
        found.add("timeout")
    polecat = role_of(rows[0]["cwd"]) == "polecat"
    red_tests = False
    for cmd, entry, result in cmds:
        err = bool(result and result.get("is_error"))
        if re.search(r"\bpkill\b|\bkillall\b|tmux kill-session|\bkill -9\b", cmd):
            found.add("ignored_conventions")
        if "git commit" in cmd and "--no-verify" in cmd:
            found.add("skipped_hooks")
        if re.search(r"git push\b.*(--force\b|--force-with-lease|\s-f\b)", cmd):
            found.add("force_push")
        if polecat and (("git commit" in cmd and entry["gitBranch"] == "main" and not err)
                        or re.search(r"git push\s+(-u\s+)?origin\s+(HEAD:)?main\b", cmd)):
            found.add("wrong_branch")
        for m in re.finditer(r"bd dep add (\S+) (\S+)", cmd):
            blocked, blocker = m.group(1), m.group(2)
            desc = issues.get(blocked, {}).get("description", "")
            if f"before {blocker}" in desc:
                found.add("wrong_dep_direction")
        if TEST_CMD.search(cmd) and result is not None:
            red_tests = err and "timed out" not in str(result["content"])
        if (cmd.startswith("gt done") or "git push" in cmd) and red_tests:
            found.add("broke_tests")
    return found


def hooked_bead(rows):
    first = rows[0]["message"]["content"][0].get("text", "")
    m = re.search(r"work:(\S+)", first)
    return m.group(1) if m else None


def finished_ok(rows):
    """Last ``gt done`` ran with --status COMPLETED and its result was not an error."""
    done = [(c, r) for c, _, r in commands(rows) if c.startswith("gt done")]
    return bool(done) and "--status COMPLETED" in done[-1][0] and not (done[-1][1] or {}).get("is_error")


# ----------------------------------------------------------------- parsing
def test_every_structured_file_parses():
    counts = Counter()
    for p in all_files():
        if p.suffix == ".toml":
            tomllib.loads(p.read_text())
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".jsonl":
            assert load_jsonl(p), f"{p} is empty"
        elif p.suffix == ".yaml":
            yaml = pytest.importorskip("yaml")
            assert isinstance(yaml.safe_load(p.read_text()), dict), p
        else:
            continue
        counts[p.suffix] += 1
    assert counts[".toml"] >= 12 + 7 + 1 and counts[".jsonl"] >= 14 + 6 and counts[".json"] >= 8, counts


def test_layout_has_required_town_files():
    for rel in ["CLAUDE.md", ".events.jsonl", ".feed.jsonl", "settings/config.json", "mayor/town.json",
                "mayor/rigs.json", ".beads/routes.jsonl", ".beads/config.yaml", "directives/polecat.md",
                "formula-overlays/mol-polecat-work.toml", ".beads/formulas/.installed.json",
                "logs/prime/polecat.txt", "logs/prime/witness.txt"]:
        assert (TOWN / rel).is_file(), rel
    assert len(list((TOWN / "docs").glob("*.md"))) >= 3
    for rig in ("gastown", "webapp"):
        assert json.loads((TOWN / rig / "config.json").read_text())["type"] == "rig"
        settings = json.loads((TOWN / rig / "settings/config.json").read_text())
        assert settings["type"] == "rig-settings"
        assert settings["merge_queue"]["gates"] and settings["namepool"]["style"]
        assert (TOWN / ".beads/formulas" / f"{settings['workflow']['default_formula']}.formula.toml").is_file()
        for name in ("CLAUDE.md", "AGENTS.md"):
            assert (TOWN / rig / "mayor/rig" / name).is_file()


def test_routes_point_at_existing_beads_dirs():
    routes = load_jsonl(TOWN / ".beads/routes.jsonl")
    rigs = json.loads((TOWN / "mayor/rigs.json").read_text())["rigs"]
    for r in routes:
        assert (TOWN / r["path"] / ".beads/issues.jsonl").is_file(), r
    for name, rig in rigs.items():
        assert {"prefix": rig["beads"]["prefix"] + "-", "path": rig["beads"]["repo"]} in routes, name


def test_town_settings_cover_every_role():
    s = json.loads((TOWN / "settings/config.json").read_text())
    assert s["type"] == "town-settings" and s["default_agent"] in s["agents"]
    assert set(s["role_agents"]) == set(ROLES)
    for role, agent in s["role_agents"].items():
        assert agent in s["agents"], f"role {role} maps to undefined agent {agent}"
    for a in s["agents"].values():
        assert a["command"] and isinstance(a["args"], list)
    for rig in ("gastown", "webapp"):
        rs = json.loads((TOWN / rig / "settings/config.json").read_text())
        for role, agent in rs.get("role_agents", {}).items():
            assert role in ROLES and (agent in s["agents"] or agent in rs.get("agents", {}))


# ----------------------------------------------------------------- formulas
def test_formulas_cover_all_four_types():
    fs = formulas()
    assert len(fs) >= 12
    types = {name: formula_type(f) for name, f in fs.items()}
    assert None not in types.values(), types
    assert set(types.values()) == {"workflow", "convoy", "expansion", "aspect"}
    assert any("type" in f for f in fs.values()) and any("type" not in f for f in fs.values())
    for f in fs.values():
        assert f["formula"] and f["description"] and isinstance(f["version"], int)
    assert any("squash" in f for f in fs.values())


def test_formula_names_match_files_and_installed_hashes():
    import hashlib

    installed = json.loads((TOWN / ".beads/formulas/.installed.json").read_text())["formulas"]
    files = sorted((TOWN / ".beads/formulas").glob("*.formula.toml"))
    assert set(installed) == {p.name for p in files}
    for p in files:
        assert installed[p.name] == hashlib.sha256(p.read_bytes()).hexdigest(), f"{p.name} modified since install"
        assert tomllib.loads(p.read_text())["formula"] + ".formula.toml" == p.name


def test_workflow_placeholders_declared_and_step_graph_valid():
    for name, f in formulas().items():
        steps = f.get("steps", [])
        ids = [s["id"] for s in steps]
        assert len(ids) == len(set(ids)), f"{name}: duplicate step ids"
        declared = set(f.get("vars", {}))
        for s in steps:
            for need in s.get("needs", []):
                assert need in ids, f"{name}: step {s['id']} needs unknown {need}"
            text = s["title"] + s["description"] + s.get("acceptance", "")
            missing = placeholders(text) - declared
            assert not missing, f"{name}: step {s['id']} uses undeclared {missing}"
        if steps:
            assert not placeholders(f["description"]) - declared, name
        for v in f.get("vars", {}).values():
            if isinstance(v, dict):
                assert v.get("description") and ("default" in v or v.get("required")), (name, v)


def test_convoy_expansion_aspect_and_compose_shapes():
    fs = {f["formula"]: f for f in formulas().values()}
    convoys = [f for f in fs.values() if formula_type(f) == "convoy"]
    assert len(convoys) >= 2
    for c in convoys:
        legs = [leg["id"] for leg in c["legs"]]
        assert c["inputs"] and "base" in c["prompts"] and c["output"]["directory"]
        assert set(c["synthesis"]["depends_on"]) <= set(legs)
    expansions = [f for f in fs.values() if formula_type(f) == "expansion"]
    assert len(expansions) >= 2
    for e in expansions:
        ids = [t["id"] for t in e["template"]]
        assert all("{target}" in i for i in ids)
        for t in e["template"]:
            assert set(t.get("needs", [])) <= set(ids)
    aspect = [f for f in fs.values() if formula_type(f) == "aspect"][0]
    assert aspect["advice"] and aspect["pointcuts"]
    assert all("{step.id}" in a["id"] for adv in aspect["advice"] for a in adv["around"].get("before", []))
    composed = [f for f in fs.values() if "extends" in f]
    assert composed and all("compose" in f for f in composed)
    for f in composed:
        for base in f["extends"]:
            assert base in fs, f"{f['formula']} extends unknown {base}"
        base_steps = {s["id"] for b in f["extends"] for s in fs[b].get("steps", [])}
        for exp in f["compose"].get("expand", []):
            assert exp["target"] in base_steps and formula_type(fs[exp["with"]]) == "expansion"
        for a in f["compose"].get("aspects", []):
            assert formula_type(fs[a]) == "aspect"


def test_overlay_targets_existing_steps_and_declared_vars():
    overlay = tomllib.loads((TOWN / "formula-overlays/mol-polecat-work.toml").read_text())
    target = formulas()["mol-polecat-work.formula.toml"]
    ids = {s["id"] for s in target["steps"]}
    assert ids >= {"load-context", "branch-setup", "implement", "commit-changes", "self-review",
                   "build-check", "pre-verify", "submit-and-exit"}
    for o in overlay["step-overrides"]:
        assert o["step_id"] in ids and o["mode"] in {"replace", "append", "skip"}
        assert not placeholders(o["description"]) - set(target["vars"])


# ----------------------------------------------------------------- beads
def test_issues_are_bd_export_records_with_consistent_counts():
    issues = rig_issues()
    hq = {r["id"]: r for r in load_jsonl(TOWN / ".beads/issues.jsonl")}
    known = set(issues) | set(hq)
    assert len(issues) >= 55
    for path in [TOWN / ".beads/issues.jsonl", *TOWN.glob("*/mayor/rig/.beads/issues.jsonl")]:
        rows = load_jsonl(path)  # dependent_count is per database (one export file)
        dependents = Counter(d["depends_on_id"] for r in rows for d in r.get("dependencies", []))
        for r in rows:
            assert r["dependent_count"] == dependents[r["id"]], (path.name, r["id"])
    for r in list(issues.values()) + list(hq.values()):
        assert r["_type"] == "issue" and r["title"]
        assert r["status"] in STATUSES and r["issue_type"] in ISSUE_TYPES and r["priority"] in range(5)
        assert r["dependency_count"] == len(r.get("dependencies", []))
        assert r["comment_count"] == len(r.get("comments", []))
        for d in r.get("dependencies", []):
            assert d["issue_id"] == r["id"] and d["depends_on_id"] in known, (r["id"], d)
        if r["status"] == "closed":
            assert r["close_reason"] and r["closed_at"], r["id"]
        m = re.fullmatch(r"(.+)\.(\d+)", r["id"])
        if m:
            assert {"depends_on_id": m.group(1), "type": "parent-child"}.items() <= next(
                d for d in r["dependencies"] if d["type"] == "parent-child").items(), r["id"]
            assert r["parent"] == m.group(1)


def test_issue_mix_covers_gastown_kinds():
    issues = list(rig_issues().values())
    types = Counter(r["issue_type"] for r in issues)
    assert types["epic"] >= 4 and types["agent"] >= 6
    assert Counter(d["type"] for r in issues for d in r.get("dependencies", []))["blocks"] >= 5
    mrs = [r for r in issues if r["issue_type"] == "merge-request" or "gt:merge-request" in r.get("labels", [])]
    assert len(mrs) >= 4 and {r["issue_type"] for r in mrs} == {"merge-request", "task"}
    for r in mrs:
        for key in ("branch", "target", "source_issue", "rig", "worker"):
            assert re.search(rf"^{key}: \S+", r["description"], re.M), (r["id"], key)
    assert any(r.get("ephemeral") and r.get("wisp_type") for r in issues)
    assert any(re.search(r"^attached_molecule: ", r.get("description", ""), re.M) for r in issues)
    assert any(r.get("comments") for r in issues)


def test_backup_is_per_table_dialect():
    b = TOWN / "gastown/mayor/rig/.beads/backup"
    issues = load_jsonl(b / "issues.jsonl")
    assert 8 <= len(issues) <= 15
    ids = {r["id"] for r in issues}
    for r in issues:
        assert isinstance(r["metadata"], str) and json.loads(r["metadata"]) is not None
        assert r["ephemeral"] in (0, 1) and r["pinned"] in (0, 1) and r["is_template"] in (0, 1)
    for name in ("dependencies", "labels", "comments", "events"):
        for row in load_jsonl(b / f"{name}.jsonl"):
            assert row["issue_id"] in ids, (name, row)
    config = {r["key"]: r["value"] for r in load_jsonl(b / "config.jsonl")}
    assert config["issue_prefix"] == "gt"
    state = json.loads((b / "backup_state.json").read_text())
    for name, n in state["counts"].items():
        assert len(load_jsonl(b / f"{name}.jsonl")) == n, name


def test_events_and_feed_records():
    events = load_jsonl(TOWN / ".events.jsonl")
    assert 30 <= len(events) <= 80
    types = {e["type"] for e in events}
    assert types >= {"sling", "hook", "done", "spawn", "patrol_started", "polecat_checked", "merged",
                     "merge_failed", "session_start", "session_end", "session_death"}
    for e in events:
        assert set(e) == {"ts", "source", "type", "actor", "payload", "visibility"}
        assert e["visibility"] in {"audit", "feed", "both"} and e["ts"].endswith("Z")
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    feed = load_jsonl(TOWN / ".feed.jsonl")
    assert len(feed) >= 8 and all({"ts", "type", "actor", "summary", "count"} <= set(f) for f in feed)


# ----------------------------------------------------------------- roles and conventions
def test_role_templates_and_role_configs():
    for role in ROLES:
        tmpl = (TOWN / f"templates/roles/{role}.md.tmpl").read_text()
        assert 60 <= len(tmpl.splitlines()) <= 150, role
        assert "{{ cmd }} prime" in tmpl
    tomls = {p.stem: tomllib.loads(p.read_text()) for p in (TOWN / "roles").glob("*.toml")}
    assert set(tomls) == set(ROLES) - {"boot"}
    for role, t in tomls.items():
        assert t["role"] == role and t["prompt_template"] == f"{role}.md.tmpl"
        assert t["session"]["start_command"] and t["env"]["GT_ROLE"] and t["health"]["stuck_threshold"]


def rules(path):
    """Imperative rule lines (Always/Never/Do not/Must ...) of a markdown file."""
    return [line.strip() for line in path.read_text().splitlines()
            if re.match(r"^(Always|Never|Do not|Must)\b", line.strip())]


def test_rig_claude_md_contradicts_town_on_rebase():
    town = [r for r in rules(TOWN / "CLAUDE.md") if "rebase" in r.lower()]
    webapp = [r for r in rules(TOWN / "webapp/mayor/rig/CLAUDE.md") if "rebase" in r.lower()]
    assert any(r.startswith("Never rebase") for r in town)
    assert any(r.startswith("Always rebase") for r in webapp)


# ----------------------------------------------------------------- transcripts
def test_transcripts_have_claude_code_shape():
    paths = transcripts()
    assert len(paths) >= 14
    for p in paths:
        rows = load_jsonl(p)
        sid = rows[0]["sessionId"]
        assert p.stem == sid and p.parent.name == rows[0]["cwd"].replace("/", "-")
        prev = None
        tool_ids = set()
        for e in rows:
            assert e["type"] in {"user", "assistant"} and e["sessionId"] == sid and e["uuid"]
            assert e["parentUuid"] == prev and e["timestamp"].endswith("Z")
            prev = e["uuid"]
            msg = e["message"]
            assert msg["role"] == e["type"] and isinstance(msg["content"], list) and msg["content"]
            for b in msg["content"]:
                assert b["type"] in {"text", "thinking", "tool_use", "tool_result"}
                if b["type"] == "tool_use":
                    assert e["type"] == "assistant" and b["name"] and isinstance(b["input"], dict)
                    tool_ids.add(b["id"])
                if b["type"] == "tool_result":
                    assert e["type"] == "user" and b["tool_use_id"] in tool_ids
            if e["type"] == "assistant":
                assert msg["model"] and msg["usage"]["output_tokens"] > 0


def test_transcripts_cover_roles():
    roles = Counter(role_of(load_jsonl(p)[0]["cwd"]) for p in transcripts())
    assert roles["polecat"] >= 6 and roles["witness"] >= 3 and roles["deacon"] >= 3, roles
    assert None not in roles


def test_every_failure_mode_present_and_paired_with_a_success():
    issues = rig_issues()
    found = Counter()
    failed_types, ok_types = set(), set()
    for p in transcripts():
        rows = load_jsonl(p)
        modes = detect_failures(rows, issues)
        found.update(modes)
        bead = hooked_bead(rows)
        if role_of(rows[0]["cwd"]) != "polecat" or bead is None:
            continue
        btype = issues[bead]["issue_type"]
        if modes:
            failed_types.add(btype)
        elif finished_ok(rows):
            ok_types.add(btype)
    for mode in FAILURE_MODES:
        assert found[mode] >= 1, f"no transcript shows failure mode {mode}"
    assert failed_types and failed_types <= ok_types, (failed_types, ok_types)


def test_success_transcripts_are_clean():
    issues = rig_issues()
    clean = [p for p in transcripts() if finished_ok(load_jsonl(p)) and not detect_failures(load_jsonl(p), issues)]
    assert len(clean) >= 4
    dirty_but_done = [p for p in transcripts() if finished_ok(load_jsonl(p)) and detect_failures(load_jsonl(p), issues)]
    assert dirty_but_done, "some failures should still end with a COMPLETED gt done (hard negatives)"


def test_bd_dep_add_commands_parse():
    for p in transcripts():
        for cmd, _, _ in commands(load_jsonl(p)):
            for part in cmd.split("&&"):
                if part.strip().startswith("bd dep add"):
                    assert len(shlex.split(part)) == 5, part


# ----------------------------------------------------------------- planted secrets
def test_every_planted_secret_is_present_verbatim():
    planted = json.loads(FIXTURE.read_text())
    entities = {x["entity"] for x in planted}
    assert entities >= {"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "ANTHROPIC_KEY", "OPENAI_KEY",
                        "HF_TOKEN", "SLACK_TOKEN", "JWT", "BEARER_TOKEN", "PRIVATE_KEY", "SECRET_ASSIGNMENT",
                        "EMAIL_ADDRESS", "IP_ADDRESS", "HOME_PATH"}
    for x in planted:
        assert x["value"] in (TOWN / x["file"]).read_text(), x
    values = {x["value"] for x in planted}
    assert any(v.startswith("ghp_") for v in values) and any(v.startswith("github_pat_") for v in values)
    assert any(":" in v and x["entity"] == "IP_ADDRESS" for x in planted for v in [x["value"]])
    assert len({x["file"] for x in planted if x["file"].startswith(".claude/")}) >= 10
