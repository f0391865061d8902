"""Training jobs as beads: each job walks the bead lifecycle with real ``bd`` commands.

Lifecycle (``gastown-formats.md`` §2.4 ``bd create|update|close``)::

    bd create "<title>" -t task -p 2 -l training,node0 -d "<description>" --silent   # prints the id
    bd dep add <id> <corpus-bead-id>                                                   # when it depends on one
    bd update <id> --status in_progress
    bd update <id> --append-notes "phase: train done, loss=0.41"                      # one per phase
    bd close <id> --reason "registered polecat-v3@3"

When ``bd`` is on PATH (``shutil.which("bd")``) it is run (in ``cwd``, the town root by default)
and the id ``--silent`` prints is captured. When it is not, nothing is lost: each transition
is stored in ``bead_transitions`` (job id, seq, argv JSON with a ``{bead_id}`` placeholder,
status, ts) and the exact shell commands are printed, the id held in a shell variable::

    JOB_1a2b3c4d=$(bd create "Train polecat" -t task -p 2 -l training,node0 -d "..." --silent)
    bd update "$JOB_1a2b3c4d" --status in_progress

:func:`replay` runs the stored commands later, once ``bd`` is available. A failing ``bd`` call
never fails the training job: it is recorded as not replayed and reported.

A job may depend on another job's bead (``depends_on=<job_id>``; a training job on the
corpus-collection job of the corpus version it trains on, see :func:`corpus_job`). Its argv holds
``{bead:<job_id>}``, resolved to that job's bead id when run or replayed (``"$JOB_..."`` offline).

Usage::

    from node0_ops.registry.beads import TrainingJob
    with TrainingJob(db, "Train polecat role model", description="corpus cv-1, rank 8", cwd=town) as job:
        job.phase("train", loss=0.41)
        job.phase("eval", overall=0.72)
        job.close("registered polecat-v3@3")
"""

import json
import logging
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Callable

from node0_ops.lineage.db import LineageDB, upsert
from node0_ops.registry.store import now_utc

log = logging.getLogger(__name__)
PLACEHOLDER = "{bead_id}"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_OTHER = re.compile(r"^\{bead:(job-[0-9a-f]+)\}$")
JOB_KINDS = ("corpus", "role", "task", "dpo")


def job_var(job_id: str) -> str:
    """Shell variable that holds ``job_id``'s bead id in printed commands (``JOB_1a2b3c4d``)."""
    return "JOB_" + job_id[4:12]


def other_bead(job_id: str) -> str:
    """argv placeholder for the bead of another job (resolved when run or replayed)."""
    return "{bead:" + job_id + "}"


def bead_of(db: LineageDB, job_id: str) -> str | None:
    """The bead id ``bd create`` gave ``job_id`` (None while it only exists as recorded commands)."""
    return db.scalar("select max(bead_id) from bead_transitions where job_id = ?", [job_id])


def shell_line(argv: list[str], var: str) -> str:
    """Shell text of one command, the bead id as ``"$var"`` (the create line assigns it); another
    job's unresolved bead as that job's variable."""
    def word(a: str) -> str:
        if a == PLACEHOLDER:
            return f'"${var}"'
        other = _OTHER.match(a)
        return f'"${job_var(other.group(1))}"' if other else shlex.quote(a)
    words = " ".join(word(a) for a in argv)
    return f"{var}=$({words})" if argv[1:2] == ["create"] else words


def _stored_word(db: LineageDB, a: str, bead_id: str | None) -> str:
    """``a`` with a bead id filled in where it is known, else the placeholder kept for replay."""
    if a == PLACEHOLDER:
        return bead_id or a
    other = _OTHER.match(a)
    return (bead_of(db, other.group(1)) or a) if other else a


