"""Numeric ids: one rule on the tracking server and `aha import` (docs/ingest.md, "Ids"). The same lines sent to a
real server and imported from a file store the same user ids and refuse the same lines with the same reason.

Before, the server refused `"userId": 1e20` ("Input should be a valid string") that the import stored as the user
`100000000000000000000`; the import stored the 30-digit integer 123456789012345678901234567890 as the user
`123456789012345677877719597056` (read as a double) while the server kept its digits (two users for one id), and
the import stored `1e400` as the user `inf`."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.serving import aha, create_key, rows, running, settled

LONG = ("a numeric id must fit 64 bits, and one written with a fraction or an exponent (1e20) be at most 2^53 "
        "(9007199254740992): send a longer id as a string")
# (userId as written in JSON, the user id stored, or None when refused with LONG)
IDS = [
    ("12345", "12345"), ("12345.0", "12345"), ("1.5e3", "1500"), ("-0", "0"),
    ("9007199254740993", "9007199254740993"),  # an integer within 64 bits: its digits, exactly
    ("18446744073709551615", "18446744073709551615"), ("-9223372036854775808", "-9223372036854775808"),
    ("9007199254740992.0", "9007199254740992"),  # 2^53 as a double: still exact
    ("1e20", None), ("9007199254740994.0", None), ("123456789012345678901234567890", None),
    ("18446744073709551616", None), ("-9223372036854775809", None), ("1e400", None),
]


def lines() -> list[str]:
    return [f'{{"type":"track","userId":{text},"event":"Signed Up","timestamp":"2026-03-01T12:00:00Z",'
            f'"messageId":"m{n}"}}' for n, (text, _) in enumerate(IDS)]


def test_the_server_and_the_import_store_and_refuse_the_same_numeric_ids(tmp_path: Path) -> None:
    expected = sorted((f"m{n}", stored) for n, (_, stored) in enumerate(IDS) if stored is not None)
    refused = [f"m{n}" for n, (_, stored) in enumerate(IDS) if stored is None]  # in file order

    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "ids.jsonl").write_text("\n".join(lines()) + "\n", encoding="utf-8")
    done = aha("import", "ids.jsonl", "--db", "aha.duckdb", cwd=imported)
    assert done.returncode == 0, done.stderr
    assert sorted(rows(imported / "aha.duckdb", "SELECT message_id, user_id FROM events")) == expected
    letters = rows(imported / "aha.duckdb", "SELECT line, field, reason FROM dead_letters ORDER BY line")
    assert [(f"m{line - 1}", field, reason) for line, field, reason in letters] == [
        (m, "userId", LONG) for m in refused]

    served = tmp_path / "served" / "aha.duckdb"
    served.parent.mkdir()
    key = create_key(served)
    with running(served) as server:
        batch = '{"batch":[' + ",".join(lines()) + "]}"  # the numbers as written: no Python float in between
        answer = httpx.post(server.url + "/v1/batch", content=batch, auth=(key, ""),
                            headers={"content-type": "application/json"})
        if "1e400" in batch:  # a number past a double's range refuses the whole body (docs/ingest.md, "Values")
            assert answer.status_code == 400, answer.text
            batch = '{"batch":[' + ",".join(line for line in lines() if "1e400" not in line) + "]}"
            answer = httpx.post(server.url + "/v1/batch", content=batch, auth=(key, ""),
                                headers={"content-type": "application/json"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [(r["messageId"], r["field"], r["reason"]) for r in body["rejected"]] == [
            (m, "userId", LONG) for m in refused if m != "m13"]
        settled(server)
    assert sorted(rows(served, "SELECT message_id, user_id FROM events")) == expected
