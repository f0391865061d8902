"""Training jobs as beads: a recording fake ``bd`` on PATH, and the offline path (no bd)."""

import json
import shlex
import sys
from pathlib import Path

import pytest

from node0_ops.evals.command_validator import validate
from node0_ops.registry.beads import TrainingJob, corpus_job, find_job, replay, transitions


@pytest.fixture
def fake_bd(tmp_path, monkeypatch):
    """A ``bd`` executable that logs its argv (JSON lines) and prints a fake id for ``create``
    (``gt-tr4x9``, then ``gt-tr4x9.1``, ``gt-tr4x9.2`` ...).

    ``FAKE_BD_FAIL=<subcommand>`` makes that subcommand exit 1."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "bd-argv.jsonl"
    script = bindir / "bd"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "with open(os.environ['FAKE_BD_LOG'], 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': args, 'cwd': os.getcwd()}) + '\\n')\n"
        "if os.environ.get('FAKE_BD_FAIL') and args[:1] == [os.environ['FAKE_BD_FAIL']]:\n"
        "    print('Error: database locked', file=sys.stderr); sys.exit(1)\n"
        "if args[:1] == ['create']:\n"
        "    n = sum(1 for line in open(os.environ['FAKE_BD_LOG']) if json.loads(line)['argv'][:1] == ['create'])\n"
        "    print('gt-tr4x9' if n == 1 else f'gt-tr4x9.{n - 1}')\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_BD_LOG", str(log))

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def _assert_valid(lines: list[str]) -> None:
    for line in lines:
        r = validate(line)
        assert r.ok, (line, r.errors)
        assert r.tool == "bd"


def test_job_lifecycle_calls_real_bd_with_valid_commands(db, fake_bd, sample_town):
    printed = []
    with TrainingJob(db, "Train polecat role model", description="corpus cv-1, LoRA r=8", cwd=sample_town,
                     echo=printed.append) as job:
        job.phase("train", loss=0.41234567)
        job.phase("eval", overall=0.72)
        job.close("registered polecat-v3@3")
    calls = fake_bd()
    assert [c["argv"] for c in calls] == [
        ["create", "Train polecat role model", "-t", "task", "-p", "2", "-l", "training,node0", "-d",
         "corpus cv-1, LoRA r=8", "--silent"],
        ["update", "gt-tr4x9", "--status", "in_progress"],
        ["update", "gt-tr4x9", "--append-notes", "phase: train done, loss=0.4123"],
        ["update", "gt-tr4x9", "--append-notes", "phase: eval done, overall=0.72"],
        ["close", "gt-tr4x9", "--reason", "registered polecat-v3@3"]]
    assert all(Path(c["cwd"]) == sample_town for c in calls)  # bd runs in the town (finds its .beads)
    assert job.bead_id == "gt-tr4x9" and printed == []  # nothing to replay by hand
    _assert_valid([shlex.join(["bd"] + c["argv"]) for c in calls])
    rows = transitions(db, job.job_id)
    assert [r["status"] for r in rows] == ["open", "in_progress", "in_progress", "in_progress", "closed"]
    assert all(r["replayed"] and r["bead_id"] == "gt-tr4x9" for r in rows)


def test_failure_inside_job_blocks_the_bead(db, fake_bd):
    with pytest.raises(RuntimeError):
        with TrainingJob(db, "Train witness role model", echo=lambda s: None):
            raise RuntimeError("CUDA out of memory")
    argvs = [c["argv"] for c in fake_bd()]
    assert argvs[-2] == ["update", "gt-tr4x9", "--append-notes", "phase: failed, RuntimeError: CUDA out of memory"]
    assert argvs[-1] == ["update", "gt-tr4x9", "--status", "blocked"]
    _assert_valid([shlex.join(["bd"] + a) for a in argvs])


def test_without_bd_transitions_are_stored_and_printed(db, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    printed: list[str] = []
    job = TrainingJob(db, "Train deacon role model", description='rank 8, "quoted" text', echo=printed.append)
    assert job.bd is None
    ref = job.start()
    job.phase("train", loss=0.5)
    job.close("registered deacon-v1@1")
    assert ref == f"${job.var}"
    assert printed[0].startswith("# bd is not on PATH")
    commands = printed[1:]
    assert commands[0].startswith(f"{job.var}=$(bd create 'Train deacon role model' -t task -p 2 -l training,node0 ")
    assert commands[1] == f'bd update "${job.var}" --status in_progress'
    assert commands[3] == f"bd close \"${job.var}\" --reason 'registered deacon-v1@1'"
    _assert_valid(commands)
    rows = transitions(db, job.job_id)
    assert [(r["seq"], r["status"], r["replayed"]) for r in rows] == [
        (1, "open", False), (2, "in_progress", False), (3, "in_progress", False), (4, "closed", False)]
    assert rows[1]["argv"] == ["bd", "update", "{bead_id}", "--status", "in_progress"]
    assert job.commands == commands


def test_offline_jobs_replay_later_through_bd(db, monkeypatch, tmp_path, fake_bd):
    saved_path = __import__("os").environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    job = TrainingJob(db, "Train boot role model", echo=lambda s: None)
    job.start()
    job.close("done")
    monkeypatch.setenv("PATH", saved_path)  # bd becomes available
    [res] = replay(db)
    assert res == {"job_id": job.job_id, "bead_id": "gt-tr4x9", "ran": 3, "error": None}
    assert [c["argv"][:2] for c in fake_bd()] == [["create", "Train boot role model"], ["update", "gt-tr4x9"],
                                                 ["close", "gt-tr4x9"]]
    assert transitions(db, pending_only=True) == []
    assert replay(db) == []


def test_bd_failure_is_recorded_for_replay_not_raised(db, fake_bd, monkeypatch):
    monkeypatch.setenv("FAKE_BD_FAIL", "close")
    printed: list[str] = []
    job = TrainingJob(db, "Train crew role model", echo=printed.append)
    job.start()
    job.close("registered crew-v1@1")
    assert job.errors and "failed" in job.errors[0]
    pending = transitions(db, job.job_id, pending_only=True)
    assert [r["argv"] for r in pending] == [["bd", "close", "gt-tr4x9", "--reason", "registered crew-v1@1"]]
    assert printed[-1] == "bd close gt-tr4x9 --reason 'registered crew-v1@1'"
    _assert_valid(printed[1:])


def test_bad_job_arguments(db):
    with pytest.raises(ValueError, match="title is empty"):
        TrainingJob(db, "  ")
    with pytest.raises(ValueError, match="priority=7"):
        TrainingJob(db, "x", priority=7)


def test_training_job_depends_on_its_corpus_collection_bead(db, fake_bd, sample_town):
    cv_job, created = corpus_job(db, "cv-1a2b", summary="120 SFT examples, 9 DPO pairs from 4 sessions",
                                 cwd=sample_town, echo=lambda s: None)
    assert created and find_job(db, "corpus", "cv-1a2b") == cv_job
    assert corpus_job(db, "cv-1a2b", summary="same version again", echo=lambda s: None) == (cv_job, False)
    with TrainingJob(db, "Train dog task adapter", kind="task", subject="task:git-workflow:cv-1a2b",
                     depends_on=cv_job, cwd=sample_town, echo=lambda s: None) as job:
        job.phase("checkpoint", step=10, train_loss=1.25)
    argvs = [c["argv"] for c in fake_bd()]
    assert argvs[0][:2] == ["create", "Collect corpus cv-1a2b"] and "corpus,node0" in argvs[0]
    assert argvs[1] == ["update", "gt-tr4x9", "--status", "in_progress"]
    assert argvs[2][:2] == ["close", "gt-tr4x9"] and "120 SFT examples" in argvs[2][3]
    assert argvs[3][:2] == ["create", "Train dog task adapter"]
    assert argvs[4] == ["dep", "add", "gt-tr4x9.1", "gt-tr4x9"]  # the training bead depends on the corpus bead
    assert argvs[6] == ["update", "gt-tr4x9.1", "--append-notes", "phase: checkpoint done, step=10, train_loss=1.25"]
    assert len(argvs) == 8  # created, dep, in_progress, note, close: nothing more
    assert len(fake_bd()) == 8  # the reused corpus job issued no second create
    _assert_valid([shlex.join(["bd"] + a) for a in argvs])


def test_offline_dependency_prints_the_corpus_variable_and_replays_in_order(db, monkeypatch, fake_bd):
    saved_path = __import__("os").environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    printed: list[str] = []
    cv_job, _ = corpus_job(db, "cv-9f", summary="40 SFT examples", echo=printed.append)
    job = TrainingJob(db, "Train deacon role model (DPO)", kind="dpo", depends_on=cv_job, echo=printed.append)
    job.start()
    dep_line = f'bd dep add "${job.var}" "$JOB_{cv_job[4:12]}"'
    assert dep_line in printed
    _assert_valid([line for line in printed if not line.startswith("#")])
    monkeypatch.setenv("PATH", saved_path)
    results = replay(db)
    assert [r["error"] for r in results] == [None, None]
    assert [c["argv"] for c in fake_bd() if c["argv"][0] == "dep"] == [["dep", "add", "gt-tr4x9.1", "gt-tr4x9"]]


def test_unknown_job_kind_is_refused(db):
    with pytest.raises(ValueError, match="kind='model'"):
        TrainingJob(db, "x", kind="model")