def _resolve(db: LineageDB, argv: list[str], bead_id: str | None) -> list[str] | None:
    """argv with this job's and other jobs' bead ids filled in; None when one is not known yet."""
    out = [_stored_word(db, a, bead_id) for a in argv]
    return None if any(a == PLACEHOLDER or _OTHER.match(a) for a in out) else out


class TrainingJob:
    """One job (a corpus collection or a role, task or DPO training) tracked as a bead.

    Args:
        db: lineage DB (``bead_transitions`` lives there).
        title: bead title.  description: ``-d`` text.  labels / priority / issue_type: ``-l`` / ``-p`` / ``-t``.
        bd: path of the ``bd`` binary; ``"auto"`` looks it up on PATH, None forces offline recording.
        cwd: folder ``bd`` runs in (the town root, so it finds ``.beads``).
        echo: where offline commands are printed (default ``print``).
        keep_open: leaving the ``with`` block without an error does not close the bead (the job
            goes on in later stages: export, eval, registry; :meth:`resume` picks it up there).
        kind / subject: what the job is (one of ``JOB_KINDS``) and of what (stored in ``bead_jobs``).
        depends_on: job id whose bead this bead depends on (``bd dep add <id> <that id>`` after create).

    Attributes:
        job_id: ``job-<hex>``.  bead_id: the id ``bd create`` printed (None offline).
        commands: shell text of every transition issued so far.
    """

    def __init__(self, db: LineageDB, title: str, *, description: str = "", labels: tuple[str, ...] = ("training", "node0"),
                 priority: int = 2, issue_type: str = "task", bd: str | None = "auto", cwd: str | Path | None = None,
                 echo: Callable[[str], None] = print, keep_open: bool = False, kind: str = "role",
                 subject: str | None = None, depends_on: str | None = None):
        if not title.strip():
            raise ValueError("TrainingJob title is empty; give the bead a title such as 'Train polecat role model'")
        if not 0 <= int(priority) <= 4:
            raise ValueError(f"priority={priority}: bd priorities are 0 (critical) to 4 (backlog)")
        if kind not in JOB_KINDS:
            raise ValueError(f"kind={kind!r}: a job is one of {', '.join(JOB_KINDS)}")
        self.kind, self.subject, self.depends_on = kind, subject or title, depends_on
        self.db, self.title, self.description = db, title, description
        self.labels, self.priority, self.issue_type = tuple(labels), int(priority), issue_type
        self.bd = shutil.which("bd") if bd == "auto" else bd
        self.cwd = str(cwd) if cwd else None
        self.echo = echo
        self.job_id = f"job-{uuid.uuid4().hex[:10]}"
        self.var = job_var(self.job_id)
        self.bead_id: str | None = None
        self.status = "new"
        self.seq = 0
        self.commands: list[str] = []
        self.errors: list[str] = []
        self._announced = False
        self.keep_open = keep_open

    @classmethod
    def resume(cls, db: LineageDB, job_id: str, *, bd: str | None = "auto", cwd: str | Path | None = None,
               echo: Callable[[str], None] = print) -> "TrainingJob":
        """The job ``job_id`` as its last transition left it, to add notes or close it in a later stage.

        Raises:
            KeyError: no transitions recorded for ``job_id``.
        """
        rows = sorted(transitions(db, job_id), key=lambda r: r["seq"])
        if not rows:
            raise KeyError(f"training job {job_id} has no recorded bead transitions")
        create = rows[0]["argv"]
        job = cls(db, create[2] if len(create) > 2 else job_id, bd=bd, cwd=cwd, echo=echo)
        job.job_id, job.var = job_id, job_var(job_id)
        job.bead_id = next((r["bead_id"] for r in reversed(rows) if r["bead_id"]), None)
        job.seq, job.status = max(r["seq"] for r in rows), rows[-1]["status"]
        if job.bead_id is None:
            job.bd = None           # its create never reached bd: keep recording for replay
        return job

    @property
    def online(self) -> bool:
        """True while commands go to a real ``bd`` (it is on PATH and ``create`` returned an id)."""
        return self.bd is not None and (self.bead_id is not None or self.seq == 0)

    def _run(self, argv: list[str], status: str) -> str | None:
        out = None
        ran = False
        resolved = _resolve(self.db, argv, self.bead_id) if self.online else None
        if resolved is not None:
            real = [self.bd] + resolved[1:]
            try:
                proc = subprocess.run(real, cwd=self.cwd, capture_output=True, text=True, timeout=60)
                if proc.returncode != 0:
                    raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[:300]}")
                out = proc.stdout.strip()
                ran = True
            except (OSError, subprocess.TimeoutExpired, RuntimeError) as exc:
                msg = f"{shell_line(argv, self.var)} failed ({exc}); recorded for replay"
                log.warning(msg)
                self.errors.append(msg)
        self.seq += 1
        stored = [_stored_word(self.db, a, self.bead_id) for a in argv]
        line = shell_line(stored, self.var)
        self.commands.append(line)
        self.status = status
        with self.db.write() as con:
            upsert(con, "bead_transitions", [{"job_id": self.job_id, "seq": self.seq, "argv": json.dumps(stored),
                                              "status": status, "ts": now_utc(), "bead_id": self.bead_id,
                                              "replayed": ran}])
        if not ran:
            if not self._announced:
                self.echo("# bd is not on PATH (or failed): replay these commands in the town to record the job")
                self._announced = True
            self.echo(line)
        return out

    def start(self) -> str:
        """``bd create`` (+ ``bd dep add`` when it depends on a job) + ``bd update --status in_progress``;
        returns the bead id (or ``$JOB_...``)."""
        argv = ["bd", "create", self.title, "-t", self.issue_type, "-p", str(self.priority)]
        if self.labels:
            argv += ["-l", ",".join(self.labels)]
        if self.description:
            argv += ["-d", self.description]
        argv.append("--silent")
        out = self._run(argv, "open")
        if out is not None:
            last = out.splitlines()[-1].strip() if out else ""
            if _ID.match(last):
                self.bead_id = last
                with self.db.write() as con:
                    con.execute("update bead_transitions set bead_id = ? where job_id = ?", [last, self.job_id])
            else:
                self.errors.append(f"bd create printed no id ({out[:80]!r}); continuing offline")
                self.bd = None
        with self.db.write() as con:
            upsert(con, "bead_jobs", [{"job_id": self.job_id, "kind": self.kind, "subject": self.subject,
                                       "depends_on": self.depends_on, "created_at": now_utc()}])
        if self.depends_on:
            self._run(["bd", "dep", "add", PLACEHOLDER, other_bead(self.depends_on)], "open")
        self._run(["bd", "update", PLACEHOLDER, "--status", "in_progress"], "in_progress")
        return self.bead_id or f"${self.var}"

    def note(self, text: str) -> None:
        """``bd update <id> --append-notes "<text>"``."""
        self._run(["bd", "update", PLACEHOLDER, "--append-notes", text], self.status)

    def phase(self, name: str, **metrics) -> None:
        """Note ``phase: <name> done, k=v, ...`` (metrics as given, floats to 4 digits)."""
        parts = [f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in metrics.items()]
        self.note(f"phase: {name} done" + (", " + ", ".join(parts) if parts else ""))

    def fail(self, reason: str) -> None:
        """Note the failure and mark the bead ``blocked`` (left open for a human)."""
        self.note(f"phase: failed, {reason}")
        self._run(["bd", "update", PLACEHOLDER, "--status", "blocked"], "blocked")

    def close(self, reason: str) -> None:
        """``bd close <id> --reason "<reason>"``."""
        self._run(["bd", "close", PLACEHOLDER, "--reason", reason], "closed")

    def __enter__(self) -> "TrainingJob":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self.fail(f"{exc_type.__name__}: {exc}"[:300])
        elif self.status not in ("closed", "blocked") and not self.keep_open:
            self.close("done")


