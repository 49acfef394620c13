"""Export shapes a new user brings, tried from outside (hand-counted): each imports with the hinted --map, or is
refused in one line naming the field and the fix."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store import Store, open_store
from aha.store.importer import ImportRefused, import_files


@pytest.fixture
def store(db_path: Path) -> Store:
    return open_store(db_path)


def _ga4(path: Path) -> Path:
    """GA4's BigQuery export, flattened: event_timestamp in epoch microseconds (int64), user_pseudo_id the device."""
    t0 = 1767261600_000000  # 2026-01-01 10:00 UTC in µs
    pq.write_table(pa.Table.from_pylist([
        {"event_name": "first_visit", "event_timestamp": t0 + i * 86400_000000, "user_pseudo_id": f"p{i}",
         "user_id": None} for i in range(3)
    ] + [
        {"event_name": "purchase", "event_timestamp": t0 + i * 86400_000000 + 60_000123, "user_pseudo_id": f"p{i}",
         "user_id": f"u{i}" if i == 0 else None} for i in range(3)
    ]), path)
    return path


def test_a_ga4_export_imports_its_microsecond_times_with_the_hinted_map(store: Store, tmp_path: Path) -> None:
    path = _ga4(tmp_path / "ga4.parquet")
    with pytest.raises(ImportRefused) as err:
        import_files(store, [path])
    assert "--map event=event_name,timestamp=event_timestamp,anonymous_id=user_pseudo_id" in str(err.value)
    mapping = {"event": "event_name", "timestamp": "event_timestamp", "anonymous_id": "user_pseudo_id"}
    s = import_files(store, [path], mapping=mapping)
    assert (s.rows_read, s.imported, s.rejected) == (6, 6, 0)  # before: 6 × unparseable timestamp
    got = store.raw.execute("SELECT anonymous_id, event, timestamp FROM events ORDER BY 1, 3").fetchall()
    assert got[:2] == [("p0", "first_visit", datetime(2026, 1, 1, 10)),
                       ("p0", "purchase", datetime(2026, 1, 1, 10, 1, 0, 123))]
    assert got[-1] == ("p2", "purchase", datetime(2026, 1, 3, 10, 1, 0, 123))


