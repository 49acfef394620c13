"""`aha report` answered from the kept answer before Typer is imported (aha.surfaces.cli.main): the same text, JSON
and CSV as the Typer path, the same notes, and every other command line left to the Typer app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aha.analyses import result_cache
from aha.surfaces.cli.main import arguments
from tests.analyses.test_result_cache import TEXT  # the same definitions as the kept answers' own tests

EVENTS = [("u1", "Signed Up", "2026-01-01T00:00"), ("u1", "A", "2026-01-01T01:00"), ("u1", "Paid", "2026-01-01T05:00"),
          ("u2", "Signed Up", "2026-01-01T00:00"), ("u2", "B", "2026-01-02T00:00"),
          ("u3", "Signed Up", "2026-01-09T00:00"), ("u3", "A", "2026-01-09T02:00")]
# Which modules the process imported, printed on stderr after the command (the console script's own entry point).
PROBE = ("import sys\nfrom aha.surfaces.cli.main import main\nsys.argv = ['aha', *sys.argv[1:]]\ntry:\n    main()\n"
         "except SystemExit as e:\n    assert not e.code, e.code\n"
         "print(sorted(m for m in ('typer', 'pydantic', 'yaml', 'ibis') if m in sys.modules), file=sys.stderr)")


@pytest.mark.parametrize(("argv", "expected"), [
    (["report"], {}),
    (["report", "--db", "x.duckdb", "-c", "y.yaml"], {"--db": "x.duckdb", "--config": "y.yaml"}),
    (["report", "--json", "--config=y.yaml", "--db=x"], {"--json": True, "--config": "y.yaml", "--db": "x"}),
    (["report", "--csv"], {"--csv": True}),
    (["funnel"], None), ([], None), (["report", "--segment", "plan"], None), (["report", "--cohort", "week"], None),
    (["report", "--db"], None), (["report", "--db", "-x"], None), (["report", "--db="], None),
    (["report", "--db", "a", "--db", "b"], None), (["report", "--json", "--json"], None),
    (["report", "--json", "--csv"], None), (["report", "-c=y.yaml"], None), (["report", "--json=1"], None),
    (["report", "x.duckdb"], None), (["report", "--"], None), (["report", "--html", "r.html"], None),
])
def test_only_plain_report_command_lines_take_the_kept_path(argv: list[str], expected: dict | None) -> None:
    assert arguments(argv) == expected


def _run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=folder,
                          env={**os.environ, "AHA_STATEMENT_CACHE": str(folder / "statements"), **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def _imported(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "aha.yaml").write_text(TEXT)
    (tmp_path / "events.jsonl").write_text("\n".join(
        json.dumps({"user_id": u, "event": e, "timestamp": t + ":00Z"}) for u, e, t in EVENTS))
    _run(tmp_path, "import", "events.jsonl")
    return tmp_path


def test_a_kept_report_prints_what_the_typer_path_prints_without_importing_it(folder: Path) -> None:
    first = _run(folder, "report")  # computed (and kept) by the Typer app
    assert "typer" in _imported(first) and "pydantic" in _imported(first)
    second = _run(folder, "report")
    assert _imported(second) == "[]"  # neither Typer nor pydantic nor PyYAML nor Ibis
    assert second.stdout == first.stdout
    assert "1 of 2 whose window has closed" in first.stdout  # u1 reached m1 within 1d; u3's window is still open

    computed = json.loads(_run(folder, "report", "--json", AHA_RESULT_CACHE="off").stdout)
    kept = _run(folder, "report", "--json")
    assert _imported(kept) == "[]" and json.loads(kept.stdout) == computed
    activation = computed["headline"]["activation"]
    assert (activation["numerator"], activation["denominator"]) == (1, 2)
    typer_csv = _run(folder, "report", "--csv", "--cohort", "week")  # a default spelled out: the Typer app's path
    kept_csv = _run(folder, "report", "--csv")
    assert "typer" in _imported(typer_csv) and _imported(kept_csv) == "[]"
    assert kept_csv.stdout == typer_csv.stdout and kept_csv.stdout.count("\n") > 5


def test_the_kept_path_shows_the_answers_notes_as_the_typer_path_does(folder: Path) -> None:
    _run(folder, "report")
    con = duckdb.connect(str(folder / "aha.duckdb"))
    con.execute(f"UPDATE {result_cache.TABLE} SET notes = ?", [json.dumps(["a note [kept] with the answer"])])
    con.close()
    kept = _run(folder, "report")
    typer = _run(folder, "report", "--order", "ordered")
    assert _imported(kept) == "[]" and "typer" in _imported(typer)
    assert kept.stdout == typer.stdout
    note = "note: a note [kept] with the answer"  # Rich markup in a note is shown as written
    assert kept.stderr.splitlines()[:-1] == typer.stderr.splitlines()[:-1] == [note]


def test_what_the_kept_path_cannot_vouch_for_goes_to_the_typer_app(folder: Path) -> None:
    _run(folder, "report")
    assert _imported(_run(folder, "report")) == "[]"
    # aha.yaml's bytes changed (a comment): parsed again by the Typer app, whose kept answer is the same one
    (folder / "aha.yaml").write_text(TEXT + "# a comment\n")
    again = _run(folder, "report")
    assert "pydantic" in _imported(again) and "ibis" not in _imported(again)
    assert _imported(_run(folder, "report")) == "[]"  # those bytes are known now
    # the definitions changed: a new answer is computed, never the old one
    (folder / "aha.yaml").write_text(TEXT.replace("within: 1d, level", "within: 30m, level"))
    changed = json.loads(_run(folder, "report", "--json").stdout)["headline"]["activation"]
    assert (changed["numerator"], changed["denominator"]) == (0, 3)  # every window closed, none reached in 30m
    # new events: the data version moved on, the kept answer is not read
    (folder / "more.jsonl").write_text(json.dumps({"user_id": "u2", "event": "A", "timestamp": "2026-01-01T00:20:00Z"}))
    _run(folder, "import", "more.jsonl")
    after = _run(folder, "report", "--json")
    assert "typer" in _imported(after) and json.loads(after.stdout)["headline"]["activation"]["numerator"] == 1
    # the cache off, or a server holding the file: the Typer app
    assert "typer" in _imported(_run(folder, "report", AHA_RESULT_CACHE="off"))
    (folder / "aha.duckdb.server.json").write_text("{}")
    assert "typer" in _imported(_run(folder, "report", "--json"))
