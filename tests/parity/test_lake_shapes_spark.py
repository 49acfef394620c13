"""Spark reads a lake's properties as `aha import` stores them (tests/store/test_lake_shapes.py has every shape on
DuckDB): JSON text with null members, a row whose properties are not JSON and times in µs since 1970, in one lake,
one Spark session."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import aha
from tests.serving import aha as aha_cli
from tests.store.test_lake_shapes import CONFIG, WAREHOUSE_CONFIG, answers, write, write_warehouse


def test_spark_reads_null_members_bad_text_and_epoch_times_as_import_does(tmp_path: Path, spark_session: Any) -> None:
    lake = write(tmp_path / "lake", "json_nulls", times="us")  # GA4's event_timestamp: µs since 1970, a BIGINT
    table = pq.read_table(lake / "part-0.parquet")
    props = table.column("properties").to_pylist()
    props[5] = "not json"  # u3's use: import rejects the row, so u3 is kind b and never used
    pq.write_table(table.set_column(4, "properties", pa.array(props)), lake / "part-0.parquet")
    assert json.loads(props[2]) == {"kind": None, "x": {"y": None}}  # u2's signup: kind spelled null
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", "--allow-rejects", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"spark:local[2]?parquet={lake}/", config, True)
    assert got == answers(str(tmp_path / "file.duckdb"), config, True)
    groups = {g["segment"]: [s["entities"] for s in g["steps"]] for g in got["by_kind"]["groups"]}
    assert groups == {"a": [1, 1], "(none)": [1, 1], "b": [2, 0]}  # by hand (ROWS), u3's use left out
    assert got["report"]["overview"]["as_of"] == "2026-01-20T09:00:00Z"  # u4's last event
    project = aha.open(f"spark:local[2]?parquet={lake}/", str(config))  # kept open while a file is added
    try:
        assert project.report().headline.users == 4
        added = table.slice(0, 2).set_column(1, "user_id", pa.array(["u5", "u5"]))  # u5: signup, use (kind a)
        pq.write_table(added.set_column(0, "message_id", pa.array(["n1", "n2"])), lake / "part-1.parquet")
        assert project.report().headline.users == 5  # the files as they are now, not the state kept before
    finally:
        project.close()


def test_spark_reads_a_warehouse_table_s_property_columns_as_import_does(tmp_path: Path, spark_session: Any) -> None:
    """A Segment warehouse `tracks` table (tests/store/test_lake_shapes.py `write_warehouse`): a milestone
    `where: {plan: pro}` on a top-level column gives on Spark the imported file's answers (Spark ignored the column:
    nobody reached it), and `segment=plan` its groups."""
    lake = write_warehouse(tmp_path / "lake")
    config = tmp_path / "aha.yaml"
    config.write_text(WAREHOUSE_CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"spark:local[2]?parquet={lake}/", config, False)
    assert got == answers(str(tmp_path / "file.duckdb"), config, False)
    timing = {m["milestone_id"]: m for m in got["report"]["timing"]["groups"][0]["milestones"]}
    assert (timing["used_pro"]["eligible"], timing["used_pro"]["reached"]) == (4, 1)  # u1, by hand
    project = aha.open(f"spark:local[2]?parquet={lake}/", str(config))
    try:
        by_plan = project.funnel(segment="plan", include_immature=True).to_dict()
    finally:
        project.close()
    assert {g["segment"]: [s["entities"] for s in g["steps"]] for g in by_plan["groups"]} == {
        "pro": [2, 1], "free": [1, 1], "(none)": [1, 1]}


HOUR, HALF = timedelta(hours=1), timedelta(milliseconds=500)
NINE = datetime(2026, 1, 20, 9)  # 1768899600 s since 1970
# text in a lake's timestamp column → the UTC time aha's rule reads (store/rows.py timestamp_sql), None: no time
TEXT_TIMES: dict[str, datetime | None] = {
    "2026-01-20T11:00:00+02:00": NINE, "2026-01-20T11:00:00+0200": NINE, "2026-01-20 11:00:00+02": NINE,
    "2026-01-20T09:00:00Z": NINE, "2026-01-20T09:00:00z": NINE, "2026-01-20 09:00:00 UTC": NINE,
    "2026-01-20 09:00:00 utc": NINE, "2026-01-20T06:30:00-02:30": NINE, "2026-01-20T23:00:00+14:00": NINE,
    "2026-01-20T09:00:00": NINE, "2026-01-20 09:00:00": NINE, "2026-01-20T09:00": NINE, "2026-01-20": NINE - 9 * HOUR,
    "1768899600": NINE, "1768899600.5": NINE + HALF, "1768899600000": NINE, "1768899600000000": NINE,
    "1768899600000000000": NINE, " 1768899600 ": NINE, "-1.5": datetime(1969, 12, 31, 23, 59, 58, 500000),
    "2026-01-20T09:00:00.1234567Z": NINE + timedelta(microseconds=123456),  # the seventh digit dropped
    "2026-01-19T24:00:00": NINE - 9 * HOUR, "2026-01-20 9:00:00+00": NINE,
    # no time: a zone name, no space before UTC, a space before Z or an offset, a comma, out of range, not a time
    "2026-01-20T09:00:00 CET": None, "2026-01-20 09:00:00UTC": None, "2026-01-20T09:00:00 Z": None,
    "2026-01-20T09:00:00 +02:00": None, "2026-01-20T09:00:00,5": None, "2026-02-30T00:00:00": None,
    "2026-01-20T23:59:60Z": None, "2026-01-20T09:60:00": None, "2026-01-20t09:00:00": None, "yesterday": None,
    "1e9": None, "+1768899600": None, "176889960000000000000": None, "2026-01-20T09:00:00+2": None,
    "20260120T090000Z": None, "2026-01-20T25:00:00Z": None, "2026-13-01": None,
}


def test_spark_reads_text_timestamps_by_aha_s_rule(tmp_path: Path, spark_session: Any) -> None:
    """A lake whose timestamp column is text (ISO with offsets, ` UTC`, epoch numbers as text, naive): Spark cast it
    its own way (epoch text and ` UTC` no time, a naive time in the session's zone); now each row's time is the one
    the DuckDB lake (and `aha import`) reads, and a row without one is no event on either."""
    from aha.store import open_store

    shapes = list(TEXT_TIMES)
    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.table({"user_id": [f"u{i:02d}" for i in range(len(shapes))], "event": ["e"] * len(shapes),
                             "timestamp": shapes}), lake / "part-0.parquet")
    expected = {f"u{i:02d}": at for i, at in enumerate(TEXT_TIMES.values()) if at is not None}  # by hand
    duck = open_store(f"parquet://{lake}/")
    try:
        assert dict(duck.raw.execute("SELECT user_id, timestamp FROM events").fetchall()) == expected
    finally:
        duck.close()
    spark = open_store(f"spark:local[2]?parquet={lake}/")
    try:
        assert dict(spark.rows("SELECT user_id, timestamp FROM events")) == expected
    finally:
        spark.close()
