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
import pytest

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


GA4_CONFIG = """
signup: {event: first_visit}
segments: [/event_params/plan_tier]
milestones:
  - id: pricing
    event: page_view
    within: 7d
    where: {/event_params/page_location: "https://a/pricing"}
    level: primary
  - {id: big_purchase, event: purchase, within: 7d, where: {/event_params/value: {gte: 10}}}
  - {id: pro_user, event: page_view, within: 7d, where: {/user_properties/plan: pro}}
funnel: [pricing]
"""


def _ga4_lake(folder: Path) -> Path:
    """GA4's BigQuery export (`events_*` tables as Parquet): `event_params` and `user_properties` lists of {key,
    value: {string_value, int_value, float_value, double_value}}, one value set per key (by hand below)."""
    value = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()), ("float_value", pa.float64()),
                       ("double_value", pa.float64())])
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", value)]))

    def p(**params: Any) -> list[dict[str, Any]]:
        out = []
        for key, v in params.items():
            cell = {"string_value": None, "int_value": None, "float_value": None, "double_value": None}
            if v is not None:
                cell[{str: "string_value", int: "int_value", float: "double_value"}[type(v)]] = v
            out.append({"key": key, "value": cell})
        return out

    day = 1767225600_000000  # 2026-01-01T00:00:00Z in µs
    hour = 3600_000000
    rows = [  # (user_pseudo_id, event_name, hours after Jan 1, event_params, user_properties)
        ("p1", "first_visit", 9, p(plan_tier="gold"), []),
        ("p1", "page_view", 10, p(page_location="https://a/pricing", ga_session_id=17), p(plan="pro")),
        ("p1", "purchase", 11, p(value=12.5, currency="EUR"), None),
        ("p2", "first_visit", 9, p(plan_tier="free"), None),
        ("p2", "page_view", 12, p(page_location="https://a/home", empty=None), p(plan="free")),
        ("p2", "purchase", 13, p(value=9.5), []),
        ("p3", "first_visit", 30, [], None),  # no parameters: segment "(none)"
        ("p3", "page_view", 31, p(page_location="https://a/pricing"), p(plan="pro")),
        ("p3", "purchase", 32, p(value=10), None),  # an int_value of 10: gte 10
    ]
    folder.mkdir()
    pq.write_table(pa.table({
        "event_name": [r[1] for r in rows],
        "event_timestamp": [day + r[2] * hour for r in rows],
        "user_pseudo_id": [r[0] for r in rows],
        "event_params": pa.array([r[3] for r in rows], kv),
        "user_properties": pa.array([r[4] for r in rows], kv),
    }), folder / "part-0.parquet")
    return folder


def test_spark_reads_ga4_key_value_lists_as_objects_as_import_does(tmp_path: Path, spark_session: Any) -> None:
    """GA4's `event_params` list read in place: import and the DuckDB lake made it an object by key; Spark kept the
    list, so `where: {/event_params/page_location: …}` was reached by nobody and every segment was "(none)"."""
    lake = _ga4_lake(tmp_path / "lake")
    config = tmp_path / "aha.yaml"
    config.write_text(GA4_CONFIG)
    mapping = "event=event_name,timestamp=event_timestamp,user_id=user_pseudo_id"
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", "--map", mapping, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    imported = _ga4_answers(str(tmp_path / "file.duckdb"), config)
    # by hand: pricing p1, p3; a purchase of value >= 10: p1 (12.5), p3 (10); plan pro on a page view: p1, p3
    assert imported["reached"] == {"pricing": 2, "big_purchase": 2, "pro_user": 2}
    assert imported["segments"] == {"gold": [1, 1], "free": [1, 0], "(none)": [1, 1]}
    assert _ga4_answers(f"parquet://{lake}/?map={mapping}", config) == imported
    assert _ga4_answers(f"spark:local[2]?parquet={lake}/&map={mapping}", config) == imported


def _ga4_answers(db: str, config: Path) -> dict[str, Any]:
    project = aha.open(db, str(config))
    try:
        timing = project.report().timing.groups[0]
        funnel = project.funnel(segment="/event_params/plan_tier", include_immature=True).to_dict()
    finally:
        project.close()
    return {"reached": {m.milestone_id: m.reached for m in timing.milestones},
            "segments": {g["segment"]: [s["entities"] for s in g["steps"]] for g in funnel["groups"]}}