def find_job(db: LineageDB, kind: str, subject: str) -> str | None:
    """Job id of the newest ``kind`` job on ``subject`` (from ``bead_jobs``), None when there is none."""
    return db.scalar("select job_id from bead_jobs where kind = ? and subject = ? order by created_at desc limit 1",
                     [kind, subject])


def corpus_job(db: LineageDB, corpus_version: str, *, summary: str, bd: str | None = "auto",
               cwd: str | Path | None = None, echo: Callable[[str], None] = print) -> tuple[str, bool]:
    """The corpus-collection job of ``corpus_version``: ``(job_id, created_now)``.

    The first time a version is seen its bead is created (labels ``corpus,node0``, description
    ``summary``: examples, pairs, source sessions) and closed as built; training jobs on that
    version depend on it. A version seen again (nothing changed upstream) reuses its job.
    """
    found = find_job(db, "corpus", corpus_version)
    if found:
        return found, False
    job = TrainingJob(db, f"Collect corpus {corpus_version}", description=summary, labels=("corpus", "node0"),
                      kind="corpus", subject=corpus_version, bd=bd, cwd=cwd, echo=echo)
    job.start()
    job.close(f"corpus {corpus_version} built: {summary}"[:400])
    return job.job_id, True


def transitions(db: LineageDB, job_id: str | None = None, *, pending_only: bool = False) -> list[dict]:
    """``bead_transitions`` rows (argv decoded) with their job's ``kind``, by time then job then seq."""
    sql = "select t.*, j.kind from bead_transitions t left join bead_jobs j on j.job_id = t.job_id where 1=1"
    params: list = []
    if job_id:
        sql, params = sql + " and t.job_id = ?", [job_id]
    if pending_only:
        sql += " and not coalesce(t.replayed, false)"
    rows = db.query(sql + " order by t.ts, t.job_id, t.seq", params)
    for r in rows:
        r["argv"] = json.loads(r["argv"])
    return rows


