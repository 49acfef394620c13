"""One rule for numbers on every path (store/values.py, docs/ingest.md "Values"): NaN, ±Infinity and numbers past
a double's range are refused with a named reason and a dead letter, by the server, dead-letter replay and `aha
import` of every format, nested or not. Before: the server refused them, but `aha import` stored them (CSV, TSV,
JSON lines flat and Segment, .gz, Parquet typed, nested and JSON text), replay stored a refused NaN body, and the
server stored a 400-digit integer (which the engine reads as infinity)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store.values import OUT_OF_RANGE, unstorable_number
from tests.serving import aha, create_key, rows, running

T = "2026-03-01T00:00:00Z"
NAN, INF = float("nan"), float("inf")
NOT_JSON = "{} is not valid JSON (send null or a string)"
BIG = "9" * 400  # an integer past a double's range


def _flat(i: str, value: str, where: str = "amount") -> str:
    inner = f'"{where}":{value}' if where == "amount" else f'"properties":{{"x":{{"y":[1,{value}]}}}}'
    return f'{{"message_id":"{i}","event":"buy","user_id":"u","timestamp":"{T}",{inner}}}'


# file name → (content, {reason: rows refused}); every file also holds good rows, which are all imported


def _call(**members: Any) -> str:
    """A JSON line as Python's json.dumps writes it: NaN and Infinity as such (how careless exports get them)."""
    return json.dumps({"timestamp": T, "user_id": "u", **members})


JSON_LINES = "\n".join([
    _flat("j1", "NaN"), _flat("j2", "Infinity", where="nested"), _flat("j3", "1e400"), _flat("j4", BIG),
    _flat("j5", "-Infinity"), _flat("j6", "nan"), _flat("j7", "-inf"), _flat("j8", "1E+0400"),
    _flat("ok1", "5"), _flat("ok2", "1e308"), _flat("ok3", '"NaN"'), _flat("ok4", "1.5e-400"),
    _call(message_id="ok5", event="buy", note="nan, inf and 1e400 as text"),
    *[_flat(f"ok{i}", str(i)) for i in range(6, 12)],
])
JSON_LINES_REASONS = {NOT_JSON.format("NaN"): 2, NOT_JSON.format("Infinity"): 1, NOT_JSON.format("-Infinity"): 2,
                      OUT_OF_RANGE: 3}
SEGMENT = "\n".join([
    _call(type="track", messageId="s1", event="buy", userId="u", properties={"a": NAN}),
    _call(type="identify", messageId="s2", userId="u", traits={"score": INF}),
    _call(type="group", messageId="s3", userId="u", groupId="g", traits={"n": ["HUGE"]}).replace('"HUGE"', "1e999"),
    *[_call(type="track", messageId=f"sk{i}", event="buy", userId="u", properties={"a": i}) for i in range(4)],
    _call(type="identify", messageId="sk9", userId="u", traits={"score": 3}),
])
SEGMENT_REASONS = {NOT_JSON.format("NaN"): 1, NOT_JSON.format("Infinity"): 1, OUT_OF_RANGE: 1}
CSV = "message_id,event,user_id,timestamp,amount,properties\n" + "".join(
    f"{i},buy,u,{T},{amount},{props}\n" for i, amount, props in [
        ("c1", "1.5e400", "{}"), ("c2", "1", '"{""a"": NaN}"'), ("c3", "NaN", "{}"), ("c4", "Infinity", "{}"),
        ("c5", "2", "{}"), ("c6", "3", '"{""a"": 1}"'), ("c7", "4", "{}"), ("c8", "5", "{}")])
CSV_REASONS = {NOT_JSON.format("Infinity"): 1, NOT_JSON.format("NaN"): 1}  # "NaN", "Infinity" cells are text


