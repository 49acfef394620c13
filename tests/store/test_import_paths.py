"""The import's fast paths give the same rows as the general ones: a Parquet file read through a view, ids trimmed
only when they need it, properties printed by json() when they hold no null, in-file repeats and stored ids found
without a window over every row. Hand-made files, hand-counted expectations, and a second method (Python's json)
for the stored properties; the same events as Parquet, CSV and JSON lines store the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store import Store, open_store
from aha.store.importer import import_files

# (message_id, event, user_id, timestamp, properties text) as an export holds them
ROWS: list[tuple[str | None, str | None, str | None, str, str | None]] = [
    ("m1", "signup", "u1", "2026-03-01 10:00:00", '{"plan": "pro", "seats": 3}'),  # spaces printed away
    ("m2", "signup", " u2 ", "2026-03-01 10:01:00", '{"a": null, "b": {"c": null, "d": 1}}'),  # nulls dropped
    ("m3", "login", "\tu3", "2026-03-01 10:02:00", '{"list": [null, {"x": null}]}'),  # nulls in lists stay
    ("m4", "login", "u4\u3000", "2026-03-01 10:03:00", '{"nullable": "yes", "e": "\\u00e9"}'),  # "null" in a key
    ("m5", "login", "   ", "2026-03-01 10:04:00", "{}"),  # no user left after the trim: a dead letter
    ("m1", "signup", "u1", "2026-03-01 10:00:00", '{"plan": "pro", "seats": 3}'),  # repeats line 1: a duplicate
    (" m6 ", " upgrade ", "u1", "2026-03-01 10:05:00", ""),  # empty properties: {}
    ("m7", "upgrade", "u5", "2026-03-01 10:06:00", "[1, 2]"),  # not an object: a dead letter
    ("m8", "login", "u\u00a0", "2026-03-01 10:07:00", '{"z": 1, "a": 2}'),  # member order kept
]
# The rows stored (trim takes spaces, Unicode ones included, not tabs).
ACCEPTED = {"m1", "m2", "m3", "m4", "m6", "m8"}


def _drop_null_members(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_null_members(v) for k, v in value.items() if v is not None}
    return value  # a list keeps its nulls (a merge patch replaces arrays whole)


def _expected_properties(text: str | None) -> dict[str, Any]:
    return _drop_null_members(json.loads(text)) if text and text.strip() else {}


def _parquet(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    table = pa.table({
        "message_id": [r[0] for r in rows],
        "event": [r[1] for r in rows],
        "user_id": [r[2] for r in rows],
        "timestamp": pa.array([r[3] for r in rows]).cast(pa.timestamp("us")),
        "properties": [r[4] for r in rows],
    })
    pq.write_table(table, path)
    return path


def _stored(store: Store) -> list[tuple[Any, ...]]:
    return store.raw.execute(
        "SELECT message_id, event, user_id, CAST(timestamp AS VARCHAR), CAST(properties AS VARCHAR) FROM events "
        "ORDER BY message_id").fetchall()


@pytest.fixture
def store(db_path: Path) -> Store:
    return open_store(db_path)


def test_parquet_rows_trimmed_deduped_and_printed_as_a_second_method_says(store: Store, tmp_path: Path) -> None:
    s = import_files(store, [_parquet(tmp_path / "a.parquet", ROWS)])
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (9, 6, 1, 2)
    stored = _stored(store)
    assert [r[0] for r in stored] == sorted(ACCEPTED)
    assert [r[2] for r in stored] == ["u1", "u2", "\tu3", "u4", "u1", "u"]  # a tab is not trimmed
    assert [r[1] for r in stored] == ["signup", "signup", "login", "login", "upgrade", "login"]
    by_id = {r[0].strip(): r for r in ROWS}
    for message_id, _, _, _, properties in stored:
        assert json.loads(properties) == _expected_properties(by_id[message_id][4])
        assert properties == json.dumps(json.loads(properties), separators=(",", ":"), ensure_ascii=False)
    dead = store.raw.execute("SELECT line, reason, raw FROM dead_letters ORDER BY line").fetchall()
    assert [(line, reason) for line, reason, _ in dead] == [
        (5, "no user_id and no anonymous_id"), (8, "properties is not a JSON object")]
    assert json.loads(dead[1][2])["message_id"] == "m7"  # the row read again from the file, as JSON


def test_a_second_file_and_a_reimport_store_nothing_twice(store: Store, tmp_path: Path) -> None:
    first = _parquet(tmp_path / "a.parquet", ROWS)
    # m2 and m8 again (m8 with another time: the stored row keeps its own), and one new event
    second = _parquet(tmp_path / "b.parquet", [ROWS[1], ("m8", "login", "u9", "2026-02-01 00:00:00", "{}"),
                                                ("m9", "login", "u9", "2026-03-02 00:00:00", "{}")])
    s = import_files(store, [first, second])
    assert [(f.imported, f.duplicates, f.rejected) for f in s.files] == [(6, 1, 2), (1, 2, 0)]
    again = import_files(store, [first, second])
    assert (again.imported, again.duplicates, again.rejected) == (0, 10, 2)
    assert store.raw.execute("SELECT count(*), count(DISTINCT message_id) FROM events").fetchall() == [(7, 7)]
    # seen_users from the stored rows only: u9's refused m8 (February) does not move its first time
    assert store.raw.execute("SELECT CAST(first_seen AS VARCHAR) FROM seen_users WHERE user_id = 'u9'"
                             ).fetchall() == [("2026-03-02 00:00:00",)]
    assert store.raw.execute("SELECT count(*) FROM dead_letters").fetchall() == [(2,)]


def test_naive_parquet_times_read_in_the_timezone_given(store: Store, tmp_path: Path) -> None:
    import_files(store, [_parquet(tmp_path / "a.parquet", ROWS[:1])], timezone="Europe/Berlin")
    assert store.raw.execute("SELECT CAST(timestamp AS VARCHAR) FROM events").fetchall() == [("2026-03-01 09:00:00",)]


def _csv(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    def cell(v: Any) -> str:
        return '"' + str(v).replace('"', '""') + '"' if v else ""
    path.write_text("message_id,event,user_id,timestamp,properties\n"
                    + "".join(",".join(cell(v) for v in r) + "\n" for r in rows), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    lines = []
    for m, e, u, t, p in rows:
        line = {"message_id": m, "event": e, "user_id": u, "timestamp": t}
        if p and p.strip():
            line["properties"] = json.loads(p)
        lines.append(json.dumps(line))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_parquet_csv_and_json_lines_store_the_same_rows(tmp_path: Path) -> None:
    objects = [r for r in ROWS if not (r[4] or "").startswith("[")]  # JSON lines cannot carry the non-object as text
    results = []
    for name, write in (("parquet", _parquet), ("csv", _csv), ("jsonl", _jsonl)):
        store = open_store(tmp_path / f"{name}.duckdb")
        summary = import_files(store, [write(tmp_path / f"e.{name}", objects)])
        results.append(((summary.imported, summary.duplicates, summary.rejected), _stored(store)))
        store.close()
    assert results[0][0] == (6, 1, 1)
    assert results[0] == results[1] == results[2]


def test_an_escaped_pipeline_member_name_in_json_lines_is_still_left_out(store: Store, tmp_path: Path) -> None:
    # `mp\u005fprocessing_time_ms` is `mp_processing_time_ms` once parsed: Mixpanel's delivery time, not a property
    path = tmp_path / "e.jsonl"
    path.write_text('{"event": "login", "user_id": "u1", "timestamp": "2026-03-01T10:00:00Z", '
                    '"properties": {"plan": "pro", "mp\\u005fprocessing_time_ms": 5}}\n', encoding="utf-8")
    s = import_files(store, [path])
    assert s.files[0].left_out == ("/properties/mp_processing_time_ms",)
    assert store.raw.execute("SELECT CAST(properties AS VARCHAR) FROM events").fetchall() == [('{"plan":"pro"}',)]