def test_pipeline_members_of_a_properties_column_are_left_out_in_place_as_import_does(
        tmp_path: Path, spark_session: Any) -> None:
    """A Mixpanel export's properties hold its processing time and insert id; import leaves them out (they are no
    user data: store/metadata.py), the lakes kept them, so a segment or discovery offered them in place only. Each
    backend's stored properties now equal the imported file's, on the properties column alone and merged over a
    GA4 list column (a row of which names a key twice: refused by import, left out in place)."""
    from aha.store import open_store

    docs = [
        '{"plan": "pro", "mp_processing_time_ms": 12, "$insert_id": "x1", "_dlt_load_id": "7"}',
        '{"plan": "free", "MP_Processing_Time_MS": 3, "source": "ad", "x": {"sent_at": 1}}',  # case; kept: source, x
        '{"\\u0073ent_at": "2026-01-01", "plan": null}',  # an escape spelling sent_at; a null member
        '{"plan": "pro"}',
    ]
    value = pa.struct([("string_value", pa.string()), ("int_value", pa.int64())])
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", value)]))
    params = pa.array([[{"key": "page", "value": {"string_value": "/a", "int_value": None}}], [], None,
                       [{"key": "n", "value": {"string_value": None, "int_value": 2}},
                        {"key": "n", "value": {"string_value": None, "int_value": 3}}]], kv)
    expected = [{"plan": "pro"}, {"plan": "free", "source": "ad", "x": {"sent_at": 1}}, {}, {"plan": "pro"}]
    merged = {"properties": [*docs[:3], '{"plan": "pro", "uuid_ts": 5}'], "event_params": params}
    for name, table in {"text": {"properties": docs}, "merged": merged}.items():
        lake = tmp_path / name
        lake.mkdir()
        pq.write_table(pa.table({"message_id": [f"m{i}" for i in range(4)], "user_id": [f"u{i}" for i in range(4)],
                                 "event": ["e"] * 4, "timestamp": ["2026-01-01T09:00:00Z"] * 4, **table}),
                       lake / "part-0.parquet")
        done = aha_cli("import", str(lake / "part-0.parquet"), "--db", f"{name}.duckdb", "--allow-rejects",
                       cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        got = {}
        for backend in (str(tmp_path / f"{name}.duckdb"), f"parquet://{lake}/", f"spark:local[2]?parquet={lake}/"):
            store = open_store(backend)
            try:
                rows = store.rows("SELECT message_id, properties FROM events ORDER BY message_id")
            finally:
                store.close()
            got[backend] = [json.loads(p) if p else {} for _, p in rows]
        # by hand; the merged lake's fourth row names n twice: import refuses it, so neither lake has it
        want = expected if name == "text" else [
            {**expected[0], "event_params": {"page": "/a"}}, {**expected[1], "event_params": {}},
            {"event_params": None}]
        for backend, rows in got.items():
            assert rows == want, backend


def test_fractions_of_a_second_count_on_spark_as_on_duckdb(tmp_path: Path, spark_session: Any) -> None:
    """Spark's seconds since 1970 were whole (Ibis writes `unix_timestamp`), so every boundary moved by up to a
    second: an event 0.3 s before day 1 counted on day 1, a user 0.7 s short of 30 days observed was counted on day
    29, and times to value lost their fractions. Six users signed up at 09:00:00.7, each active once near a day's
    edge; retention curves, the median time to value and activation equal the file's and the hand counts."""
    t0, day = datetime(2026, 1, 1, 9, 0, 0, 700000), timedelta(days=1)
    offsets = {"u0": day - timedelta(seconds=0.3), "u1": day, "u2": day + timedelta(seconds=0.2),
               "u3": 2 * day - timedelta(microseconds=500), "u4": 7 * day - timedelta(seconds=0.1),
               "u5": 7 * day + timedelta(seconds=0.1)}
    rows = [row for u, off in offsets.items() for row in ((u, "signup", t0), (u, "use", t0 + off))]
    rows.append(("u5", "use", datetime(2026, 1, 31, 9)))  # as_of: 0.7 s before anyone's 30th day is over
    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.table({"message_id": [f"m{i}" for i in range(len(rows))], "user_id": [r[0] for r in rows],
                             "event": [r[1] for r in rows],
                             "timestamp": pa.array([r[2] for r in rows], pa.timestamp("us"))}), lake / "part-0.parquet")
    config = tmp_path / "aha.yaml"
    config.write_text("signup: {event: signup}\nretention: {day: 1, bracket: 1d}\n"
                      "milestones:\n  - {id: used, event: use, within: 2d, level: primary}\n")
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    def answers(db: str) -> dict[str, Any]:
        project = aha.open(db, str(config))
        try:
            curves = project.retention(bucket="day").to_dict()
            timing = project.report().timing.groups[0].milestones[0]
            activation = project.activation(days=(1, 2)).to_dict()
        finally:
            project.close()
        return {"curves": curves, "median": timing.median_seconds, "activation": activation}

    file = answers(str(tmp_path / "file.duckdb"))
    used = file["curves"]["groups"][0]["milestones"][0]
    curve = {(reached, p["day"]): (p["rate"]["numerator"], p["rate"]["denominator"])
             for reached in (True, False) for p in used["reached" if reached else "not_reached"]}
    # by hand: reached within 2 days u0-u3, not u4, u5; day 0: u0 (0.3 s before day 1); day 1: u1, u2, u3;
    # day 7: u5 (0.1 s into it); observed through day 28 only (t0 + 30 days is 0.7 s after as_of)
    assert curve[(True, 0)] == (1, 4) and curve[(True, 1)] == (3, 4) and curve[(False, 7)] == (1, 2)
    assert (True, 6) in curve and (True, 28) in curve and (True, 29) not in curve
    assert file["median"] == pytest.approx((86400 + 86400.2) / 2)  # u1 and u2, the middle two of four
    assert answers(f"parquet://{lake}/") == file
    assert answers(f"spark:local[2]?parquet={lake}/") == file


