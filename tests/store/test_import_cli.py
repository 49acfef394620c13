"""`aha import` through the real console script: one red line and exit 2 for a mistake, a summary for a good file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_missing_column_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("distinct_id,event_name,ts\nu1,a,2026-01-01\n")
    done = run("import", "events.csv", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "error: events.csv: no columns 'user_id', 'event', 'timestamp' (columns: distinct_id, event_name, ts). "
        "Map them with --map user_id=distinct_id,event=event_name,timestamp=ts"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("header", "hint"), [
    # Heap's CSV export: the event's name is `type`; `event_id` is its id. The hint said event=event_id, which
    # would make every event a name of its own.
    pytest.param("user_id,event_id,session_id,time,type,library,identity",
                 "--map event=type,timestamp=time,message_id=event_id (event_id is a usual name for message_id)",
                 id="heap"),
    pytest.param("event_id,uid,ts", "--map user_id=uid,event=COLUMN,timestamp=ts,message_id=event_id (event_id is "
                 "a usual name for message_id)", id="no_event_name_column"),
])
def test_a_column_usual_for_another_is_never_suggested_by_closeness(tmp_path: Path, header: str, hint: str) -> None:
    (tmp_path / "events.csv").write_text(header + "\n" + ",".join("1" for _ in header.split(",")) + "\n")
    done = run("import", "events.csv", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(hint), done.stderr


def test_good_file_prints_summary_and_reimport_counts_duplicates(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(
        "distinct_id,event_name,ts\nu1,signup,2026-01-01 10:00\nu2,signup,later\n"  # unparseable timestamp -> rejected
    )
    args = (
        "import",
        "events.csv",
        "--db",
        "aha.duckdb",
        "--map",
        "user_id=distinct_id,event=event_name",
        "--map",
        "timestamp=ts",
    )
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1 file: 2 rows read, 1 imported, 0 duplicates skipped, 1 rejected"
    assert lines[1] == "  1 × unparseable timestamp"
    again = run(*args, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["rows_read"], summary["imported"], summary["duplicates"], summary["rejected"]) == (2, 0, 1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--map", "user_id"), "error: --map 'user_id': write CANONICAL=COLUMN, e.g. --map user_id=distinct_id."),
        (("--timezone", "Mars/Base"), "error: unknown time zone 'Mars/Base'."),
    ],
)
def test_option_mistakes_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "e.csv").write_text("event,user_id,timestamp\na,u1,2026-01-01\n")
    done = run("import", "e.csv", "--db", "aha.duckdb", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1


# A PostHog-like export (issue 13 item 2): 10 rows, all with a distinct_id, only lines 2 and 3 with an anonymous_id.
EXPORT = "event_name,distinct_id,anonymous_id,ts\n" + "".join(
    f"View,user{i},{'anon' + str(i) if i < 2 else ''},2026-01-0{i % 9 + 1} 10:00\n" for i in range(10))


def test_the_hint_maps_every_expected_column_and_a_mostly_rejected_import_fails(tmp_path: Path) -> None:
    """Before: the hint left out user_id=distinct_id (anonymous_id already "was a user column"); following it
    imported the 2 rows with an anonymous id, rejected 8, and exited 0."""
    (tmp_path / "export.csv").write_text(EXPORT)
    hint = run("import", "export.csv", "--db", "aha.duckdb", cwd=tmp_path)
    assert (hint.returncode, hint.stderr.strip()) == (2, (
        "error: export.csv: no columns 'event', 'timestamp' (columns: event_name, distinct_id, anonymous_id, ts). "
        "Map them with --map event=event_name,timestamp=ts,user_id=distinct_id (distinct_id is a usual name for "
        "user_id)"))
    partial = run("import", "export.csv", "--db", "aha.duckdb", "--map", "event=event_name,timestamp=ts",
                  cwd=tmp_path)
    assert (partial.returncode, partial.stderr.strip()) == (2, (
        "error: export.csv: 8 of 10 rows would be rejected (8 × no user_id and no anonymous_id), so nothing of it "
        "was imported. Did you mean --map user_id=distinct_id? To import the other 2 rows and keep the rejected "
        "ones as dead letters, add --allow-rejects."))
    accepted = run("import", "export.csv", "--db", "other.duckdb", "--map", "event=event_name,timestamp=ts",
                   "--allow-rejects", "--json", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert [json.loads(accepted.stdout)[k] for k in ("imported", "rejected")] == [2, 8]
    followed = run("import", "export.csv", "--db", "aha.duckdb", "--map",
                   "event=event_name,timestamp=ts,user_id=distinct_id", "--json", cwd=tmp_path)
    assert followed.returncode == 0, followed.stderr
    summary = json.loads(followed.stdout)
    assert [summary[k] for k in ("rows_read", "imported", "rejected")] == [10, 10, 0]  # the refusal stored nothing


@pytest.mark.parametrize(("name", "unpack"), [
    pytest.param("export.zip", "unzip export.zip -d export", id="zip"),
    pytest.param("export.tar.gz", "mkdir export && tar -xf export.tar.gz -C export", id="tar_gz"),
])
def test_an_archive_is_refused_naming_how_to_unpack_it(tmp_path: Path, name: str, unpack: str) -> None:
    """Amplitude's export is a zip of .json.gz files; before: `unknown file type '.zip'` and a list of extensions."""
    (tmp_path / name).write_bytes(b"PK\x03\x04")
    done = run("import", name, "--db", "aha.duckdb", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, (
        f"error: {name}: an archive; aha reads the files inside it. Unpack it and import those: {unpack}, then aha "
        "import 'export/**/*.json.gz' (Amplitude's export is a zip of hourly .json.gz files; map its columns as "
        "docs/import.md says)."))


@pytest.mark.parametrize(("name", "convert"), [
    pytest.param("ps.csv", "iconv -f UTF-16 -t UTF-8 ps.csv > ps-utf8.csv", id="csv"),
    pytest.param("ps.jsonl", "iconv -f UTF-16 -t UTF-8 ps.jsonl > ps-utf8.jsonl", id="jsonl"),
    pytest.param("ps.csv.gz", "gunzip -c ps.csv.gz | iconv -f UTF-16 -t UTF-8 > ps-utf8.csv", id="gzip"),
])
def test_a_utf16_file_is_refused_naming_the_conversion(tmp_path: Path, name: str, convert: str) -> None:
    """Windows PowerShell's `>` writes UTF-16; a CSV so written was refused for 'no columns' listing names full of
    \\u0000 and suggesting to --map them. After the suggested conversion the file imports."""
    import gzip

    if name.endswith("jsonl"):
        text = "".join(json.dumps({"event": "E", "user_id": f"u{i}", "timestamp": "2024-01-01T00:00:00Z"}) + "\r\n"
                       for i in range(3))
    else:
        text = "event,user_id,timestamp\r\n" + "".join(f"E,u{i},2024-01-01T00:00:00Z\r\n" for i in range(3))
    data = text.encode("utf-16")
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    done = run("import", name, "--db", "aha.duckdb", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, (
        f"error: {name}: is UTF-16 (it starts with UTF-16's byte-order mark, as Excel's \"Unicode Text\" and Windows "
        f"PowerShell's > write it). Convert it to UTF-8 and import that: {convert}"))
    converted = convert.split("> ")[-1]
    (tmp_path / converted).write_text(text, encoding="utf-8")  # what the command writes
    done = run("import", converted, "--db", "aha.duckdb", "--json", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["imported"] == 3, done.stderr