def _parquet(path: Path) -> None:
    table = pa.table({
        "message_id": [f"p{i}" for i in range(8)], "event": ["buy"] * 8, "user_id": ["u"] * 8,
        "timestamp": pa.array([T[:-1]] * 8).cast(pa.timestamp("us")),
        "amount": [NAN, 1.0, INF, 2.0, 3.0, 4.0, 5.0, 6.0],
        "f32": pa.array([1.0, 2.0, 3.0, 4.0, NAN, 5.0, 6.0, 7.0], type=pa.float32()),
        "nested": pa.array([{"a": 1.0, "b": [1.0]}, {"a": NAN, "b": [1.0]}, {"a": 1.0, "b": [-INF]},
                            {"a": 1.0, "b": []}, {"a": 2.0, "b": []}, {"a": 3.0, "b": []}, {"a": 4.0, "b": [2.0]},
                            {"a": 5.0, "b": []}]),
        "m": pa.array([[("k", 1.0)]] * 3 + [[("k", NAN)]] + [[("k", 1.0)]] * 4,
                      type=pa.map_(pa.string(), pa.float64())),
    })
    pq.write_table(table, path)


PARQUET_REASONS = {NOT_JSON.format("NaN"): 4, NOT_JSON.format("Infinity"): 1}  # rows p0 p1 p2 p3 p4
JSON_TEXT = pa.table({"message_id": ["q1", "q2", "q3", "q4"], "event": ["buy"] * 4, "user_id": ["u"] * 4,
                      "timestamp": [T] * 4, "properties": ['{"a": NaN}', '{"a": [1, 2e400]}', '{"a": 1}',
                                                          '{"a": "Infinity"}']})
JSON_TEXT_REASONS = {NOT_JSON.format("NaN"): 1, OUT_OF_RANGE: 1}
# an export repeats its properties: then each distinct text is checked once (store/values.py), not each row
REPEATS = "\n".join(_call(message_id=f"r{i}", event="buy", properties={"a": NAN if i % 10 == 3 else i % 2})
                     for i in range(40))
REPEATS_REASONS = {NOT_JSON.format("NaN"): 4}


