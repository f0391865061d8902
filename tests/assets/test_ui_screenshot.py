"""The Dagster UI as the browsable model registry: a headless Chromium screenshot of ``registry_entry``.

The test registers two polecat model versions by really materializing ``registry_entry[polecat]``
twice (in-process, into a sqlite DAGSTER_HOME under tmp_path) after seeding the ``exports`` and
``eval_reports`` rows the asset reads, with real files on disk (adapter folder, merged safetensors
folder, GGUF stand-ins). It then starts ``dagster-webserver`` on the code location with that state,
opens the asset's page in headless Chromium (``--screenshot`` and ``--dump-dom``), and checks the
rendered page names the asset and both model versions (``polecat-v1@1``, ``polecat-v2@2``).

Needs the ``chromium`` binary (``apt-get install -y chromium``; ``make test`` installs it as root).
Without it the test fails, unless ``GTFT_SKIP_UI=1`` is set, then it skips.
"""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from tests.graph_helpers import sources, with_io

pytestmark = pytest.mark.slow

ROLE = "polecat"
REPO = Path(__file__).resolve().parents[2]
WEBSERVER_START_S = 150
CHROMIUM_TIMEOUT_S = 120


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe:
        return exe
    msg = "chromium not found: install it with `apt-get install -y chromium` (make test does this as root)"
    if os.environ.get("GTFT_SKIP_UI") == "1":
        pytest.skip(msg + "; GTFT_SKIP_UI=1 skips the UI screenshot test")
    pytest.fail(msg + "; set GTFT_SKIP_UI=1 to skip instead")


def _eval_report(n_pass: int, n: int = 4) -> dict:
    """An EvalReport dict (the eval suite's own class) with ``n_pass`` of ``n`` cases passed per category."""
    from node0_ops.evals.report import CaseResult, EvalReport

    cases = [CaseResult(task_id=f"{cat}-{i}", category=cat, role=ROLE, passed=i < n_pass, score=float(i < n_pass),
                        errors=[] if i < n_pass else ["wrong"], answer="bd ready", prompt="p", latency_s=0.1)
             for cat in ("bead-management", "git-workflow", "conventions") for i in range(n)]
    return EvalReport(f"node0-{ROLE}", "suite:1", False, cases).to_dict()


def _seed_candidate(state: Path, n: int, n_pass: int) -> None:
    """Files and the ``exports`` + ``eval_reports`` rows of candidate ``n``, as exported_model/eval_report write them
    (the test then reports eval_report's materialization: the report id registry_entry takes)."""
    from node0_ops.corpus.store import open_db
    from node0_ops.lineage.db import dumps, upsert
    from node0_ops.paths import lineage_db_path

    adapter = state / "artifacts" / "adapters" / f"{ROLE}-{n}"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16}))
    (adapter / "adapter_model.safetensors").write_bytes(bytes([n]) * 512)
    (adapter / "gastown_adapter.json").write_text(json.dumps({
        "kind": "role", "role": ROLE, "base": "smollm2-135m", "corpus_version": f"cv-{n}",
        "hyperparameters": {"lora_rank": 8, "lora_alpha": 16, "learning_rate": 2e-4, "epochs": 1},
        "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}", "metrics": {"train_loss": 0.4}}))
    out = state / "artifacts" / "exports" / ROLE / f"v{n}"
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "model.safetensors").write_bytes(b"S" * 4096 * n)
    (out / "merged" / "config.json").write_text("{}")
    ggufs = {q: str(out / f"node0-{ROLE}-{q}.gguf") for q in ("f16", "q4_k_m")}
    for q, path in ggufs.items():
        Path(path).write_bytes(q.encode() * 1024 * n)
    (out / "README.md").write_text(f"# node0-{ROLE} candidate {n}\n")
    result = {"out_dir": str(out), "merged_dir": str(out / "merged"), "ggufs": ggufs, "lora_ggufs": {},
              "model_card": str(out / "README.md")}
    report = _eval_report(n_pass)
    now = dt.datetime.now()
    db = open_db(lineage_db_path(state))
    with db.write() as con:
        upsert(con, "exports", [{"export_dir": str(out), "role": ROLE, "adapter_dir": str(adapter),
                                 "corpus_version": f"cv-{n}", "created_at": now, "result": dumps(result)}])
        upsert(con, "eval_reports", [{
            "report_id": f"{ROLE}-report-{n}", "role": ROLE, "model_label": f"node0-{ROLE}", "gguf_path": ggufs["q4_k_m"],
            "export_dir": str(out), "suite": "suite:1", "corpus_version": f"cv-{n}", "created_at": now,
            "overall": report["overall"]["rate"], "base_overall": 0.25, "constrained_overall": None,
            "passed": True, "reasons": "[]", "report": json.dumps(report), "base_report": "{}",
            "constrained_report": "{}", "base_constrained_report": "{}"}])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """Child setup: default SIGINT/SIGTERM handlers (this environment can start children ignoring them)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WEBSERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"dagster-webserver did not answer {url}/server_info in {WEBSERVER_START_S}s:\n{log.read_text()[-4000:]}")


def _wait_for_location(url: str, timeout_s: float = 120) -> None:
    """Poll GraphQL until the code location has loaded and lists ``registry_entry``."""
    query = json.dumps({"query": '{ assetNodeOrError(assetKey: {path: ["registry_entry"]}) { __typename } }'}).encode()
    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + "/graphql", data=query, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                last = resp.read().decode()
            if '"AssetNode"' in last:
                return
        except OSError as exc:
            last = repr(exc)
        time.sleep(1)
    pytest.fail(f"code location never listed registry_entry; last GraphQL answer: {last[:2000]}")


def _dismiss_community_nux(url: str) -> None:
    """Mark the UI's "Join the Dagster community" pop-up as seen (the ``setNuxSeen`` mutation its Skip button sends);
    it is shown on 127.0.0.1 origins and would cover the page."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    req = urllib.request.Request(url + "/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.loads(resp.read())
    assert answer.get("data", {}).get("setNuxSeen") is True, f"setNuxSeen failed: {answer}"


