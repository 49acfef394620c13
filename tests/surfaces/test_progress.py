"""Progress of long analyses (issue 17.3): the stage aha is in, the kept statement it runs and DuckDB's share of the
running statement, on stderr only: a line every AHA_PROGRESS_SECONDS in a log, the text beside the spinner on a
terminal; stdout (`--json`) the same with and without it."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from aha import progress
from aha.store.connection import connect
from aha.surfaces.cli.progress import describe
from tests.serving import aha


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("progress")
    done = aha("sample", "--users", "400", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _report(sample: Path, stderr: int | None = subprocess.PIPE, **env: str) -> subprocess.Popen[bytes]:
    """`aha report --json` on a copy of the sample whose state was never built (each run builds it)."""
    folder = Path(tempfile.mkdtemp(dir=sample))
    for name in ("aha.duckdb", "aha.yaml"):
        shutil.copyfile(sample / name, folder / name)
    return subprocess.Popen([sys.executable, "-m", "aha.surfaces.cli.main", "report", "--json"], cwd=folder,
                            stdout=subprocess.PIPE, stderr=stderr,
                            env={**os.environ, "AHA_RESULT_CACHE": "off",
                                 "AHA_STATEMENT_CACHE": str(folder / "statements"),
                                 **env})


def test_a_stage_counts_its_statements_and_reads_duckdbs_share_of_the_running_one() -> None:
    progress.watch()
    try:
        con = connect()  # configured as every aha connection: tracked while watched
        seen: list[progress.Snapshot] = []
        with progress.stage("building"), progress.stage("", total=3):
            progress.advance()
            query = threading.Thread(target=lambda: con.execute(
                "SELECT count(*) FROM (SELECT range % 1000, sum(range) FROM range(60000000) GROUP BY 1)").fetchall())
            query.start()
            while query.is_alive():
                now = progress.snapshot()
                assert now is not None
                seen.append(now)
                time.sleep(0.01)
            query.join()
        assert progress.snapshot() is None
        con.close()
    finally:
        progress.unwatch()
    assert {(s.label, s.done, s.total) for s in seen} == {("building", 1, 3)}
    shares = [s.statement_percent for s in seen if s.statement_percent is not None]
    assert shares and all(0 < p < 100 for p in shares)
    assert shares == sorted(shares)  # one statement's share only grows
    with_share = next(s for s in seen if s.statement_percent is not None)
    assert describe(with_share, elapsed=False) == f"statement 2 of 3 · {int(with_share.statement_percent or 0)}% of it"


def test_unwatched_connections_track_nothing() -> None:
    con = connect()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    con.close()


def test_a_log_gets_a_line_per_interval_naming_the_stage_and_the_json_is_unchanged(sample: Path) -> None:
    quiet = _report(sample, AHA_PROGRESS="off")
    out, err = quiet.communicate(timeout=300)
    assert quiet.returncode == 0 and err == b"", err
    shown = _report(sample, AHA_PROGRESS_SECONDS="0.05")
    out2, err2 = shown.communicate(timeout=300)
    assert shown.returncode == 0
    assert json.loads(out2) == json.loads(out)
    lines = err2.decode().splitlines()
    assert lines and all(line.startswith("aha: the report") for line in lines), lines
    assert any("building the milestone state" in line for line in lines), lines


def test_a_short_command_in_a_log_prints_nothing(sample: Path) -> None:
    done = _report(sample)  # the default interval, 10 s: longer than this report
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0 and err == b""


def test_a_terminal_shows_the_stage_beside_the_spinner_and_stdout_stays_clean(sample: Path) -> None:
    main, child = pty.openpty()
    process = _report(sample, stderr=child)
    os.close(child)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(process.stdout.read() if process.stdout else b""))
    reader.start()
    shown = b""
    while process.poll() is None or select.select([main], [], [], 0.2)[0]:
        if select.select([main], [], [], 0.2)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            shown += chunk
    reader.join(timeout=60)
    assert process.wait(timeout=60) == 0
    os.close(main)
    text = shown.decode(errors="replace")
    assert "computing the report" in text and "building the milestone state" in text, text[-2000:]
    assert json.loads(out[0])["kind"] == "report"
