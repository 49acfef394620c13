"""Shared fixtures: paths to the reference example and a fresh DuckDB file per test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Compiled statements kept per user (aha.analyses.statement_cache): never the real home's cache; one directory for the
# session (and the commands it runs), so tests also see statements other files compiled.
os.environ["AHA_STATEMENT_CACHE"] = tempfile.mkdtemp(prefix="aha-statements-")
# Every test's log is far below the history a refresh is worth (aha.analyses.incremental.SMALLEST_HISTORY): refresh
# them all the same (and the commands they run), except where a test asks for the full build's choice.
os.environ["AHA_INCREMENTAL_FROM"] = "0"

ROOT = Path(__file__).resolve().parents[1]
# The reference example lives in ../shared beside the repo; the package bundles the same file as its template.
SHARED_EXAMPLE = ROOT.parent / "shared" / "examples" / "aha.yaml"
TEMPLATE = ROOT / "src" / "aha" / "definitions" / "template.yaml"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "aha.duckdb"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-user sample (`aha sample`) with its aha.yaml beside it: for tests of the server and its read API."""
    from tests.serving import aha

    folder = tmp_path_factory.mktemp("served")
    done = aha("sample", "--users", "300", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb"
