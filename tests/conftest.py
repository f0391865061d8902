"""Shared fixtures: isolated state dirs, the embedded town, and the real-data root.

Real-data tests use the ``real_root`` fixture: they skip with a reason when
``../shared/gastown-real`` is absent, and fail instead when
``GTFT_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``).

Tests marked ``native`` (they load llama.cpp) run in a child pytest (``tests/native_isolation.py``).
"""

import os
from pathlib import Path

import pytest

# @pytest.mark.native tests (llama.cpp) run in a child pytest: a native crash is a failed test
from native_isolation import (pytest_configure, pytest_runtest_logfinish, pytest_runtest_logreport,  # noqa: F401
                              pytest_runtest_logstart, pytest_runtest_protocol)

REPO = Path(__file__).resolve().parents[1]
REAL_ROOT = Path(os.environ.get("GTFT_REAL_DATA", REPO.parent / "shared" / "gastown-real"))
FORMATS_DOC = REAL_ROOT.parent / "docs" / "gastown-formats.md"

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """A fresh state dir, exported as GASTOWN_FT_HOME for the test."""
    path = tmp_path / "state"
    path.mkdir()
    monkeypatch.setenv("GASTOWN_FT_HOME", str(path))
    monkeypatch.delenv("GT_ROOT", raising=False)
    return path


@pytest.fixture
def sample_town(tmp_path) -> Path:
    """A writable copy of the embedded sample town."""
    import shutil

    from node0_ops.paths import EMBEDDED_TOWN

    dst = tmp_path / "town"
    shutil.copytree(EMBEDDED_TOWN, dst)
    return dst


@pytest.fixture(scope="session")
def real_root() -> Path:
    """``../shared/gastown-real``; skip (or fail under CI's flag) when absent."""
    if not REAL_ROOT.is_dir():
        msg = f"real Gas Town data not found at {REAL_ROOT} (CI provides ../shared/gastown-real)"
        if os.environ.get("GTFT_REQUIRE_REAL_DATA") == "1":
            pytest.fail(msg + "; GTFT_REQUIRE_REAL_DATA=1 makes this a failure")
        pytest.skip(msg)
    return REAL_ROOT


@pytest.fixture(scope="session")
def build_corpus():
    """``build_corpus(base_dir, state_name="state") -> (town, state, corpus_version)``: a copy of the
    embedded town under ``base_dir`` and a state dir with one corpus version built from it by the
    pipeline stages (collect, scrub, format)."""
    import shutil

    from node0_ops.corpus import pipeline, store
    from node0_ops.corpus.scrub import Scrubber
    from node0_ops.paths import EMBEDDED_TOWN

    def _build(base: Path, state_name: str = "state") -> tuple[Path, Path, str]:
        town, state = base / "town", base / state_name
        shutil.copytree(EMBEDDED_TOWN, town)
        db = store.open_db(state / "lineage.duckdb")
        pipeline.collect_stage(db, town)
        pipeline.scrub_stage(db, Scrubber())
        summary = pipeline.format_stage(db, town_root=str(town), out_dir=state / "artifacts" / "corpus")
        return town, state, summary["corpus_version"]

    return _build


@pytest.fixture(scope="session")
def real_corpus(real_root, tmp_path_factory) -> dict:
    """One corpus built like the main job's (embedded town + the real formulas and beads):
    ``{"db": LineageDB, "version": str, "export_dir": Path, "summary": dict}``."""
    import shutil

    from node0_ops.corpus import pipeline, store
    from node0_ops.corpus.scrub import Scrubber
    from node0_ops.paths import EMBEDDED_TOWN, real_data_extras

    base = tmp_path_factory.mktemp("real_corpus")
    town, state = base / "town", base / "state"
    shutil.copytree(EMBEDDED_TOWN, town)
    db = store.open_db(state / "lineage.duckdb")
    extras = real_data_extras(real_root)
    assert extras, f"no real formulas/beads under {real_root}"
    pipeline.collect_stage(db, town, extra_paths=extras)
    pipeline.scrub_stage(db, Scrubber())
    summary = pipeline.format_stage(db, town_root=str(town), out_dir=state / "corpus")
    assert summary["n_examples"] > 1000, summary["n_examples"]
    return {"db": db, "version": summary["corpus_version"], "export_dir": Path(summary["export_dir"]), "summary": summary}