def _stored_numbers_are_finite(text: str | None) -> bool:
    """Every number in stored JSON text is a finite double (Python's parser: NaN/Infinity map to floats)."""
    if text is None:
        return True

    def walk(value: Any) -> bool:
        if isinstance(value, float):
            return math.isfinite(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return math.isfinite(float(value)) if abs(value) < 2 ** 1024 else False
        if isinstance(value, dict):
            return all(walk(v) for v in value.values())
        if isinstance(value, list):
            return all(walk(v) for v in value)
        return True

    return unstorable_number(text) is None and walk(json.loads(text))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("values")
    (folder / "flat.jsonl").write_text(JSON_LINES)
    (folder / "flat2.jsonl.gz").write_bytes(gzip.compress(JSON_LINES.replace('"j', '"g').replace('"ok', '"gk')
                                                          .encode()))
    (folder / "calls.jsonl").write_text(SEGMENT)
    (folder / "cells.csv").write_text(CSV)
    (folder / "cells.tsv").write_text(CSV.replace(",", "\t").replace('"{""a"": NaN}"', '{"a": NaN}')
                                      .replace('"{""a"": 1}"', '{"a": 1}').replace("\nc", "\nt"))
    _parquet(folder / "typed.parquet")
    pq.write_table(JSON_TEXT, folder / "text.parquet")
    (folder / "repeats.jsonl").write_text(REPEATS)
    names = ["repeats.jsonl", "flat.jsonl", "flat2.jsonl.gz", "calls.jsonl", "cells.csv", "cells.tsv",
             "typed.parquet", "text.parquet"]
    done = aha("import", *names, "--db", "aha.duckdb", "--json", "--allow-rejects", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb", {Path(f["file"]).name: f for f in json.loads(done.stdout)["files"]}


@pytest.mark.parametrize(("name", "reasons", "good"), [
    ("flat.jsonl", JSON_LINES_REASONS, 11), ("flat2.jsonl.gz", JSON_LINES_REASONS, 11),
    ("calls.jsonl", SEGMENT_REASONS, 5), ("cells.csv", CSV_REASONS, 6), ("cells.tsv", CSV_REASONS, 6),
    ("typed.parquet", PARQUET_REASONS, 3), ("text.parquet", JSON_TEXT_REASONS, 2),
    ("repeats.jsonl", REPEATS_REASONS, 36),
])
def test_import_refuses_numbers_the_server_refuses(imported: tuple[Path, dict[str, Any]], name: str,
                                                   reasons: dict[str, int], good: int) -> None:
    db, summary = imported
    refused = sum(reasons.values())
    assert (summary[name]["rows_read"], summary[name]["imported"], summary[name]["rejected"]) == (
        good + refused, good, refused)
    assert summary[name]["reasons"] == reasons
    letters = [(f, r) for f, r, file in rows(db, "SELECT field, reason, file FROM dead_letters")
               if Path(str(file)).name == name]
    assert sorted(r for _, r in letters) == sorted(r for r, n in reasons.items() for _ in range(n))
    assert {f for f, _ in letters} <= {"properties", "traits"}


def test_nothing_stored_holds_a_number_that_is_not_finite(imported: tuple[Path, dict[str, Any]]) -> None:
    db, _ = imported
    stored = rows(db, "SELECT CAST(properties AS VARCHAR) FROM events UNION ALL SELECT CAST(traits AS VARCHAR) "
                      "FROM users UNION ALL SELECT CAST(traits AS VARCHAR) FROM accounts")
    assert len(stored) == 11 + 11 + 4 + 6 + 6 + 3 + 2 + 36 + 1  # the good events, and u's traits (its identify kept)
    assert [t for (t,) in stored if not _stored_numbers_are_finite(t)] == []
    # strings are data, whatever they spell
    texts = {t for (t,) in rows(db, "SELECT properties->>'amount' FROM events WHERE message_id IN ('ok3', 'c3')")}
    assert texts == {"NaN"}


def test_the_server_refuses_an_integer_past_a_double_and_replay_refuses_nan(tmp_path: Path) -> None:
    """A 400-digit integer was stored (msgspec and int() read it exactly); a NaN body refused with a key became a
    dead letter that `aha dead-letters --replay` then stored (replay read it with Python's lenient json.loads)."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    with running(db) as server:
        answers = [
            httpx.post(server.url + "/v1/track", content=b'{"userId": "b1", "event": "E", "properties": {"n": '
                       + BIG.encode() + b"}}", auth=(key, "")),
            httpx.post(server.url + "/v1/batch", content=b'{"batch": [{"type": "track", "userId": "b2", "event": '
                       b'"E", "properties": {"n": -' + BIG.encode() + b"}}]}", auth=(key, "")),
            httpx.post(server.url + "/v1/track", content=b'{"type": "track", "userId": "b3", "event": "E", '
                       b'"properties": {"n": NaN}}', auth=(key, "")),  # SDK bodies carry their type: replayable
            httpx.post(server.url + "/v1/track", auth=(key, ""),
                       json={"userId": "ok", "event": "E", "properties": {"n": int("9" * 300)}}),
        ]
        assert [a.status_code for a in answers] == [400, 400, 400, 200]
        assert [a.json()["reason"] for a in answers[:3]] == [OUT_OF_RANGE, OUT_OF_RANGE, NOT_JSON.format("NaN")]
    replayed = aha("dead-letters", "--replay", "--db", str(db), "--json", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["stored"] == 0
    assert rows(db, "SELECT user_id FROM events") == [("ok",)]
    assert sorted(r for (r,) in rows(db, "SELECT reason FROM dead_letters")) == sorted(
        [OUT_OF_RANGE, OUT_OF_RANGE, NOT_JSON.format("NaN")])
