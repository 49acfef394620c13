"""Account milestones cannot be compared per user: evaluate, retention and paths say so, naming the milestone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.analyses.conftest import AS_OF, JOURNEYS
from tests.journeys import write_events

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 3d}
milestones:
  - {id: m1, event: A, within: 1d, level: primary}
  - {id: m2, event: B, within: 2d}
  - {id: busy, name: Busy workspace, event: A, count: 2, within: 1d, entity: account}
"""
NOTE = ("account milestone 'busy' (Busy workspace) is left out: {what}, and it is reached per account, not per user; "
        "`aha report` shows its time to value")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("left_out") / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, parse(YAML))


def test_each_user_comparison_names_the_account_milestone(project):
    evaluate, retention = project.evaluate(as_of=AS_OF), project.retention(as_of=AS_OF)
    by_month, paths = project.revalidate(as_of=AS_OF), project.paths(as_of=AS_OF)
    assert evaluate.notes == by_month.notes == (NOTE.format(what="validation compares users"),)
    assert retention.notes == (NOTE.format(what="retention curves compare users"),)
    assert paths.notes == (NOTE.format(what="paths follow users through the funnel"),)
    assert {r.milestone_id for g in evaluate.groups for r in g.rows} == {"m1", "m2"}  # still left out, but said


def test_no_note_without_an_account_milestone(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    plain = Project(store, parse(YAML.split("  - {id: busy")[0]))
    assert plain.evaluate(as_of=AS_OF).notes == plain.retention(as_of=AS_OF).notes == ()


def test_the_cli_prints_the_note(project, tmp_path):
    project.store.close()
    (tmp_path / "aha.yaml").write_text(YAML)
    aha_bin = shutil.which("aha", path=str(Path(sys.executable).parent))
    assert aha_bin
    for command in ("evaluate", "retention", "paths"):
        done = subprocess.run([aha_bin, command, "--db", str(project.store.path), "--as-of", "2026-01-10T00:00:00"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert "note: account milestone 'busy' (Busy workspace) is left out" in " ".join(done.stdout.split()), command
