"""A generated Parquet file of many row groups (read by both threads), with rejected rows and repeated message ids
spread over the file, imports exactly the rows a second method (plain Python over the same rows) says: the stored
events and their properties, the dead letters with line and reason, the counts, the seen tables; stored in
(event, timestamp) order. This pins the import's stored rows while its statements are made cheaper."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store import Store, open_store
from aha.store.importer import import_files

EVENTS = ["signup", "login", "page", "upgrade", "invite", "export", "a'quote"]
START = datetime(2026, 3, 1)
ROWS = 24_000
ROW_GROUP = 2_000  # 12 row groups


def _properties(rng: random.Random, i: int) -> str | None:
    roll = rng.random()
    if roll < 0.01:  # a dead letter, some between braces (the parse's no-trim path)
        return rng.choice(["{not json", "{not json}", '{"a": 1}}', "{", "}", " {oops} "])
    if roll < 0.015:  # an object between other blanks than spaces, or braces with spaces inside
        return rng.choice(['\t{"t": 1}\n', "{ }", ' { "s" : "{ x }" } ', '{"p": " padded "}'])
    if roll < 0.02:
        return rng.choice(["[1, 2]", '"text"', "null", "7"])  # JSON, not an object: a dead letter
    if roll < 0.05:
        return rng.choice([None, "", "   "])  # no properties: {}
    obj: dict[str, Any] = {"n": i, "plan": rng.choice(["free", "pro", None])}
    if rng.random() < 0.1:
        obj["nested"] = {"x": None, "y": [None, 1]}
    if rng.random() < 0.01:
        obj["received_at"] = "2026-03-01"  # pipeline metadata: left out of every row's properties
    return json.dumps(obj) if rng.random() < 0.5 else " " + json.dumps(obj, indent=1) + " "


def _rows(seed: int = 17) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(ROWS):
        if rows and rng.random() < 0.03:  # a repeated message id: the same row, or another row under its id
            earlier = dict(rng.choice(rows))
            if rng.random() < 0.5:
                earlier["timestamp"] = START + timedelta(seconds=rng.randrange(90 * 86400))
                earlier["event"] = rng.choice(EVENTS)
            rows.append(earlier)
            continue
        user = f"u{rng.randrange(800)}" if rng.random() < 0.7 else None
        anon = f"a{rng.randrange(3000)}" if user is None or rng.random() < 0.3 else None
        event: str | None = rng.choice(EVENTS)
        if rng.random() < 0.005:
            event = rng.choice([None, "  "])  # no event name: a dead letter
        if rng.random() < 0.005:
            user = anon = None  # nobody: a dead letter
        rows.append({
            "message_id": f"m{i}" if rng.random() < 0.95 else f" m{i} ",  # trimmed
            "event": event if event is None or rng.random() < 0.9 else f" {event} ",
            "user_id": user,
            "anonymous_id": anon,
            "timestamp": START + timedelta(seconds=rng.randrange(90 * 86400)),
            "properties": _properties(rng, i),
        })
    return rows


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def _expected(rows: list[dict[str, Any]]) -> tuple[dict[str, tuple[Any, ...]], list[tuple[int, str]]]:
    """The second method: (message id -> stored row) and the dead letters (line, reason), in plain Python."""
    stored: dict[str, tuple[Any, ...]] = {}
    dead: list[tuple[int, str]] = []
    def text(row: dict[str, Any], name: str) -> str | None:
        value = row[name]
        return value.strip(" ") or None if value is not None else None

    for line, row in enumerate(rows, start=1):
        event, user, anon = text(row, "event"), text(row, "user_id"), text(row, "anonymous_id")
        props_text = (row["properties"] or "").strip(" ")
        try:
            props = json.loads(props_text) if props_text else {}
        except ValueError:
            props = None
        if not isinstance(props, dict):  # the nested object is checked before the other rules
            dead.append((line, "properties is not a JSON object"))
            continue
        if event is None:
            dead.append((line, "empty event name"))
            continue
        if user is None and anon is None:
            dead.append((line, "no user_id and no anonymous_id"))
            continue
        props.pop("received_at", None)
        message_id = text(row, "message_id")
        assert message_id is not None
        if message_id not in stored:  # the first line of an id is the one stored
            stored[message_id] = (event, user, anon, row["timestamp"], _drop_nulls(props))
    return stored, dead


@pytest.fixture
def store(db_path: Path) -> Store:
    return open_store(db_path)


def test_a_generated_file_stores_what_plain_python_says(store: Store, tmp_path: Path) -> None:
    rows = _rows()
    path = tmp_path / "events.parquet"
    table = pa.table({
        "message_id": [r["message_id"] for r in rows], "event": [r["event"] for r in rows],
        "user_id": [r["user_id"] for r in rows], "anonymous_id": [r["anonymous_id"] for r in rows],
        "timestamp": pa.array([r["timestamp"] for r in rows], pa.timestamp("us")),
        "properties": [r["properties"] for r in rows],
    })
    pq.write_table(table, path, row_group_size=ROW_GROUP)
    assert pq.ParquetFile(path).num_row_groups == ROWS // ROW_GROUP
    expected, dead = _expected(rows)
    assert len(expected) > 20_000 and len(dead) > 500  # the file holds what it is meant to test

    summary = import_files(store, [path], allow_rejects=True)

    assert (summary.rows_read, summary.imported, summary.rejected) == (ROWS, len(expected), len(dead))
    assert summary.duplicates == ROWS - len(expected) - len(dead)
    got = store.raw.execute(
        "SELECT message_id, event, user_id, anonymous_id, timestamp, CAST(properties AS VARCHAR) FROM events"
    ).fetchall()  # in stored order
    assert {r[0]: (*r[1:5], json.loads(r[5])) for r in got} == expected
    assert all(r[5] == json.dumps(json.loads(r[5]), separators=(",", ":")) for r in got)  # printed compactly
    assert [(r[1], r[4]) for r in got] == sorted((r[1], r[4]) for r in got)  # clustered by event, then time
    assert store.raw.execute("SELECT line, reason FROM dead_letters ORDER BY line").fetchall() == dead
    first_seen: dict[str, datetime] = {}
    for _, user, _, ts, _ in expected.values():
        if user is not None:
            first_seen[user] = min(ts, first_seen.get(user, ts))
    assert dict(store.raw.execute("SELECT user_id, first_seen FROM seen_users").fetchall()) == first_seen
    assert summary.files[0].left_out == ("received_at",) or "/properties/received_at" in summary.files[0].left_out

    again = import_files(store, [path], allow_rejects=True)  # every accepted row is now stored: nothing new
    assert (again.imported, again.duplicates, again.rejected) == (0, ROWS - len(dead), len(dead))
    assert store.raw.execute("SELECT count(*) FROM events").fetchall() == [(len(expected),)]