NESTED_CONFIG = """
signup: {event: signup}
segments: [/x/y]
milestones:
  - {id: used, event: use, within: 7d, level: primary}
  - {id: first_sku_a, event: use, within: 7d, where: {/items/0/sku: a}}
  - {id: has_first_item, event: use, within: 7d, where: {/items/0: {exists: true}}}
funnel: [used]
"""
# (who, event, properties as the lake holds them, as import stores them)
NESTED: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("u1", "signup", {"plan": "pro", "x": {"y": None}}, {"plan": "pro", "x": {}}),  # /x/y absent: "(none)"
    ("u1", "use", {"x": {"y": None, "z": 1}, "items": [None]}, {"x": {"z": 1}, "items": [None]}),  # an array kept
    ("u2", "signup", {"x": {"y": {"z": None}}}, {"x": {"y": {}}}),  # /x/y is {}: segment "{}"
    ("u2", "use", {"items": [{"sku": "a", "n": None}]}, {"items": [{"sku": "a", "n": None}]}),
    ("u3", "signup", {"x": {"y": "b"}}, {"x": {"y": "b"}}),
    ("u3", "use", {"items": {"0": {"sku": "a"}}}, {"items": {"0": {"sku": "a"}}}),  # /items/0: the member "0"
    ("u4", "signup", {}, {}),
    ("u4", "use", {"items": [{"sku": "b"}], "d": {"e": {"f": {"g": None}}}}, {"items": [{"sku": "b"}],
                                                                            "d": {"e": {"f": {}}}}),
]


def _imported(tmp_path: Path, lake: Path, definitions: str) -> Path:
    """aha.yaml written and the lake's one file imported into file.duckdb, the reference the lakes are held to."""
    config = tmp_path / "aha.yaml"
    config.write_text(definitions)
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return config


def _backends(tmp_path: Path, lake: Path) -> tuple[str, ...]:
    """The imported file, the DuckDB lake and Spark over the same Parquet."""
    return str(tmp_path / "file.duckdb"), f"parquet://{lake}/", f"spark:local[2]?parquet={lake}/"


def _stored(db: str, columns: str) -> list[tuple[Any, ...]]:
    from aha.store import open_store

    store = open_store(db)
    try:
        return store.rows(f"SELECT {columns} FROM events ORDER BY message_id")
    finally:
        store.close()


def test_nested_null_members_and_array_items_read_on_spark_as_import_does(tmp_path: Path, spark_session: Any) -> None:
    """Spark kept a null member inside an object member (`{"x": {"y": null}}`), which import drops (it merges the
    properties into `{}`: RFC 7386), so `--segment /x/y` had a group '{"z":null}' where the file has "{}"; and Spark
    read a JSON Pointer's `0` as a member name only, so `where: {/items/0/sku: a}` was reached by nobody. Stored
    properties, the milestones and the segment now equal the imported file's on the DuckDB lake and Spark."""

    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.table({"message_id": [f"m{i}" for i in range(len(NESTED))], "user_id": [r[0] for r in NESTED],
                             "event": [r[1] for r in NESTED],
                             "timestamp": [f"2026-01-0{1 + i % 2}T09:00:00Z" for i in range(len(NESTED))],
                             "properties": [json.dumps(r[2]) for r in NESTED]}), lake / "part-0.parquet")
    config = _imported(tmp_path, lake, NESTED_CONFIG)
    for db in _backends(tmp_path, lake):
        rows = _stored(db, "message_id, properties")
        assert [json.loads(p) for _, p in rows] == [r[3] for r in NESTED], db  # by hand, above
        project = aha.open(db, str(config))
        try:
            timing = project.report().timing.groups[0]
            funnel = project.funnel(segment="/x/y", include_immature=True).to_dict()
        finally:
            project.close()
        # by hand: sku a first: u2 (an array's item 0), u3 (a member "0"); a first item: u2, u3, u4 (u1's is null)
        assert {m.milestone_id: m.reached for m in timing.milestones} == {
            "used": 4, "first_sku_a": 2, "has_first_item": 3}, db
        assert {g["segment"]: [s["entities"] for s in g["steps"]] for g in funnel["groups"]} == {
            "(none)": [2, 2], "{}": [1, 1], "b": [1, 1]}, db


