"""Progress toward a milestone is written as a reader writes numbers, in `aha state` and on the dashboard's user
page (aha.surfaces.amounts): a `sum` of 12,345 rows read "1.234e+04 of 5e+04 rows (sum)" (Python's `g` format
turns five digits into an exponent), and one event read "1 events".

One user u1, signed up 2026-01-01: `first_project` (count 1) reached with 1 event; `rows` (sum of `rows` at
least 50,000) in progress with 12,000 + 345 = 12,345; `big_import` (sum at least 10,000) reached with 12,345."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from aha.store import open_store
from aha.surfaces.amounts import amount
from tests.journeys import write_events
from tests.serving import dashboard_page

YAML = """
signup: {event: Signed Up}
milestones:
  - {id: first_project, name: First project, event: Project Created, within: 7d, level: primary}
  - {id: rows, name: Rows, event: Data Imported, sum: {property: rows, at_least: 50000}, within: 7d}
  - {id: big_import, name: Big import, event: Data Imported, sum: {property: rows, at_least: 10000}, within: 7d}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("amounts")
    store = open_store(folder / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", "2026-01-01T00:00"), ("u1", "Project Created", "2026-01-01T01:00"),
                         ("u1", "Data Imported", "2026-01-01T02:00", {"rows": 12000}),
                         ("u1", "Data Imported", "2026-01-01T03:00", {"rows": 345})])
    store.close()
    (folder / "aha.yaml").write_text(YAML, encoding="utf-8")
    return folder


def test_aha_state_writes_whole_numbers_and_one_event(folder: Path):
    from typer.testing import CliRunner

    from aha.surfaces.cli import app as cli

    cli._register()
    with contextlib.chdir(folder):
        done = CliRunner().invoke(cli.app, ["state", "u1", "--as-of", "2026-01-02"], env={"COLUMNS": "300"})
    assert done.exit_code == 0, done.output
    assert "1 event (needed 1)" in done.output
    assert "12,345 of 50,000 rows (sum)" in done.output
    assert "12,345 rows (sum) (needed 10,000)" in done.output
    assert "e+0" not in done.output and "1 events" not in done.output


def test_the_user_page_writes_the_same_numbers(folder: Path):
    html = dashboard_page(folder / "aha.duckdb", folder / "aha.yaml", "/users/u1?as_of=2026-01-02")
    cells = re.findall(r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>', html)
    assert ("12,345", "50,000") in cells and ("12,345", "10,000") in cells and ("1", "1") in cells
    assert "e+0" not in html


@pytest.mark.parametrize(("value", "shown"), [(12345, "12,345"), (1e6, "1,000,000"), (0.5, "0.5"),
                                              (1234.567, "1,234.57"), (2.0, "2"), (0.004, "0.004")])
def test_amount(value: float, shown: str):
    assert amount(value) == shown