def test_nanosecond_epoch_text_is_read_exactly(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ns.csv"
    path.write_text("event,user_id,timestamp\na,u1,1767261600123456789\nb,u1,100000000000000000000\n")
    s = import_files(store, [path], allow_rejects=True)
    assert (s.imported, s.rejected) == (1, 1)  # 1e20 and above: refused, never guessed
    assert store.raw.execute("SELECT timestamp FROM events").fetchall() == [(datetime(2026, 1, 1, 10, 0, 0, 123456),)]


SHEET = ("\ufeffuser_id;event;timestamp;amount;note\r\n"  # German Excel: BOM, CRLF, `;`, decimal comma, d/m/Y
         "u1;signup;03/01/2026 10:00;12,50;a, b\r\n"
         "u2;signup;13/01/2026 09:30;-0,5;x\r\n"
         "u2;pay;13/01/2026 09:45;7;1,234.5\r\n")


def test_a_semicolon_spreadsheet_is_split_and_its_dates_hinted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes(SHEET.encode())
    with pytest.raises(ImportRefused) as err:  # before: one column named after the whole header line
        import_files(store, [path])
    assert "3 of 3 rows would be rejected (3 × unparseable timestamp)" in str(err.value)
    assert "add --timestamp-format '%d/%m/%Y %H:%M'" in str(err.value)
    s = import_files(store, [path], timestamp_format="%d/%m/%Y %H:%M")
    assert (s.rows_read, s.imported, s.rejected) == (3, 3, 0)
    got = store.raw.execute("SELECT user_id, event, timestamp, properties FROM events ORDER BY 3").fetchall()
    assert got == [
        ("u1", "signup", datetime(2026, 1, 3, 10), '{"amount":12.5,"note":"a, b"}'),
        ("u2", "signup", datetime(2026, 1, 13, 9, 30), '{"amount":-0.5,"note":"x"}'),
        ("u2", "pay", datetime(2026, 1, 13, 9, 45), '{"amount":7,"note":"1,234.5"}'),
    ]


def test_a_comma_file_keeps_a_comma_cell_as_text(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text('user_id,event,timestamp,amount,x;y\nu1,signup,2026-01-03 10:00,"12,50",1\n')
    import_files(store, [path])
    assert store.raw.execute("SELECT properties FROM events").fetchall() == [('{"amount":"12,50","x;y":1}',)]


@pytest.mark.parametrize(("samples", "expected"), [
    (["03/01/2026 10:00", "13/01/2026 09:30"], "%d/%m/%Y %H:%M"),
    (["01/13/2026"], "%m/%d/%Y"),
    (["3.1.2026 10:00:05"], "%d.%m.%Y %H:%M:%S"),
    (["03-01-2026T10:00"], "%d-%m-%YT%H:%M"),
    (["13/13/2026"], None),
    (["03/01/2026", "03/01/2026 10:00"], None),
    (["yesterday"], None),
])
def test_the_timestamp_format_guess(samples: list[str], expected: str | None) -> None:
    from aha.store.mapping import guess_timestamp_format
    assert guess_timestamp_format(samples) == expected


def test_an_empty_csv_among_daily_exports_is_zero_rows_not_a_refusal(store: Store, tmp_path: Path) -> None:
    """A folder of daily exports holds a day without events: 0 bytes, a lone byte-order mark and CRLF, an empty
    gzip. Before: `no columns 'user_id', 'event', 'timestamp' (columns: column0)`, and the whole command refused."""
    import gzip
    (tmp_path / "d1.csv").write_bytes(b"")
    (tmp_path / "d2.csv").write_bytes(b"\xef\xbb\xbf\r\n")
    with gzip.open(tmp_path / "d3.csv.gz", "wb"):
        pass
    (tmp_path / "d4.tsv").write_bytes(b"")
    (tmp_path / "d5.csv").write_text("event,user_id,timestamp\nsignup,u1,2026-01-02 10:00\n"
                                     "signup,u2,2026-01-03 10:00\n")
    s = import_files(store, [str(tmp_path / "d*")])
    assert [(f.rows_read, f.imported) for f in s.files] == [(0, 0), (0, 0), (0, 0), (0, 0), (2, 2)]
    assert store.raw.execute("SELECT count(*) FROM events").fetchall() == [(2,)]
    assert import_files(store, [tmp_path / "d2.csv"], kind="users").rows_read == 0


def test_an_id_that_is_true_an_object_or_a_fraction_is_refused_as_the_server_does(store: Store, tmp_path: Path) -> None:
    """Before: `"userId": true` was stored as the user "true" (the server refuses it, as Segment does)."""
    t = '"timestamp":"2026-01-01T00:00:00Z"'
    lines = [
        '{"type":"track","event":"E","userId":true,' + t + '}',
        '{"type":"track","event":"E","userId":"u1","anonymousId":{"a":1},' + t + '}',
        '{"type":"alias","userId":"u1","previousId":[1],' + t + '}',
        '{"type":"group","userId":"u1","groupId":false,' + t + '}',
        '{"event":"E","user_id":4.5,' + t + '}',
        '{"event":"E","user_id":false,' + t + '}',
        '{"type":"track","event":"E","userId":7,' + t + '}',  # whole numbers are ids, as on the server
        '{"event":"E","user_id":"u2",' + t + '}',
    ]
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join(lines) + "\n")
    s = import_files(store, [path], allow_rejects=True)
    assert (s.rows_read, s.imported, s.rejected) == (8, 2, 6)
    assert store.raw.execute("SELECT user_id FROM events ORDER BY 1").fetchall() == [("7",), ("u2",)]
    fields = store.raw.execute("SELECT line, field FROM dead_letters ORDER BY line").fetchall()
    assert fields == [(1, "userId"), (2, "anonymousId"), (3, "previousId"), (4, "groupId"), (5, "user_id"),
                      (6, "user_id")]


def test_ids_read_by_the_import_equal_the_servers(store: Store, tmp_path: Path) -> None:
    """A Segment archive imported and the same calls sent to the server name the same user and account. Before: the
    import made `"userId": 1e3` the user "1000.0" (the server: "1000", two users for one) and `context.groupId: true`
    the account "true" (the server: no account)."""
    from aha.ingest.payloads import Call, validate_call
    t = "2026-01-01T00:00:00Z"
    calls = [
        {"type": "track", "event": "E", "userId": 1e3, "messageId": "m1", "timestamp": t},
        {"type": "track", "event": "E", "userId": "u", "context": {"groupId": True}, "messageId": "m2", "timestamp": t},
        {"type": "track", "event": "E", "userId": "u", "context": {"groupId": {"a": 1}}, "messageId": "m3",
         "timestamp": t},
        {"type": "track", "event": "E", "userId": 7.0, "context": {"groupId": 7}, "messageId": "m4", "timestamp": t},
        {"type": "track", "event": "E", "anonymousId": 18446744073709551616, "messageId": "m5", "timestamp": t},
    ]
    import json
    path = tmp_path / "seg.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in calls))
    import_files(store, [path])
    imported = {m: (u, a, g) for m, u, a, g in store.raw.execute(
        "SELECT message_id, user_id, anonymous_id, account_id FROM events").fetchall()}
    server = {}
    for c in calls:
        call = validate_call(c, received_at=datetime(2026, 12, 5), source="web")
        if c["messageId"] == "m5":  # 2^64 does not fit 64 bits: refused on both paths (one numeric-id rule)
            assert not isinstance(call, Call) and call.field == "anonymousId"
            continue
        assert isinstance(call, Call)
        server[call.message_id] = (call.user_id, call.anonymous_id, call.account_id)
    assert imported == server
    assert server["m1"] == ("1000", None, None) and server["m2"] == ("u", None, None)
    assert store.raw.execute("SELECT field FROM dead_letters WHERE line = 5").fetchall() == [("anonymousId",)]


def test_a_nul_anywhere_is_a_dead_letter_as_on_the_server(store: Store, tmp_path: Path) -> None:
    """Before: `aha import` stored NUL in event names, ids and property keys and values (the server refuses the call,
    docs/ingest.md); `\\u0000` spelled out as text is data and stays."""
    t = '"timestamp":"2026-01-01T00:00:00Z"'
    (tmp_path / "a.jsonl").write_text("\n".join([
        '{"event":"E\\u0000","user_id":"u",' + t + '}',
        '{"event":"E","user_id":"u","properties":{"k\\u0000":1},' + t + '}',
        '{"type":"identify","userId":"u","traits":{"n":["x\\u0000"]},' + t + '}',
        '{"event":"ok","user_id":"u","properties":{"k":"\\\\u0000"},' + t + '}',
    ]) + "\n")
    (tmp_path / "b.csv").write_bytes(b"event,user_id,timestamp,a\nE,u\x00,2026-01-01,1\nok2,u,2026-01-01,x\n")
    pq.write_table(pa.table({"event": ["E", "ok3"], "user_id": ["u", "u"], "timestamp": ["2026-01-01"] * 2,
                             "a": ["x\x00", "y"]}), tmp_path / "c.parquet")
    s = import_files(store, [tmp_path / "a.jsonl", tmp_path / "b.csv", tmp_path / "c.parquet"], allow_rejects=True)
    assert (s.rows_read, s.imported, s.rejected) == (8, 3, 5)
    assert store.raw.execute("SELECT event, properties FROM events ORDER BY 1").fetchall() == [
        ("ok", '{"k":"\\\\u0000"}'), ("ok2", '{"a":"x"}'), ("ok3", '{"a":"y"}')]
    letters = store.raw.execute("SELECT file, line, field, reason FROM dead_letters").fetchall()
    assert sorted((Path(f).name, n, field, r) for f, n, field, r in letters) == [
        ("a.jsonl", 1, "event", "contains NUL (\\u0000)"), ("a.jsonl", 2, "properties", "contains NUL (\\u0000)"),
        ("a.jsonl", 3, "traits", "contains NUL (\\u0000)"), ("b.csv", 2, "user_id", "contains NUL (\\u0000)"),
        ("c.parquet", 1, "properties", "contains NUL (\\u0000)")]


def test_records_that_do_not_fit_the_header_are_dead_letters_and_the_rest_is_kept(store: Store,
                                                                                  tmp_path: Path) -> None:
    """Before: one record with an extra or missing cell, or a quote never closed, refused the whole file with
    `could not be read (Invalid Input Error: Error when sniffing file ...)`."""
    path = tmp_path / "ragged.csv"
    path.write_text("event,user_id,timestamp,note\n"
                    "a,u1,2026-01-01,x\n"                 # line 2: kept
                    "b,u1,2026-01-01,1,5 apples\n"        # line 3: 5 cells (an unquoted comma)
                    '"c\nd",u2,2026-01-03,multi\n'        # line 4: one record over two physical lines, kept
                    "e,u3\n"                              # line 5: 2 cells
                    "f,u4,notatime,y\n"                   # line 6: read, rejected for its time
                    'g,u5,2026-01-02,"unclosed\n')        # line 7: quote never closed
    s = import_files(store, [path], allow_rejects=True)
    assert (s.rows_read, s.imported, s.rejected) == (6, 2, 4)
    assert store.raw.execute("SELECT event, user_id FROM events ORDER BY 1").fetchall() == [("a", "u1"),
                                                                                            ("c\nd", "u2")]
    letters = store.raw.execute("SELECT line, reason, raw FROM dead_letters ORDER BY line").fetchall()
    assert [(n, r.split(" (")[0]) for n, r, _ in letters] == [
        (3, "5 cells where the header has 4"), (5, "2 cells where the header has 4"), (6, "unparseable timestamp"),
        (7, "a quoted cell is never closed")]
    assert letters[0][2] == "b,u1,2026-01-01,1,5 apples"
    again = import_files(store, [path], allow_rejects=True)
    assert (again.imported, again.duplicates) == (0, 2)
    assert store.raw.execute("SELECT count(*) FROM dead_letters").fetchall() == [(4,)]
    with pytest.raises(ImportRefused, match="3 of 4 rows would be rejected"):
        bad = tmp_path / "mostly.csv"
        bad.write_text("event,user_id,timestamp\na,u,2026-01-01\nb,u\nc,u\nd,u,x,y\n")
        import_files(store, [bad])


def test_excels_separator_hint_is_named_and_a_long_cell_is_read(store: Store, tmp_path: Path) -> None:
    """Before: `sep=;` as the first line gave 'a header cell is empty ...' (the sniffer read `sep=` as the header),
    and a 5 MB cell `could not be read (Invalid Input Error: CSV Error on Line: 1)`."""
    hinted = tmp_path / "excel.csv"
    hinted.write_bytes(b"sep=;\r\nuser_id;event;timestamp\r\nu1;signup;2026-01-01 10:00\r\n")
    with pytest.raises(ImportRefused, match="the first line 'sep=;' is Excel's separator hint"):
        import_files(store, [hinted])
    long = tmp_path / "long.csv"
    long.write_text("event,user_id,timestamp,big\nE,u,2026-01-01," + "x" * 5_000_000 + "\n")
    assert import_files(store, [long]).imported == 1
    assert store.raw.execute("SELECT length(properties ->> 'big') FROM events").fetchall() == [(5_000_000,)]


def test_ga4_parameters_become_an_object_read_by_key(store: Store, tmp_path: Path) -> None:
    """GA4's event_params (a list of {key, value: {string_value, int_value, float_value, double_value}}) were stored
    as that list, so no `where`, scope or --segment could read `page_location`. Now an object by key."""
    value = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()), ("float_value", pa.float64()),
                       ("double_value", pa.float64())])
    params = pa.list_(pa.struct([("key", pa.string()), ("value", value)]))
    user_props = pa.list_(pa.struct([("key", pa.string()), ("value", pa.struct([
        ("string_value", pa.string()), ("int_value", pa.int64()), ("set_timestamp_micros", pa.int64())]))]))
    def v(s: str | None = None, i: int | None = None, d: float | None = None) -> dict[str, object]:
        return {"string_value": s, "int_value": i, "float_value": None, "double_value": d}
    table = pa.table({
        "event_name": ["page_view", "purchase", "scroll"],
        "event_timestamp": [1767261600_000000, 1767261660_000000, 1767261720_000000],
        "user_pseudo_id": ["p1", "p1", "p2"],
        "event_params": pa.array([[{"key": "page_location", "value": v(s="https://a/pricing")},
                                   {"key": "ga_session_id", "value": v(i=17)}],
                                  [{"key": "value", "value": v(d=9.5)}, {"key": "empty", "value": v()}],
                                  []], params),
        "user_properties": pa.array([[{"key": "plan", "value": {"string_value": "pro", "int_value": None,
                                                                 "set_timestamp_micros": 1}}], None, []], user_props),
    })
    pq.write_table(table, tmp_path / "ga4.parquet")
    import_files(store, [tmp_path / "ga4.parquet"],
                 mapping={"event": "event_name", "timestamp": "event_timestamp", "anonymous_id": "user_pseudo_id"})
    got = dict(store.raw.execute("SELECT event, properties FROM events").fetchall())
    assert got == {
        "page_view": '{"event_params":{"page_location":"https://a/pricing","ga_session_id":17},'
                     '"user_properties":{"plan":"pro"}}',
        "purchase": '{"event_params":{"value":9.5,"empty":null},"user_properties":null}',
        "scroll": '{"event_params":{},"user_properties":{}}',
    }


@pytest.mark.parametrize(("text", "shape"), [
    ('[{"event":"E","user_id":"u","timestamp":"2026-01-01"}]', "one JSON array"),
    ('[\n  {\n    "event": "E"\n  }\n]\n', "one JSON array"),
    ('{\n  "event": "E",\n  "user_id": "u"\n}\n', "objects printed over several lines"),
])
def test_a_json_export_that_is_not_json_lines_is_refused_naming_the_fix(store: Store, tmp_path: Path, text: str,
                                                                        shape: str) -> None:
    """Before: `1 of 1 rows would be rejected (1 × JSON line is not an object)`, `27 × line is not valid JSON`."""
    path = tmp_path / "export.json"
    path.write_text(text)
    with pytest.raises(ImportRefused, match=f"holds {shape}; aha reads JSON lines .* `jq -c"):
        import_files(store, [path])
