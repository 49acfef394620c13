"""`--db` names a backend (issue 17.1): the URL forms, and a Parquet lake read in place by DuckDB.

The lake is checked against a second method: the same rows imported into a DuckDB file by `aha import --map` give
the same report, number for number. Spark is in tests/parity (one session per run).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import aha
from aha.errors import UserError
from aha.store import urls
from aha.store.lake import LakeStore
from tests.serving import aha as aha_cli

CONFIG = """
signup: {event: signup}
paid: {event: paid, within: 3d}
milestones:
  - {id: used, event: use, within: 7d, level: primary, where: {kind: {in: [a]}}}
  - {id: used_twice, event: use, count: 2, within: 7d}
funnel: [used, used_twice]
"""
# (who, event, UTC time, kind): u1 reaches both, u2 only `used` (its second use has kind b), u3 neither, u4 pays
ROWS = [("u1", "signup", "2026-01-01 10:00", None), ("u1", "use", "2026-01-01 11:00", "a"),
        ("u1", "use", "2026-01-02 09:00", "a"), ("u2", "signup", "2026-01-01 12:00", None),
        ("u2", "use", "2026-01-03 12:00", "a"), ("u2", "use", "2026-01-20 12:00", "b"),
        ("u3", "signup", "2026-01-02 00:00", None), ("u4", "signup", "2026-01-02 00:00", None),
        ("u4", "paid", "2026-01-05 00:00", None)]


@pytest.mark.parametrize(("db", "expected"), [
    ("aha.duckdb", urls.Location("duckdb", "aha.duckdb", path="aha.duckdb")),
    ("my:file.duckdb", urls.Location("duckdb", "my:file.duckdb", path="my:file.duckdb")),
    ("duckdb:///data/aha.duckdb", urls.Location("duckdb", "duckdb:///data/aha.duckdb", path="/data/aha.duckdb")),
    ("parquet:///data/events/", urls.Location("parquet", "parquet:///data/events/", path="/data/events/")),
    (Path("parquet:///data/events/"), urls.Location("parquet", "parquet:/data/events", path="/data/events")),
    ("parquet:events/?map=user_id=distinct_id,event=name", urls.Location(
        "parquet", "parquet:events/?map=user_id=distinct_id,event=name", path="events/",
        mapping={"user_id": "distinct_id", "event": "name"})),
    ("spark:local[2]?parquet=/data/events/", urls.Location(
        "spark", "spark:local[2]?parquet=/data/events/", path="/data/events/", master="local[2]")),
    (Path("spark://spark-master:7077?table=analytics.events&spark.executor.memory=2g"), urls.Location(
        "spark", "spark:/spark-master:7077?table=analytics.events&spark.executor.memory=2g",
        master="spark://spark-master:7077", table="analytics.events", conf={"spark.executor.memory": "2g"})),
])
def test_db_urls(db: str | Path, expected: urls.Location) -> None:
    assert urls.parse(db) == expected


@pytest.mark.parametrize(("db", "message"), [
    ("mysql://h/db", "--db mysql://h/db: mysql: is not a backend aha opens."),
    ("spark:local[2]", "--db spark:local[2]: Spark needs a master and one source of events, e.g. "
                       "spark:local[2]?parquet=/path/to/events/ or spark://HOST:7077?table=analytics.events."),
    ("spark:local[2]?parquet=/x&table=t", "Spark needs a master and one source of events"),
    ("spark:local[2]?path=/x", "--db spark:local[2]?path=/x: unknown option path=; Spark takes parquet= or table="),
    ("parquet:///x?map=user=id", "--db parquet:///x?map=user=id: map=user=id: 'user' is not a canonical column"),
    ("parquet:///x?map=user_id", "map=user_id: write CANONICAL=COLUMN, e.g. map=user_id=distinct_id."),
    ("parquet:///x?table=t", "--db parquet:///x?table=t: unknown option table=; a Parquet location takes map= only."),
])
def test_db_url_mistakes_are_one_line(db: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        urls.parse(db)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def _write(folder: Path, columns: str) -> Path:
    """ROWS as Parquet, with the given SELECT list over (who, name, ts, kind, n)."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE r (who VARCHAR, name VARCHAR, ts TIMESTAMP, kind VARCHAR, n INT)")
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", [(*row, i) for i, row in enumerate(ROWS)])
    con.execute(f"COPY (SELECT {columns} FROM r) TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")
    con.close()
    return folder