def replay(db: LineageDB, *, bd: str | None = None, cwd: str | Path | None = None) -> list[dict]:
    """Run every job's not-yet-replayed transitions through ``bd`` in order.

    A job whose ``create`` was never replayed gets its id from the create output; later
    commands use it. Stops a job at its first failing command.

    Returns:
        ``[{"job_id", "bead_id", "ran": n, "error": str | None}]``.

    Raises:
        FileNotFoundError: no ``bd`` binary.
    """
    bd = bd or shutil.which("bd")
    if not bd:
        raise FileNotFoundError("bd is not on PATH; install beads or pass bd=/path/to/bd")
    results = []
    by_job: dict[str, list[dict]] = {}
    for row in transitions(db, pending_only=True):
        by_job.setdefault(row["job_id"], []).append(row)
    for job_id, rows in by_job.items():
        known = bead_of(db, job_id)
        ran, error = 0, None
        for row in rows:
            argv = row["argv"]
            if argv[1:2] != ["create"] and not known:
                error = "no bead id: the create step never ran"
                break
            filled = _resolve(db, argv, known)
            if filled is None:
                error = f"{shell_line(argv, job_var(job_id))}: the bead it depends on was never created"
                break
            real = [bd] + filled[1:]
            proc = subprocess.run(real, cwd=str(cwd) if cwd else None, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                error = f"{shlex.join(real)}: exit {proc.returncode}: {proc.stderr.strip()[:200]}"
                break
            if argv[1:2] == ["create"]:
                known = proc.stdout.strip().splitlines()[-1].strip() if proc.stdout.strip() else None
            with db.write() as con:
                con.execute("update bead_transitions set replayed = true, bead_id = ? where job_id = ? and seq = ?",
                            [known, job_id, row["seq"]])
            ran += 1
        results.append({"job_id": job_id, "bead_id": known, "ran": ran, "error": error})
    return results
