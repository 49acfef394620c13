"""`--from/--to` on the console script: the same users as `Project(...)` with `signups_from/signups_to`, on every
analysis command, and a bad range is one line naming the flag."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from tests.serving import aha, sample_db

RANGE = ("--from", "2026-02-01", "--to", "2026-03-01")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_db(tmp_path_factory.mktemp("range"), users=200)


def signed_up(db: Path, start: str, end: str) -> int:
    """Hand count, straight from the events: users whose first signup is in [start, end) UTC."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM (SELECT user_id, min(timestamp) AS t0 FROM events "
                           "WHERE event = 'Signed Up' GROUP BY 1) WHERE t0 >= ? AND t0 < ?",
                           [f"{start} 00:00:00", f"{end} 00:00:00"]).fetchall()
    return int(rows[0][0])


def strip(payload: dict[str, object], keys: tuple[str, ...]) -> str:
    return json.dumps({k: v for k, v in payload.items() if k not in keys}, sort_keys=True, default=str)


@pytest.mark.parametrize("command", ["report", "evaluate", "retention", "paths"])
def test_the_commands_take_the_range_and_count_its_users(db: Path, command: str):
    import aha as library
    from aha.results import to_jsonable

    done = aha(command, "--json", *RANGE, cwd=db.parent)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = library.open(db, db.parent / "aha.yaml")
        try:
            method = getattr(project, command)
            expected = to_jsonable(method(signups_from="2026-02-01", signups_to="2026-03-01"), "x")
            everyone = to_jsonable(method(), "x")
        finally:
            project.close()
    drop = ("kind",)
    assert strip(shown, drop) == strip(expected, drop) and strip(shown, drop) != strip(everyone, drop)
    if command == "report":
        assert shown["overview"]["signed_up_users"] == signed_up(db, "2026-02-01", "2026-03-01") > 0


def test_a_bad_range_is_one_line_naming_the_flag(db: Path):
    done = aha("evaluate", "--from", "2026-03-01", "--to", "2026-02-01", cwd=db.parent)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--from 2026-03-01 --to 2026-02-01: the range is empty" in done.stderr
    done = aha("paths", "--to", "yesterday", cwd=db.parent)
    assert done.returncode != 0 and "--to 'yesterday' is not a day" in done.stderr


def first_and_last_signup(db: Path, start: str = "1970-01-01", end: str = "9999-01-01") -> tuple[str, str, int]:
    """Hand count, straight from the events: the first and last signup day of users in [start, end), and how many."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT strftime(min(t0), '%Y-%m-%d'), strftime(max(t0), '%Y-%m-%d'), count(*) FROM "
                           "(SELECT user_id, min(timestamp) AS t0 FROM events WHERE event = 'Signed Up' GROUP BY 1) "
                           "WHERE t0 >= ? AND t0 < ?", [f"{start} 00:00:00", f"{end} 00:00:00"]).fetchall()
    first, last, users = rows[0]
    return str(first), str(last), int(users)


def test_the_report_prints_the_signup_range_it_counted(db: Path, tmp_path: Path):
    """Without a range: "all signups" with the real first and last signup days; with one: the flags and the days
    inside it. The printed report, its JSON and the HTML file say the same."""
    first, last, users = first_and_last_signup(db)
    done = aha("report", cwd=db.parent)
    assert done.returncode == 0, done.stderr
    everyone = f"all signups: first {first}, last {last} ({users:,} users)"
    assert f"Signups counted: {everyone}" in " ".join(done.stdout.split())
    first, last, users = first_and_last_signup(db, "2026-02-01", "2026-03-01")
    ranged = (f"signups 2026-02-01 to 2026-02-28 (--from 2026-02-01 --to 2026-03-01): first {first}, last {last} "
              f"({users:,} users)")
    done = aha("report", *RANGE, cwd=db.parent)
    assert f"Signups counted: {ranged}" in " ".join(done.stdout.split())
    shown = json.loads(aha("report", "--json", *RANGE, cwd=db.parent).stdout)["signups"]
    assert shown["signups_from"] == "2026-02-01" and shown["signups_to"] == "2026-03-01"
    assert shown["users"] == users and shown["first_signup"][:10] == first and shown["last_signup"][:10] == last
    out = tmp_path / "report.html"
    assert aha("report", "--html", str(out), *RANGE, cwd=db.parent).returncode == 0
    assert f'<span data-metric="signups">{ranged}</span>' in out.read_text(encoding="utf-8")
