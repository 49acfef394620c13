"""One rule for repeated names on every path (docs/ingest.md, "Values"): a JSON object that names a member twice is
refused with a named reason and a dead letter, by the server, dead-letter replay and `aha import` of every format;
a CSV/TSV header naming a column twice refuses the file. Before: `aha import` stored `{"a":1,"a":2}` as sent (the
engine then read a=1) while the server kept the last (a=2), and a header `plan,plan` was stored as `plan` and an
invented `plan_1` without a word."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store.values import duplicate_key
from tests.serving import aha, create_key, rows, running

T = "2026-03-01T00:00:00Z"


def _repeats(text: str) -> bool:
    """Whether JSON `text` names a member twice in any object (the second method: Python's parser, by pairs)."""
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        found = found or len({k for k, _ in items}) < len(items)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found


def _track(i: str, properties: str, extra: str = "") -> str:
    return (f'{{"type":"track","messageId":"{i}","event":"buy","userId":"u{i}","timestamp":"{T}"{extra},'
            f'"properties":{properties}}}')


SEGMENT = "\n".join([
    _track("s1", '{"a":1,"a":2}'),                        # the defect: import stored it, the engine read a=1
    _track("s2", '{"b":{"x":1,"x":2}}'),                  # nested
    _track("s3", '{"b":[{"x":1},{"y":{"z":1,"z":1}}]}'),  # in a list, the same value twice
    _track("s4", "{}", extra=',"event":"sell"'),          # the call's own members
    _track("s5", '{"a":1}', extra=',"context":{"groupId":"g1","groupId":"g2"}'),
    '{"type":"identify","messageId":"s6","userId":"u","timestamp":"' + T + '","traits":{"plan":"a","plan":"b"}}',
    '{"type":"identify","messageId":"s7","userId":"v","timestamp":"' + T
    + '","context":{"traits":{"plan":"a","plan":"b"}}}',
    _track("ok1", '{"a":1,"A":2,"b":{"a":1},"c":[{"a":1},{"a":2}]}'),  # names differing in case, or in other objects
    _track("ok2", '{"t":"10:00:00","u":"https://x/?a=1&a=2","v":"{\\"a\\":1,\\"a\\":2}"}'),  # text, not names
    *[_track(f"ok{i}", f'{{"a":{i}}}') for i in range(3, 9)],
])
SEGMENT_REPEATS = {"a": 1, "x": 1, "z": 1, "event": 1, "groupId": 1, "plan": 2}
FLAT = "\n".join([
    f'{{"message_id":"f1","event":"buy","user_id":"u","timestamp":"{T}","plan":"a","plan":"b"}}',
    f'{{"message_id":"f2","event":"buy","user_id":"u","timestamp":"{T}","properties":{{"k":1,"k":2}}}}',
    f'{{"message_id":"f3","event":"buy","user_id":"u","user_id":"v","timestamp":"{T}"}}',
    *[f'{{"message_id":"fk{i}","event":"buy","user_id":"u","timestamp":"{T}","plan":"p{i}"}}' for i in range(5)],
])
FLAT_REPEATS = {"plan": 1, "k": 1, "user_id": 1}
CELLS = [("1", '{"a": 1, "a": 2}'), ("2", '{"b": {"x": [1], "x": [1]}}'), ("3", '{"a": 1}'),
         ("4", '{"b": {"x": 1}, "a": 1}'), ("5", "{}"), ("6", "{}")]
CSV = "message_id,event,user_id,timestamp,properties\n" + "".join(
    f'c{i},buy,u,{T},"{props.replace(chr(34), chr(34) * 2)}"\n' for i, props in CELLS)
TSV = "message_id\tevent\tuser_id\ttimestamp\tproperties\n" + "".join(
    f"t{i}\tbuy\tu\t{T}\t{props}\n" for i, props in CELLS)
CSV_REPEATS = {"a": 1, "x": 1}


def _reasons(repeats: dict[str, int]) -> dict[str, int]:
    return {duplicate_key(name): n for name, n in repeats.items()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("repeats")
    (folder / "calls.jsonl").write_text(SEGMENT)
    (folder / "flat.jsonl.gz").write_bytes(gzip.compress(FLAT.encode()))
    (folder / "cells.csv").write_text(CSV)
    (folder / "cells.tsv").write_text(TSV)
    texts = ['{"a": 1, "a": 2}', '{"b": {"x": 1, "x": 2}}', '{"a": 1}', "{}", '{"b": {"x": 1}}']
    pq.write_table(pa.table({"message_id": [f"p{i}" for i in range(5)], "event": ["buy"] * 5,
                             "user_id": ["u"] * 5, "timestamp": [T] * 5, "properties": texts}),
                   folder / "text.parquet")
    names = ["calls.jsonl", "flat.jsonl.gz", "cells.csv", "cells.tsv", "text.parquet"]
    done = aha("import", *names, "--db", "aha.duckdb", "--json", "--allow-rejects", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb", {Path(f["file"]).name: f for f in json.loads(done.stdout)["files"]}


@pytest.mark.parametrize(("name", "repeats", "good"), [
    ("calls.jsonl", SEGMENT_REPEATS, 8), ("flat.jsonl.gz", FLAT_REPEATS, 5), ("cells.csv", CSV_REPEATS, 4),
    ("cells.tsv", CSV_REPEATS, 4), ("text.parquet", {"a": 1, "x": 1}, 3),
])
def test_import_refuses_repeated_names_as_the_server_does(imported: tuple[Path, dict[str, Any]], name: str,
                                                          repeats: dict[str, int], good: int) -> None:
    db, summary = imported
    refused = sum(repeats.values())
    assert (summary[name]["rows_read"], summary[name]["imported"], summary[name]["rejected"]) == (
        good + refused, good, refused)
    assert summary[name]["reasons"] == _reasons(repeats)
    letters = sorted(str(r) for r, file in rows(db, "SELECT reason, file FROM dead_letters")
                     if Path(str(file)).name == name)
    assert letters == sorted(r for r, n in _reasons(repeats).items() for _ in range(n))


def test_nothing_stored_repeats_a_name(imported: tuple[Path, dict[str, Any]]) -> None:
    db, _ = imported
    stored = rows(db, "SELECT CAST(properties AS VARCHAR) FROM events UNION ALL SELECT CAST(traits AS VARCHAR) "
                      "FROM users WHERE traits IS NOT NULL")
    assert len([t for (t,) in stored if t is not None]) >= 8 + 5 + 4 + 4 + 3
    assert [t for (t,) in stored if t is not None and _repeats(str(t))] == []
    # the good rows are whole: names in other objects, differing in case, or inside text are data
    ok1, ok2 = (json.loads(str(t)) for (t,) in rows(
        db, "SELECT CAST(properties AS VARCHAR) FROM events WHERE message_id IN ('ok1', 'ok2') ORDER BY message_id"))
    assert ok1 == {"a": 1, "A": 2, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}
    assert ok2["v"] == '{"a":1,"a":2}'


def test_the_server_and_replay_refuse_repeated_names(tmp_path: Path) -> None:
    """The server kept the last of two names (msgspec's and Python's decoders), so the same body gave a=2 by HTTP
    and a=1 by `aha import`; now both refuse it, and a replay of its dead letter refuses it again."""
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    bodies = [
        ("/v1/track", b'{"type":"track","userId":"h1","event":"E","properties":{"a":1,"a":2}}', "a"),
        ("/v1/batch", b'{"batch":[{"type":"identify","userId":"h2","traits":{"p":{"q":1,"q" :2}}}]}', "q"),
        ("/v1/track", b'{"type":"track","userId":"h3","userId":"h4","event":"E"}', "userId"),
        ("/v1/track", b'{"type":"track","userId":"h5","event":"E","properties":{"a\\u003a":1,"a:":2}}', "a:"),
    ]
    with running(db) as server:
        answers = [httpx.post(server.url + route, content=body, auth=(key, "")) for route, body, _ in bodies]
        good = httpx.post(server.url + "/v1/track", auth=(key, ""), content=json.dumps(
            {"userId": "ok", "event": "E", "timestamp": T, "properties": {"t": "10:00:00", "b": {"a": 1}, "a": 1}}))
        assert [a.status_code for a in answers] == [400] * len(bodies)
        assert [a.json()["reason"] for a in answers] == [duplicate_key(name) for *_, name in bodies]
        assert good.status_code == 200, good.text
    replayed = aha("dead-letters", "--replay", "--db", str(db), "--json", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["stored"] == 0
    assert rows(db, "SELECT user_id, CAST(properties AS VARCHAR) FROM events") == [
        ("ok", '{"t":"10:00:00","b":{"a":1},"a":1}')]
    assert sorted(str(r) for (r,) in rows(db, "SELECT reason FROM dead_letters")) == sorted(
        duplicate_key(name) for *_, name in bodies)


@pytest.mark.parametrize(("header", "message"), [
    ("plan,plan", 'the header names column "plan" twice (columns 5 and 6)'),
    ("plan,x,Plan", 'the header names column "plan" twice (columns 5 and 7, as "plan" and "Plan": names ignore '
                    "case)"),
])
def test_a_header_naming_a_column_twice_refuses_the_file(tmp_path: Path, header: str, message: str) -> None:
    """DuckDB named the second `plan` `plan_1` (and a real `plan_1` column `plan_1_1`): the property was stored
    under a name the file never had. Now the file is refused in one line naming the column, nothing written."""
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"dup{suffix}"
        cells = ",".join(["a"] * (header.count(",") + 1))
        path.write_text(f"message_id,event,user_id,timestamp,{header}\nm1,buy,u,{T},{cells}\n".replace(",", sep))
        done = aha("import", path.name, "--db", "aha.duckdb", cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == (f"error: {path.name}: {message}. Rename or remove one of them and import "
                                       "again.")
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(0,)]


def test_an_empty_header_cell_refuses_a_column_with_values_and_leaves_out_an_empty_one(tmp_path: Path) -> None:
    """DuckDB named a column with an empty header cell `columnN`, stored as a property the file never had (pandas'
    unnamed index column gave every event `column0`, a spreadsheet's trailing separators `column5: null`). Now a
    column holding a value refuses the file naming its position; one holding none is left out, nothing invented."""
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"index{suffix}"
        path.write_text(f",message_id,event,user_id,timestamp\n0,m1,buy,u,{T}\n1,m2,buy,u,{T}\n".replace(",", sep))
        done = aha("import", path.name, "--db", "aha.duckdb", cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f'error: {path.name}: column 1 has no name in the header, yet holds values (such as "0"). Name it in the '
            "header, or remove the column (pandas writes its index so unless `to_csv(index=False)`), and import "
            "again.")
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(0,)]
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"trailing{suffix}"
        path.write_text(f"message_id,event,user_id,timestamp,,plan,,\n{suffix}1,buy,u,{T},,pro,,\n"
                        f"{suffix}2,buy,u,{T},,,,\n".replace(",", sep))
        done = aha("import", path.name, "--db", "aha.duckdb", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    stored = rows(tmp_path / "aha.duckdb", "SELECT message_id, properties FROM events ORDER BY 1")
    assert [(m, json.loads(str(p))) for m, p in stored] == [
        (".csv1", {"plan": "pro"}), (".csv2", {"plan": None}), (".tsv1", {"plan": "pro"}), (".tsv2", {"plan": None})]
