"""Every user mistake, through the real console script: exit code 2, one line naming the problem and the fix, no
traceback; and bad rows in an input file are set aside while the good ones are kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")

GOOD_YAML = """signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
segments: [plan]
milestones:
  - {id: first, event: Used, within: 1d, level: primary}
"""
EVENTS_CSV = """user_id,event,timestamp,plan
u1,Signed Up,2026-01-01T09:00:00Z,pro
u1,Used,2026-01-01T10:00:00Z,
u2,Signed Up,2026-01-02T09:00:00Z,free
u2,Used,yesterday,
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def imported(path: Path, definitions: str, events_csv: str) -> Path:
    """A folder with aha.yaml and events.csv, the events imported by the console script."""
    (path / "aha.yaml").write_text(definitions)
    (path / "events.csv").write_text(events_csv)
    done = run("import", "events.csv", cwd=path)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return imported(tmp_path_factory.mktemp("cli"), GOOD_YAML, EVENTS_CSV)


MISTAKES = [
    pytest.param(["validate", "bad.yaml"], "signup: {event: X\nmilestones: []\n",
                 "error: bad.yaml: line 2, column 11: not valid YAML: expected ',' or '}', but got ':'. Check "
                 "indentation and that values with ':' are quoted.", id="malformed_yaml"),
    pytest.param(["validate", "bad.yaml"], GOOD_YAML.replace("within: 1d", "within: 1d, widnow: 2d"),
                 "error: bad.yaml: milestones[0].widnow: unknown key 'widnow'. Did you mean 'within'?",
                 id="unknown_key"),
    pytest.param(["validate", "bad.yaml"], GOOD_YAML.replace("within: 1d", "within: -1d"),
                 "error: bad.yaml: milestones[0].within: '-1d' must be a positive duration, such as \"1d\".",
                 id="negative_window"),
    pytest.param(["report", "--config", "missing.yaml"], None,
                 "error: missing.yaml: no such file. Run `aha init` to write a commented one, or pass --config PATH.",
                 id="missing_config"),
    pytest.param(["report", "--db", "nothing.duckdb"], None,
                 "error: nothing.duckdb: no such database. Create one with `aha sample` or `aha import FILE --db "
                 "nothing.duckdb`.", id="missing_db"),
    pytest.param(["report", "--as-of", "last tuesday"], None,
                 "error: --as-of 'last tuesday' is not a date or time; write 2026-06-30 or 2026-06-30T12:00:00Z.",
                 id="bad_as_of"),
    pytest.param(["report", "--segment", "plna"], None,
                 "error: --segment 'plna': no user trait or signup-event property of that name. Did you mean "
                 "'plan'? Known: 'plan'.", id="unknown_segment"),
    pytest.param(["init"], None,
                 "error: aha.yaml already exists; pass --force to overwrite it, or choose another path.",
                 id="init_exists"),
    pytest.param(["import", "nope.csv"], None,
                 "error: nope.csv: no such file. Check the path (quote globs: 'exports/*.csv').",
                 id="import_missing_file"),
]


@pytest.mark.parametrize(("args", "bad_yaml", "message"), MISTAKES)
def test_user_mistake_is_one_line_and_exit_2(folder, args, bad_yaml, message):
    if bad_yaml is not None:
        (folder / "bad.yaml").write_text(bad_yaml)
    done = run(*args, cwd=folder)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == message


def test_bad_rows_are_set_aside_and_good_rows_kept(folder):
    con = duckdb.connect(str(folder / "aha.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (3,)
    assert con.execute("SELECT line, reason FROM dead_letters").fetchall() == [(5, "unparseable timestamp")]
    con.close()


def test_non_json_line_is_set_aside_and_good_lines_kept(tmp_path):
    (tmp_path / "events.jsonl").write_text(
        '{"user_id": "u1", "event": "Signed Up", "timestamp": "2026-01-01T09:00:00Z"}\n'
        "this is not json\n"
        '{"user_id": "u1", "event": "Used", "timestamp": "2026-01-01T10:00:00Z"}\n'
    )
    done = run("import", "events.jsonl", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "aha.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (2,)
    assert con.execute("SELECT line FROM dead_letters").fetchall() == [(2,)]
    con.close()


def test_report_runs_on_the_imported_file(folder):
    done = run("report", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert '"signed_up_users": 2' in done.stdout


def test_an_as_of_long_after_the_data_is_answered_with_a_note(folder: Path) -> None:
    """The data ends on January 2nd; --as-of in June would count every open window as missed if the export simply
    ends there: one yellow line on stderr says so, and the JSON on stdout is untouched (and still parses)."""
    import json

    done = run("report", "--as-of", "2026-06-30", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    # the data has no `Paid` event: the report also names that (a milestone reached by nobody), on its own line
    as_of_note, *others = done.stderr.strip().split("\nnote: ")
    assert as_of_note == (
        "note: as of 2026-06-30 23:59:59 is 179 days after the latest event (2026-01-02 09:00:00 UTC): users whose "
        "windows close in between count as having missed them. If the data ends earlier than that, leave --as-of "
        "out or give 2026-01-02.")
    assert [" ".join(o.split()) for o in others] == [
        "paid.event: no event 'Paid' in the data. What reads it counts nobody (`aha validate` checks every name)."]
    assert json.loads(done.stdout)["overview"]["as_of"].startswith("2026-06-30T23:59:59")
    quiet = run("report", "--as-of", "2026-01-02", "--json", cwd=folder)  # the same day: no note
    assert quiet.returncode == 0 and "after the latest event" not in quiet.stderr


def test_version(folder: Path) -> None:
    done = run("--version", cwd=folder)
    assert done.returncode == 0 and done.stdout.startswith("aha ")
