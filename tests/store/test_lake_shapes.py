"""Parquet lakes as other tools write them (pyarrow here), read in place: each shape gives the hand-counted numbers
and the same answers as the same file imported by `aha import` (the second method). Spark reads the same shapes in
tests/parity/test_lake_shapes_spark.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import aha
from tests.serving import aha as aha_cli

CONFIG = """
signup: {event: signup}
segments: [kind]
milestones:
  - {id: used, event: use, within: 7d, level: primary}
  - {id: used_a, event: use, within: 7d, where: {kind: a}}  # reads a member: the properties must be JSON
funnel: [used]
"""
# (who, event, day of January 2026, properties); None: no properties at all
ROWS: list[tuple[str, str, int, dict[str, Any] | None]] = [
    ("u1", "signup", 1, {"kind": "a"}), ("u1", "use", 2, {"kind": "a"}),  # kind a, used
    ("u2", "signup", 1, {}), ("u2", "use", 3, None),  # kind absent: "(none)", used
    ("u3", "signup", 2, {"kind": "b"}), ("u3", "use", 4, {"kind": "b"}),  # kind b, used (but see BAD_TEXT)
    ("u4", "signup", 2, {"kind": "b"}), ("u4", "other", 20, None),  # kind b, never used; as_of = Jan 20
]
# by hand: 4 signed up; used: u1, u2, u3 -> 3; by kind: a [1 signup, 1 used], (none) [1, 1], b [2, 1]
EXPECTED = {"a": [1, 1], "(none)": [1, 1], "b": [2, 1]}


def _properties(kind: str) -> pa.Array:
    props = [p for _, _, _, p in ROWS]
    if kind == "struct":  # a struct has every field on every row: an absent kind is a null field
        kind_field = pa.struct([("kind", pa.string())])
        return pa.array([None if p is None else {"kind": p.get("kind")} for p in props], kind_field)
    if kind == "map":
        return pa.array([None if p is None else list(p.items()) for p in props], pa.map_(pa.string(), pa.string()))
    if kind == "json_nulls":  # a warehouse's JSON text spelling an absent member as null
        return pa.array([None if p is None else json.dumps(p or {"kind": None, "x": {"y": None}}) for p in props])
    return pa.array([None if p is None else json.dumps(p) for p in props])


def _times(unit: str) -> pa.Array:
    times = [datetime(2026, 1, r[2], 9, tzinfo=UTC) for r in ROWS]
    if unit == "timestamp":
        return pa.array([t.replace(tzinfo=None) for t in times], pa.timestamp("ms"))
    if unit == "text_offset":  # 11:00 at +02:00 (Helsinki in winter) is 09:00 UTC
        return pa.array([t.replace(hour=11, tzinfo=None).isoformat() + "+02:00" for t in times])
    if unit == "text_bad":  # u3's use has no time import reads: the row is rejected
        return pa.array(["yesterday" if i == 5 else t.isoformat() for i, t in enumerate(times)])
    if unit == "float_s":
        return pa.array([t.timestamp() + 0.25 for t in times], pa.float64())
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    return pa.array([int(t.timestamp()) * scale for t in times], pa.int32() if unit == "s" else pa.int64())


def write(folder: Path, properties: str | None, bad: str | None = None, times: str = "timestamp") -> Path:
    folder.mkdir(parents=True)
    columns: dict[str, Any] = {
        "message_id": [f"m{i}" for i in range(len(ROWS))], "user_id": [r[0] for r in ROWS],
        "event": [r[1] for r in ROWS], "timestamp": _times(times)}
    if properties is not None:
        props = _properties(properties)
        if bad is not None:  # u3's `use` holds text that is no JSON object: import rejects the row
            props = pa.array([bad if i == 5 else v for i, v in enumerate(props.to_pylist())])
        columns["properties"] = props
    pq.write_table(pa.table(columns), folder / "part-0.parquet")
    return folder


def answers(db: str, config: Path, segmented: bool) -> dict[str, Any]:
    """The report and the funnel by `kind` (when the events have properties), as JSON."""
    project = aha.open(db, str(config))
    try:
        report = project.report().to_dict()
        report["overview"].pop("data_version")  # writes to a DuckDB file: none in a lake
        by_kind = project.funnel(segment="kind", include_immature=True).to_dict() if segmented else None
        return {"report": report, "by_kind": by_kind}
    finally:
        project.close()


def _by_kind(answer: dict[str, Any]) -> dict[str, list[int]]:
    return {g["segment"]: [s["entities"] for s in g["steps"]] for g in answer["by_kind"]["groups"]}


@pytest.mark.parametrize(("properties", "bad", "by_kind", "used"), [
    pytest.param("text", None, EXPECTED, 3, id="json_text"),
    pytest.param("struct", None, EXPECTED, 3, id="struct_with_a_null_field"),
    pytest.param("map", None, EXPECTED, 3, id="map"),
    pytest.param("json_nulls", None, EXPECTED, 3, id="json_text_with_null_members"),
    pytest.param(None, None, None, 3, id="no_properties_column"),
    # u3's use left out, as import rejects it: u3 is kind b and never used
    pytest.param("text", "not json", {"a": [1, 1], "(none)": [1, 1], "b": [2, 0]}, 2, id="text_not_json"),
    pytest.param("text", "[1, 2]", {"a": [1, 1], "(none)": [1, 1], "b": [2, 0]}, 2, id="json_not_an_object"),
    pytest.param("text", "  ", EXPECTED, 3, id="blank_text_is_no_properties"),
])
def test_a_lake_shape_gives_the_hand_count_and_the_imported_numbers(
        tmp_path: Path, properties: str | None, bad: str | None, by_kind: dict[str, list[int]] | None,
        used: int) -> None:
    lake = write(tmp_path / "lake", properties, bad)
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", "--allow-rejects", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"parquet://{lake}/", config, by_kind is not None)
    assert got == answers(str(tmp_path / "file.duckdb"), config, by_kind is not None)
    assert got["report"]["headline"]["users"] == 4
    assert got["report"]["headline"]["activation"]["numerator"] == used
    if by_kind is None:
        assert got["by_kind"] is None
    else:
        assert _by_kind(got) == by_kind


def test_an_open_lake_answers_from_the_files_as_they_are_now(tmp_path: Path) -> None:
    """A process that keeps a lake open (a notebook) while a writer adds a file, then removes one: each answer is
    the files' at the time, equal to a store opened afresh, never the state kept from before."""
    lake = write(tmp_path / "lake", "text")
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    added = pa.table({"message_id": ["n1", "n2"], "user_id": ["u5", "u5"], "event": ["signup", "use"],
                      "timestamp": pa.array([datetime(2026, 1, 5, 9), datetime(2026, 1, 6, 9)], pa.timestamp("ms")),
                      "properties": ['{"kind": "a"}', '{"kind": "a"}']})
    project = aha.open(f"parquet://{lake}/", str(config))
    try:
        assert project.report().headline.users == 4  # ROWS by hand
        pq.write_table(added, lake / "part-1.parquet")
        after = project.report().to_dict()
        assert after["headline"]["users"] == 5 and after["headline"]["activation"]["numerator"] == 4  # + u5, used
        after["overview"].pop("data_version")
        assert after == answers(f"parquet://{lake}/", config, False)["report"]
        (lake / "part-0.parquet").unlink()
        assert project.report().headline.users == 1  # u5 alone
    finally:
        project.close()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns", "float_s"])