def _chromium_run(exe: str, profile: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--window-size=1400,900", *extra, url]
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S,
                              preexec_fn=_default_signals, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium timed out after {CHROMIUM_TIMEOUT_S}s on {url}: {exc.stderr!r}"[-3000:])


def test_dagster_ui_shows_registry_entry_with_versions(tmp_path):
    from gastown_assets.defs.models.assets import registry_entry
    from node0_ops.paths import dagster_home
    from resources import LineageResource

    exe = _chromium()
    state = tmp_path / "state"
    home = dagster_home(state)

    # Two real registry_entry materializations -> polecat-v1@1, polecat-v2@2 in the registry and the instance.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        refs = []
        for n, n_pass in ((1, 3), (2, 4)):
            _seed_candidate(state, n, n_pass)
            # what eval_report[polecat] records: registry_entry registers that report's candidate
            instance.report_runless_asset_event(dg.AssetMaterialization(
                "eval_report", partition=ROLE, metadata={"report_id": f"{ROLE}-report-{n}"}))
            res = dg.materialize([registry_entry, *sources("eval_report")], partition_key=ROLE, instance=instance,
                                 resources=with_io({"lineage": LineageResource(state_dir=str(state))}))
            assert res.success
            md = res.get_asset_materialization_events()[0].materialization.metadata
            refs.append(md["model"].value)
        assert refs == [f"{ROLE}-v1@1", f"{ROLE}-v2@2"]
        versions_md = md["versions"].value
        assert f"{ROLE}-v1@1" in versions_md and f"{ROLE}-v2@2" in versions_md

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "GT_ROOT"}
    env.update(GASTOWN_FT_HOME=str(state), DAGSTER_HOME=str(home))
    log = tmp_path / "webserver.log"
    with open(log, "w") as log_fh:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
             "-m", "gastown_assets.definitions"],
            cwd=REPO, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
            preexec_fn=_default_signals, start_new_session=True)
    try:
        _wait_for_server(url, server, log)
        _wait_for_location(url)
        _dismiss_community_nux(url)
        page = f"{url}/assets/registry_entry?view=events&partition={ROLE}"
        png = tmp_path / "registry.png"
        shot = _chromium_run(exe, tmp_path / "chrome-shot", page, f"--screenshot={png}")
        dom = _chromium_run(exe, tmp_path / "chrome-dom", page, "--dump-dom")
        graph_page = f"{url}/locations/gastown_assets.definitions/asset-groups/models"
        graph_png = tmp_path / "asset-graph.png"
        graph_shot = _chromium_run(exe, tmp_path / "chrome-graph", graph_page, f"--screenshot={graph_png}")
        graph_dom = _chromium_run(exe, tmp_path / "chrome-graph-dom", graph_page, "--dump-dom")
    finally:  # the webserver's group holds its code-server child too: TERM, then KILL whatever is left
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, sig)
            except ProcessLookupError:
                break
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass

    print(f"\nregistry UI screenshot: {png} ({page})")
    assert png.is_file(), f"chromium wrote no screenshot (rc {shot.returncode}): {shot.stderr[-2000:]}"
    from PIL import Image

    with Image.open(png) as img:
        assert img.format == "PNG" and img.size == (1400, 900)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, f"screenshot {png} is (nearly) blank: {len(colours)} colours"
    assert png.stat().st_size > 20_000, f"screenshot {png} is only {png.stat().st_size} bytes"
    html = dom.stdout
    assert dom.returncode == 0, f"chromium --dump-dom failed: {dom.stderr[-2000:]}"
    for needle in ("registry_entry", "versions", "eval_score", "lineage", f"{ROLE}-v1@1", f"{ROLE}-v2@2", "cv-1", "0.75"):
        assert needle in html, f"rendered registry page {page} lacks {needle!r} (screenshot {png})"
    assert "Join the Dagster community" not in html, f"the community pop-up covers the page (screenshot {png})"
    # the models group's lineage graph: the role chain and every stacked-adapter stage are nodes of it
    print(f"asset graph screenshot: {graph_png} ({graph_page})")
    assert graph_png.is_file(), f"chromium wrote no graph screenshot (rc {graph_shot.returncode}): {graph_shot.stderr[-2000:]}"
    assert graph_png.stat().st_size > 20_000, f"graph screenshot {graph_png} is only {graph_png.stat().st_size} bytes"
    for node in ("exported_model", "eval_report", "registry_entry", "role_deployment", "task_adapter_report", "dpo_model"):
        assert node in graph_dom.stdout, f"rendered asset graph {graph_page} lacks {node!r} (screenshot {graph_png})"
    keep = os.environ.get("GTFT_UI_SHOTS_DIR")
    if keep:  # the PNGs a closing note or the README shows
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "registry-entry.png")
        shutil.copy(graph_png, Path(keep) / "asset-graph.png")
