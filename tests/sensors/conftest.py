"""Sensor fixtures: one baseline corpus per test module, a fresh state copy per test, town edits undone.

The baseline corpus is built once per module with the pipeline stages directly (collect,
scrub with ``Scrubber()``, format) on a copy of the embedded sample town. Each test gets its
own state dir holding a copy of that lineage DB, a real Dagster instance (``instance_for_test``)
and an ``edit``/``add`` helper whose changes to the shared town are undone afterwards.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from node0_ops.corpus import store
from resources import LineageResource, ScrubberResource, TownResource
from resources.handles import HandleIOManager


@dataclass
class Baseline:
    town: Path
    state: Path
    corpus_version: str


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, build_corpus) -> Baseline:
    """The sample town and a state dir with one corpus version built from it."""
    return Baseline(*build_corpus(tmp_path_factory.mktemp("sensors"), "state0"))


@dataclass
class Env:
    town: Path
    state: Path
    corpus_version: str | None
    instance: dg.DagsterInstance
    originals: dict = field(default_factory=dict)
    added: list = field(default_factory=list)

    @property
    def resources(self) -> dict:
        return {"town": TownResource(root=str(self.town), state_dir=str(self.state)),
                "lineage": LineageResource(state_dir=str(self.state)), "scrubber": ScrubberResource(),
                "io_manager": HandleIOManager()}

    def db(self):
        return store.open_db(self.state / "lineage.duckdb")

    def edit(self, rel: str, new_text: str) -> Path:
        path = self.town / rel
        self.originals.setdefault(path, path.read_bytes())
        path.write_text(new_text)
        return path

    def append(self, rel: str, text: str) -> Path:
        return self.edit(rel, (self.town / rel).read_text() + text)

    def add(self, rel: str, text: str, age_s: float = 3600) -> Path:
        path = self.town / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.added.append(path)
        old = path.stat().st_mtime - age_s
        os.utime(path, (old, old))
        return path

    def tick(self, sensor, cursor: str | None = None, definitions=None):
        """Evaluate ``sensor`` once, as the daemon would (direct invocation)."""
        ctx = dg.build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources,
                                      definitions=definitions)
        return sensor(ctx)

    def restore(self) -> None:
        for path, data in self.originals.items():
            path.write_bytes(data)
        for path in self.added:
            path.unlink(missing_ok=True)


@pytest.fixture
def env(baseline, state, tmp_path, monkeypatch):
    """Fresh state (copy of the baseline DB) + Dagster test instance; town edits undone on exit."""
    shutil.copy(baseline.state / "lineage.duckdb", state / "lineage.duckdb")
    yield from _env(baseline.town, state, baseline.corpus_version, tmp_path, monkeypatch)


@pytest.fixture
def bare_env(sample_town, state, tmp_path, monkeypatch):
    """An own sample-town copy, an empty state dir and a Dagster test instance (no corpus)."""
    yield from _env(sample_town, state, None, tmp_path, monkeypatch)


def _env(town, state, version, tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-home"))   # never read the real ~/.claude
    for var in ("GTFT_DRIFT_THRESHOLD", "GTFT_SESSION_MIN_AGE_S", "GTFT_ROLLBACK_ON_REGRESSION"):
        monkeypatch.delenv(var, raising=False)
    with dg.instance_for_test() as instance:
        e = Env(town, state, version, instance)
        try:
            yield e
        finally:
            e.restore()