def test_a_lake_s_epoch_numbers_are_times_as_import_reads_them(tmp_path: Path, unit: str) -> None:
    """GA4's event_timestamp (µs), Mixpanel's time (s), a Kafka sink's ms, ns: a number of the unit its size tells
    (it was a DuckDB conversion error, BIGINT -> TIMESTAMP)."""
    lake = write(tmp_path / "lake", "text", times=unit)
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"parquet://{lake}/", config, True)
    assert got == answers(str(tmp_path / "file.duckdb"), config, True)
    assert _by_kind(got) == EXPECTED
    assert got["report"]["overview"]["as_of"].startswith("2026-01-20T09:00:00")  # u4's last event, by hand


@pytest.mark.parametrize("key", ["event", "dt"])
def test_a_hive_partition_named_like_a_column_reads_the_file_s_column(tmp_path: Path, key: str) -> None:
    """`event=sign_up/part-0.parquet` beside a column `event` holding `signup` (a writer that partitions by a
    cleaned copy): the events are the files' (as import and Spark read them); DuckDB's hive reading had put the
    directory's `sign_up` in their place, and nobody signed up. A `dt=` directory (no such column) still reads."""
    whole = write(tmp_path / "whole", "text")
    table = pq.read_table(whole / "part-0.parquet")
    lake = tmp_path / "lake"
    for value in sorted(set(table.column("event").to_pylist())):
        rows = table.filter(pa.compute.equal(table.column("event"), value))
        folder = lake / f"{key}={value.replace('u', 'u_')}"
        folder.mkdir(parents=True)
        pq.write_table(rows, folder / "part-0.parquet")
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    done = aha_cli("import", str(whole / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"parquet://{lake}/", config, True)
    assert got == answers(str(tmp_path / "file.duckdb"), config, True)
    assert _by_kind(got) == EXPECTED


def test_validate_checks_the_definitions_against_a_lake(tmp_path: Path) -> None:
    """`aha validate --db parquet:...` reads the lake's event names; it said "parquet:... not found: schema only"
    (the URL is no file that exists) and let a misspelt event through."""
    lake = write(tmp_path / "lake", "text")
    (tmp_path / "aha.yaml").write_text(CONFIG.replace("event: use,", "event: usee,"))
    done = aha_cli("validate", "aha.yaml", "--db", f"parquet://{lake}/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"against parquet:{lake} ({len(ROWS)} events)" in done.stdout
    assert ("warning: aha.yaml: milestones[0].event: no event 'usee' in the data. Did you mean 'use'?"
            in done.stdout.splitlines())


def test_init_proposes_definitions_from_a_lake(tmp_path: Path) -> None:
    """`aha init --db parquet:...` reads the lake; it said "no such database. Import your events first: `aha import
    FILE --db parquet:...`", a command that refuses a lake."""
    lake = write(tmp_path / "lake", "text")
    done = aha_cli("init", "--db", f"parquet://{lake}/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote aha.yaml from 4 users: signup signup;")  # ROWS: u1..u4, first event
    assert "event: \"signup\"" in (tmp_path / "aha.yaml").read_text()


@pytest.mark.parametrize(("where", "message"), [
    pytest.param("lake/*.parquet", "no file matches {tmp}/lake/*.parquet (check the pattern, or give the "
                 "directory: parquet:///data/events/).", id="a_glob_matching_nothing"),
    pytest.param("events.csv", "the files are not readable as Parquet (Invalid Input Error: File '{tmp}/events.csv' "
                 "too small to be a Parquet file). Give Parquet files; import CSV or JSON lines: `aha import FILE "
                 "--db aha.duckdb`.", id="a_csv_file"),
])
def test_a_location_that_is_no_parquet_is_one_line(tmp_path: Path, where: str, message: str) -> None:
    """Both were DuckDB tracebacks (IOException, InvalidInputException) through the console script."""
    (tmp_path / "lake").mkdir()
    (tmp_path / "events.csv").write_text("a\n")
    (tmp_path / "aha.yaml").write_text(CONFIG)
    done = aha_cli("report", "--db", f"parquet://{tmp_path / where}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"error: --db parquet:{tmp_path / where}: {message.format(tmp=tmp_path)}\n"


@pytest.mark.parametrize(("unit", "by_kind"), [
    pytest.param("text_offset", EXPECTED, id="iso_text_with_an_offset"),
    pytest.param("text_bad", {"a": [1, 1], "(none)": [1, 1], "b": [2, 0]}, id="text_that_is_no_time"),
])
def test_a_lake_s_text_times_are_read_as_import_reads_them(tmp_path: Path, unit: str,
                                                           by_kind: dict[str, list[int]]) -> None:
    """`2026-01-20T11:00:00+02:00` was read as 11:00 UTC (the offset dropped: every time 2 h late), and `yesterday`
    was a DuckDB ConversionException traceback; import converts the first and rejects the second's row."""
    lake = write(tmp_path / "lake", "text", times=unit)
    config = tmp_path / "aha.yaml"
    config.write_text(CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"parquet://{lake}/", config, True)
    assert got == answers(str(tmp_path / "file.duckdb"), config, True)
    assert _by_kind(got) == by_kind
    assert got["report"]["overview"]["as_of"] == "2026-01-20T09:00:00Z"  # u4's last event, by hand


WAREHOUSE_CONFIG = """
signup: {event: signup}
segments: [plan]
milestones:
  - {id: used, event: use, within: 7d, level: primary}
  - {id: used_pro, event: use, within: 7d, where: {plan: pro}}  # reads a top-level column of the warehouse table
funnel: [used]
"""


def write_warehouse(folder: Path) -> Path:
    """A Segment (or RudderStack) warehouse `tracks` table: properties are top-level columns (`plan`, `seats`),
    beside the pipeline's times (`received_at`, `sent_at`, `original_timestamp`, `uuid_ts`) and `context_*`."""
    folder.mkdir(parents=True)
    rows = [("u1", "signup", 1, "pro"), ("u1", "use", 2, "pro"),  # pro, used
            ("u2", "signup", 1, "free"), ("u2", "use", 3, "free"),  # free, used
            ("u3", "signup", 2, "pro"),  # pro, never used
            ("u4", "signup", 2, None), ("u4", "use", 4, None)]  # no plan, used
    times = [datetime(2026, 1, day, 9, tzinfo=UTC) for _, _, day, _ in rows]
    delivered = pa.array([t.replace(minute=1) for t in times], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({
        "id": [f"m{i}" for i in range(len(rows))], "anonymous_id": [f"a-{r[0]}" for r in rows],
        "user_id": [r[0] for r in rows], "event": [r[1] for r in rows], "event_text": [r[1] for r in rows],
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")), "received_at": delivered, "sent_at": delivered,
        "original_timestamp": delivered, "uuid_ts": delivered,
        "context_library_name": ["analytics.js"] * len(rows), "plan": [r[3] for r in rows],
        "seats": pa.array([3 if r[3] == "pro" else None for r in rows], pa.int64())}), folder / "part-0.parquet")
    return folder


def test_a_warehouse_table_s_property_columns_are_properties_as_import_keeps_them(tmp_path: Path) -> None:
    """A milestone `where: {plan: pro}` on a Segment warehouse table: read in place, the lake ignored the columns
    (used_pro reached by nobody) where the imported file counts u1; now the same answers, and the same properties."""
    lake = write_warehouse(tmp_path / "lake")
    config = tmp_path / "aha.yaml"
    config.write_text(WAREHOUSE_CONFIG)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = answers(f"parquet://{lake}/", config, False)
    assert got == answers(str(tmp_path / "file.duckdb"), config, False)
    timing = {m["milestone_id"]: m for m in got["report"]["timing"]["groups"][0]["milestones"]}
    assert (timing["used_pro"]["eligible"], timing["used_pro"]["reached"]) == (4, 1)  # u1, by hand (u3: pro, unused)
    project = aha.open(f"parquet://{lake}/", str(config))
    try:
        by_plan = project.funnel(segment="plan", include_immature=True).to_dict()
    finally:
        project.close()
    assert {g["segment"]: [s["entities"] for s in g["steps"]] for g in by_plan["groups"]} == {
        "pro": [2, 1], "free": [1, 1], "(none)": [1, 1]}
    imported = aha.open(str(tmp_path / "file.duckdb"), str(config))
    lake_store = aha.open(f"parquet://{lake}/", str(config))
    try:
        query = "SELECT user_id, event, timestamp, properties FROM events ORDER BY timestamp, user_id, event"
        assert lake_store.store.raw.execute(query).fetchall() == imported.store.raw.execute(query).fetchall()
        first = json.loads(lake_store.store.raw.execute(query).fetchall()[0][3])  # u1's signup
        assert first == {"id": "m0", "event_text": "signup", "context_library_name": "analytics.js", "plan": "pro",
                         "seats": 3}  # no delivery time: pipeline metadata (aha.store.metadata)
    finally:
        imported.close()
        lake_store.close()