# (message_id, user_id, anonymous_id, event, day of January 2026) as the lake holds them
SPACED: list[tuple[str, str | None, str | None, str, int]] = [
    ("m0", " u1", None, "signup", 1), ("m1", "u1 ", "", " use ", 2),  # u1 signs up and uses
    ("m2", "", "a2", "use", 2),  # no user id: anonymous a2
    ("m3", "", " ", "use", 2),  # no id at all: import rejects it
    ("m4", "u3", None, "", 2),  # no event name: rejected
    ("m5", "u3", None, "signup", 1), ("m6", "u3", None, "Use", 3),  # u3: another event than `use`
]


def test_ids_and_event_names_are_trimmed_and_blank_is_none_in_place_as_import_does(
        tmp_path: Path, spark_session: Any) -> None:
    """Import trims ids and event names and reads blank text as no value; both lakes read them as they were, so
    `" u1"` and `"u1 "` were two users, `""` a user, `" use "` another event, and a row with no id an event: 2
    users of 3 signed up on the file, 3 of 4 in place (and 7 events for 5)."""

    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.table({"message_id": [r[0] for r in SPACED], "user_id": [r[1] for r in SPACED],
                             "anonymous_id": [r[2] for r in SPACED], "event": [r[3] for r in SPACED],
                             "timestamp": pa.array([datetime(2026, 1, r[4], 9) for r in SPACED], pa.timestamp("us"))}),
                   lake / "part-0.parquet")
    config = tmp_path / "aha.yaml"
    config.write_text("signup: {event: signup}\nmilestones:\n  - {id: used, event: use, within: 7d, level: primary}\n")
    done = aha_cli("import", str(lake / "part-0.parquet"), "--db", "file.duckdb", "--allow-rejects", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected_rows = [("m0", "u1", None, "signup"), ("m1", "u1", None, "use"), ("m2", None, "a2", "use"),
                     ("m5", "u3", None, "signup"), ("m6", "u3", None, "Use")]  # by hand
    reports = {}
    for db in _backends(tmp_path, lake):
        rows = _stored(db, "message_id, user_id, anonymous_id, event")
        assert rows == expected_rows, db
        project = aha.open(db, str(config))
        try:
            reports[db] = project.report().to_dict()
        finally:
            project.close()
        reports[db]["overview"].pop("data_version")
        used = reports[db]["timing"]["groups"][0]["milestones"][0]
        assert (reports[db]["headline"]["users"], used["reached"]) == (2, 1), db  # u1, u3; u1 used
    assert len({json.dumps(r, sort_keys=True) for r in reports.values()}) == 1


def test_a_float_column_is_the_double_it_holds_on_spark_as_import_stores_it(tmp_path: Path,
                                                                            spark_session: Any) -> None:
    """A FLOAT (4-byte) property column: import and the DuckDB lake store the double it holds (0.1f is
    0.10000000149011612); Spark's `to_json` printed `0.1`, so `where: {score: 0.1}` was reached on Spark only."""

    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.table({"message_id": ["m0", "m1", "m2", "m3"], "user_id": ["u1", "u1", "u2", "u2"],
                             "event": ["signup", "use"] * 2,
                             "timestamp": pa.array([datetime(2026, 1, d, 9) for d in (1, 2, 1, 2)], pa.timestamp("us")),
                             "score": pa.array([0.1, 0.1, 2.5, 0.5], pa.float32())}), lake / "part-0.parquet")
    config = _imported(tmp_path, lake, "signup: {event: signup}\nmilestones:\n"
                       "  - {id: used, event: use, within: 7d, level: primary}\n"
                       "  - {id: scored, event: use, within: 7d, where: {score: 0.1}}\n")
    for db in _backends(tmp_path, lake):
        rows = _stored(db, "message_id, properties")
        # by hand: float32 0.1 widened to a double is 0.10000000149011612; 2.5 and 0.5 are exact
        assert [json.loads(p)["score"] for _, p in rows] == [0.10000000149011612] * 2 + [2.5, 0.5], db
        project = aha.open(db, str(config))
        try:
            reached = {m.milestone_id: m.reached for m in project.report().timing.groups[0].milestones}
        finally:
            project.close()
        assert reached == {"used": 2, "scored": 0}, db  # 0.10000000149011612 is not 0.1
