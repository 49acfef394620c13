"""A checklist's statuses are shown in words, the same on the dashboard's user page and in `aha state`
(aha.guidance.checklist.STATUS_LABELS): a reader saw the raw tokens `not_applicable` and `in_progress` on
/users/{id}. The API and `--json` keep the tokens (docs/results.md).

One user u1 (persona viewer), as of 2026-01-02: `sso` is scoped to admins (not applicable), `connect` reached,
`invite` (within 7d) still open, `project` (within 1h) missed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from aha.store import open_store
from tests.journeys import write_events
from tests.serving import dashboard_page

YAML = """
signup: {event: Signed Up}
milestones:
  - {id: connect, name: Connected, event: Connected, within: 1d, level: primary}
  - {id: invite, name: Invited, event: Invited, within: 7d}
  - {id: project, name: Project, event: Project, within: 1h}
  - {id: sso, name: SSO set up, event: SSO, within: 7d, scope: {persona: admin}}
"""
LABELS = {"connect": "reached", "invite": "in progress (window open)", "project": "missed (window closed)",
          "sso": "not applicable (outside the milestone's scope)"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("labels")
    store = open_store(folder / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", "2026-01-01T00:00", {"persona": "viewer"}),
                         ("u1", "Connected", "2026-01-01T02:00")])
    store.close()
    (folder / "aha.yaml").write_text(YAML, encoding="utf-8")
    return folder


def test_the_user_page_shows_each_status_in_words(folder: Path):
    import re

    html = dashboard_page(folder / "aha.duckdb", folder / "aha.yaml", "/users/u1?as_of=2026-01-02")
    shown = dict(re.findall(r'data-metric="user\.(\w+)\.status">([^<]*)<', html))
    assert {k: v.replace("&#39;", "'") for k, v in shown.items()} == LABELS
    assert "not_applicable" not in html and "in_progress" not in html


def test_aha_state_shows_the_same_words(folder: Path):
    from typer.testing import CliRunner

    from aha.surfaces.cli import app as cli

    cli._register()
    with contextlib.chdir(folder):
        done = CliRunner().invoke(cli.app, ["state", "u1", "--as-of", "2026-01-02"], env={"COLUMNS": "300"})
    assert done.exit_code == 0, done.output
    for label in [v for k, v in LABELS.items() if k != "connect"]:
        assert label in done.output
    assert "not_applicable" not in done.output and "in_progress" not in done.output