def test_a_lake_with_other_names_and_a_time_zone_gives_the_imported_file_s_numbers(tmp_path: Path) -> None:
    """`map=` names the columns as `aha import --map` does; a TIMESTAMPTZ column is read in UTC whatever the
    session's zone; a struct of properties is read as JSON. Second method: the same file imported."""
    lake = _write(tmp_path / "lake" / "day=1", "'m' || n AS mid, who AS distinct_id, name AS event_name, "
                  "timezone('Asia/Tokyo', ts) AS ts, {'kind': kind} AS props")  # Tokyo wall clock, as TIMESTAMPTZ
    (tmp_path / "aha.yaml").write_text(CONFIG)
    mapping = "message_id=mid,user_id=distinct_id,event=event_name,timestamp=ts,properties=props"
    done = aha_cli("import", str(lake / "part-0.parquet"), "--map", mapping, "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reports = {}
    for name, db in (("file", "file.duckdb"), ("lake", f"parquet://{tmp_path / 'lake'}/?map={mapping}")):
        done = aha_cli("report", "--db", db, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        reports[name] = json.loads(done.stdout)
    for report in reports.values():
        report["overview"].pop("data_version")
    assert reports["lake"] == reports["file"]
    steps = reports["lake"]["funnel"]["groups"][0]["steps"]
    assert [s["entities"] for s in steps] == [4, 2, 1, 0]  # hand-counted above: u1, u2 used; u1 twice; u1 not paid
    assert reports["lake"]["overview"]["events"] == len(ROWS)
    assert reports["lake"]["overview"]["as_of"] == "2026-01-20T03:00:00Z"  # 12:00 in Tokyo, in UTC


def test_lake_mistakes_name_the_column_and_the_fix(tmp_path: Path) -> None:
    _write(tmp_path / "lake", "who AS distinct_id, name AS event, ts AS timestamp")
    with pytest.raises(UserError, match=r"the events have no column user_id \(or anonymous_id\) \(they have "
                                        r"distinct_id, event, timestamp\)\. Name the source column with map="):
        LakeStore(urls.parse(f"parquet://{tmp_path / 'lake'}/"))
    with pytest.raises(UserError, match="map=user_id=who: the events have no column 'who'"):
        LakeStore(urls.parse(f"parquet://{tmp_path / 'lake'}/?map=user_id=who"))
    with pytest.raises(UserError, match=r"map=user_id=/properties/distinct_id: a location read in place maps "
                                        r"columns only, not a member inside one; import the files instead \(aha "
                                        r"import FILES --db aha.duckdb --map user_id=/properties/distinct_id\)\.$"):
        LakeStore(urls.parse(f"parquet://{tmp_path / 'lake'}/?map=user_id=/properties/distinct_id"))
    (tmp_path / "aha.yaml").write_text(CONFIG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no events"):
        LakeStore(urls.parse(f"parquet://{tmp_path / 'empty'}"))
    with pytest.raises(UserError, match="no such file or directory"):
        aha.open(f"parquet://{tmp_path / 'missing'}", str(tmp_path / "aha.yaml"))


def test_sample_out_directory_is_a_lake_with_its_side_tables(tmp_path: Path) -> None:
    """`aha sample --out` writes events-*.parquet beside identities/memberships/users/accounts.parquet: read in
    place, the report equals the file's (identity links, traits and memberships included)."""
    done = aha_cli("sample", "--users", "60", "--out", "lake", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    file = aha.open(str(tmp_path / "aha.duckdb"), str(tmp_path / "aha.yaml"))
    lake = aha.open(f"parquet:{tmp_path / 'lake'}", str(tmp_path / "aha.yaml"))
    try:
        expected, got = file.report(segment="plan").to_dict(), lake.report(segment="plan").to_dict()
        assert file.store.scalar("SELECT count(*) FROM identities") > 0
        assert lake.store.scalar("SELECT count(*) FROM identities") == file.store.scalar(
            "SELECT count(*) FROM identities")
    finally:
        file.close()
        lake.close()
    expected["overview"].pop("data_version")
    got["overview"].pop("data_version")
    assert got == expected
