"""Bulk import: small hand-made files, hand-counted expectations; rows_read = imported + duplicates + rejected."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aha.store import Store, open_store
from aha.store.importer import ImportRefused, ImportSummary, import_files


@pytest.fixture
def store(db_path: Path) -> Store:
    return open_store(db_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.raw.execute(sql).fetchall()


def balanced(s: ImportSummary) -> ImportSummary:
    assert s.rows_read == s.imported + s.duplicates + s.rejected
    for f in s.files:
        assert f.rows_read == f.imported + f.duplicates + f.rejected
    return s


def events(store: Store) -> list[tuple[Any, ...]]:
    return rows(
        store, "SELECT event, user_id, anonymous_id, timestamp, properties FROM events ORDER BY timestamp, event"
    )


CSV = (
    "event,user_id,timestamp,plan,rows,zip\n"
    "signup,u1,2026-03-01 10:00,pro,3,007\n"  # line 2: imported; numbers stay numbers, "007" stays text
    "signup,u1,2026-03-01 10:00,pro,3,007\n"  # line 3: exact duplicate of line 2 -> one event
    "invite,,2026-03-01 11:00,free,2.5,x\n"  # line 4: no user -> dead letter
    "login,u2,notatime,,,\n"  # line 5: bad timestamp -> dead letter
    ",u3,2026-03-01 12:00,,,\n"  # line 6: empty event name -> dead letter
)


def test_csv_counts_properties_and_dead_letters(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", CSV)
    s = balanced(import_files(store, [path], allow_rejects=True))
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (5, 1, 1, 3)
    assert events(store) == [("signup", "u1", None, datetime(2026, 3, 1, 10), '{"plan":"pro","rows":3,"zip":"007"}')]
    assert rows(store, "SELECT file, line, field, reason, raw, source FROM dead_letters ORDER BY line") == [
        (str(path), 4, "user_id", "no user_id and no anonymous_id", "invite,,2026-03-01 11:00,free,2.5,x", "e.csv"),
        (str(path), 5, "timestamp", "unparseable timestamp", "login,u2,notatime,,,", "e.csv"),
        (str(path), 6, "event", "empty event name", ",u3,2026-03-01 12:00,,,", "e.csv"),
    ]
    assert dict(s.reasons) == {"no user_id and no anonymous_id": 1, "unparseable timestamp": 1, "empty event name": 1}
    assert rows(store, "SELECT file, kind, rows_read, imported, duplicates, rejected FROM imports") == [
        (str(path), "events", 5, 1, 1, 3)
    ]


def test_reimport_adds_nothing_and_reports_duplicates(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", CSV)
    import_files(store, [path], allow_rejects=True)
    version = store.data_version
    s = balanced(import_files(store, [path], allow_rejects=True))
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (5, 0, 2, 3)
    assert len(events(store)) == 1
    assert rows(store, "SELECT count(*) FROM dead_letters") == [(3,)]  # not duplicated
    assert store.data_version == version  # nothing new, no bump


def test_data_version_bumped_once_per_command(store: Store, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "event,user_id,timestamp\nx,u1,2026-01-01\n")
    b = write(tmp_path / "b.csv", "event,user_id,timestamp\ny,u1,2026-01-02\n")
    before = store.data_version
    import_files(store, [a, b])
    assert store.data_version == before + 1


def test_tsv_and_glob_and_source(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "a.tsv", "event\tanonymous_id\ttimestamp\tnote\nview\tanon1\t2026-01-01T00:00:00Z\thi, there\n")
    write(tmp_path / "b.tsv", "event\tanonymous_id\ttimestamp\nview\tanon2\t2026-01-02T00:00:00Z\n")
    s = balanced(import_files(store, [str(tmp_path / "*.tsv")], source="crm"))
    assert (len(s.files), s.imported) == (2, 2)
    assert rows(store, "SELECT anonymous_id, properties, source FROM events ORDER BY anonymous_id") == [
        ("anon1", '{"note":"hi, there"}', "crm"),
        ("anon2", "{}", "crm"),
    ]


def test_mapping_and_properties_column(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "mp.csv",
        'distinct_id,event_name,ts,props,mid\nu1,Signed Up,2026-01-01 00:00,"{""a"": 1}",m-1\n',
    )
    s = balanced(
        import_files(
            store,
            [path],
            mapping={
                "user_id": "distinct_id",
                "event": "event_name",
                "timestamp": "ts",
                "properties": "props",
                "message_id": "mid",
            },
        )
    )
    assert s.imported == 1
    assert rows(store, "SELECT message_id, event, user_id, properties FROM events") == [
        ("m-1", "Signed Up", "u1", '{"a":1}')
    ]


def test_within_file_duplicates_by_message_id(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "message_id,event,user_id,timestamp\n"
        "m1,a,u1,2026-01-01\n"
        "m1,a,u1,2026-01-01\n"  # same message id: collapsed
        "m2,a,u1,2026-01-01\n",  # same content, other id: kept
    )
    s = balanced(import_files(store, [path]))
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (3, 2, 1, 0)


def test_timestamps_formats_zones_and_epochs(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "event,user_id,timestamp\n"
        "naive,u1,2026-03-01 10:00\n"  # Berlin (UTC+1 in March) -> 09:00 UTC
        "offset,u1,2026-03-01T10:00:00+02:00\n"  # offset wins over --timezone -> 08:00 UTC
        "zulu,u1,2026-03-01T10:00:00Z\n"  # -> 10:00 UTC
        "seconds,u1,1772359200\n"  # epoch seconds = 2026-03-01 10:00 UTC
        "millis,u1,1772359200500\n"  # epoch ms -> 10:00:00.5 UTC
        "summer,u1,2026-07-01 10:00\n",  # Berlin summer time (UTC+2) -> 08:00 UTC
    )
    balanced(import_files(store, [path], timezone="Europe/Berlin"))
    got = dict(rows(store, "SELECT event, timestamp FROM events"))
    assert got == {
        "naive": datetime(2026, 3, 1, 9),
        "offset": datetime(2026, 3, 1, 8),
        "zulu": datetime(2026, 3, 1, 10),
        "seconds": datetime(2026, 3, 1, 10),
        "millis": datetime(2026, 3, 1, 10, 0, 0, 500000),
        "summer": datetime(2026, 7, 1, 8),
    }
    # the session time zone does not leak
    assert rows(store, "SELECT current_setting('TimeZone')")[0][0] != "Europe/Berlin"


def test_timestamp_format(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", "event,user_id,timestamp\na,u1,01/03/2026 10:00\nb,u1,2026-03-01 10:00\n")
    s = balanced(import_files(store, [path], timestamp_format="%d/%m/%Y %H:%M", timezone="Europe/Berlin"))
    assert (s.imported, s.rejected) == (1, 1)  # the ISO row does not match the format
    assert rows(store, "SELECT event, timestamp FROM events") == [("a", datetime(2026, 3, 1, 9))]
    assert rows(store, "SELECT line, reason FROM dead_letters") == [(3, "unparseable timestamp")]


def test_missing_column_refuses_the_whole_file(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "distinct_id,event_name,ts\nu1,a,2026-01-01\n")
    with pytest.raises(ImportRefused) as err:
        import_files(store, [path])
    assert str(err.value) == (
        "events.csv: no columns 'user_id', 'event', 'timestamp' (columns: distinct_id, event_name, ts). "
        "Map them with --map user_id=distinct_id,event=event_name,timestamp=ts"
    )
    assert rows(store, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM imports)") == [(0, 0)]


def test_refusal_before_any_file_is_written(store: Store, tmp_path: Path) -> None:
    good = write(tmp_path / "a.csv", "event,user_id,timestamp\nx,u1,2026-01-01\n")
    bad = write(tmp_path / "b.csv", "event,user_id\nx,u1\n")
    with pytest.raises(ImportRefused, match=r"^b.csv: no column 'timestamp' \(columns: event, user_id\)"):
        import_files(store, [good, bad])
    assert rows(store, "SELECT count(*) FROM events") == [(0,)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mapping": {"usr_id": "x"}},
            "--map usr_id=x: 'usr_id' is not a canonical column. Did you mean --map user_id=x?",
        ),
        ({"timezone": "Europe/Berln"}, "unknown time zone 'Europe/Berln'. Did you mean --timezone Europe/Berlin?"),
    ],
)
def test_option_mistakes(store: Store, tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    path = write(tmp_path / "a.csv", "event,user_id,timestamp\nx,u1,2026-01-01\n")
    with pytest.raises(ImportRefused) as err:
        import_files(store, [path], **kwargs)
    assert str(err.value) == message


def test_path_mistakes(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match="matches no files"):
        import_files(store, [str(tmp_path / "*.csv")])
    with pytest.raises(ImportRefused, match="no such file"):
        import_files(store, [tmp_path / "nope.csv"])
    with pytest.raises(ImportRefused, match=r"unknown file type '\.xlsx'"):
        import_files(store, [write(tmp_path / "a.xlsx", "")])


def test_jsonl_flat_with_bad_lines(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.jsonl",
        '{"event": "a", "user_id": 7, "timestamp": "2026-01-01T00:00:00Z", "n": 1.5, "properties": {"k": "v"}}\n'
        "not json\n"  # line 2
        "\n"  # blank line: not a row
        "[1, 2]\n"  # line 4: not an object
        '{"event": "b", "timestamp": "2026-01-01T00:00:00Z"}\n',  # line 5: no user
    )
    s = balanced(import_files(store, [path], allow_rejects=True))
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (4, 1, 0, 3)
    assert events(store) == [("a", "7", None, datetime(2026, 1, 1), '{"n":1.5,"k":"v"}')]
    assert rows(store, "SELECT line, field, reason, raw FROM dead_letters ORDER BY line") == [
        (2, "line", "line is not valid JSON", "not json"),
        (4, "line", "JSON line is not an object", "[1, 2]"),
        (5, "user_id", "no user_id and no anonymous_id", '{"event": "b", "timestamp": "2026-01-01T00:00:00Z"}'),
    ]


SEGMENT = [
    {
        "type": "track",
        "event": "Signed Up",
        "userId": "u1",
        "messageId": "m1",
        "timestamp": "2026-01-01T10:00:00Z",
        "properties": {"plan": "pro"},
        "context": {"groupId": "g1"},
    },
    {"type": "page", "name": "Home", "anonymousId": "a1", "timestamp": "2026-01-01T09:00:00Z"},
    {"type": "screen", "name": "Main", "userId": "u1", "timestamp": "2026-01-01T11:00:00Z"},
    {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "timestamp": "2026-01-01T10:00:00Z",
        "traits": {"plan": "free", "email": "a@x"},
    },
    {"type": "identify", "userId": "u1", "timestamp": "2026-01-02T10:00:00Z", "traits": {"plan": "pro"}},  # later wins
    {"type": "alias", "userId": "u1", "previousId": "a2", "timestamp": "2026-01-01T08:00:00Z"},
    {"type": "group", "userId": "u1", "groupId": "g1", "timestamp": "2026-01-01T10:00:00Z", "traits": {"name": "Acme"}},
    {"type": "bogus", "userId": "u1", "timestamp": "2026-01-01T10:00:00Z"},  # line 8: unknown type
    {"type": "alias", "userId": "u1", "timestamp": "2026-01-01T08:00:00Z"},  # line 9: no previousId
]


def test_segment_lines(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "seg.jsonl", "".join(json.dumps(line) + "\n" for line in SEGMENT))
    s = balanced(import_files(store, [path]))
    assert (s.rows_read, s.imported, s.duplicates, s.rejected) == (9, 7, 0, 2)
    assert (s.identities, s.users_updated, s.accounts_updated) == (2, 1, 1)
    assert s.events == rows(store, "SELECT count(*) FROM events")[0][0] == 3  # track, page, screen; 4 other calls
    assert rows(
        store, "SELECT message_id, event, user_id, anonymous_id, account_id, properties FROM events ORDER BY timestamp"
    ) == [
        (
            rows(store, "SELECT message_id FROM events WHERE event = 'Page Viewed'")[0][0],
            "Page Viewed",
            None,
            "a1",
            None,
            '{"name":"Home"}',
        ),
        ("m1", "Signed Up", "u1", None, "g1", '{"plan":"pro"}'),
        (
            rows(store, "SELECT message_id FROM events WHERE event = 'Screen Viewed'")[0][0],
            "Screen Viewed",
            "u1",
            None,
            None,
            '{"name":"Main"}',
        ),
    ]
    assert rows(store, "SELECT anonymous_id, user_id, timestamp FROM identities ORDER BY anonymous_id") == [
        ("a1", "u1", datetime(2026, 1, 1, 10)),
        ("a2", "u1", datetime(2026, 1, 1, 8)),
    ]
    assert rows(store, "SELECT user_id, traits, updated_at FROM users") == [
        ("u1", '{"email":"a@x","plan":"pro"}', datetime(2026, 1, 2, 10))
    ]
    assert rows(store, "SELECT * FROM accounts") == [("g1", '{"name":"Acme"}', datetime(2026, 1, 1, 10))]
    assert rows(store, "SELECT * FROM memberships") == [("u1", "g1", datetime(2026, 1, 1, 10))]
    assert rows(store, "SELECT line, field, reason FROM dead_letters ORDER BY line") == [
        (8, "type", "unknown Segment type (expected track, page, screen, identify, alias or group)"),
        (9, "previous_id", "alias without previousId"),
    ]
    again = balanced(import_files(store, [path]))
    assert (again.imported, again.duplicates, again.rejected, again.identities, again.users_updated) == (0, 7, 2, 0, 0)
    assert rows(store, "SELECT count(*) FROM identities") == [(2,)]
    assert rows(store, "SELECT count(*) FROM memberships") == [(1,)]


def test_parquet_typed_columns_and_struct_properties(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    table = pa.table(
        {
            "event": ["a", "b", None],
            "user_id": ["u1", "u2", "u3"],
            "timestamp": pa.array([datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11), datetime(2026, 1, 1, 12)]),
            "n": [1, 2, 3],
            "properties": [{"k": 1}, {"k": 2}, {"k": 3}],
        }
    )
    pq.write_table(table, path)
    s = balanced(import_files(store, [path], timezone="Europe/Berlin"))
    assert (s.rows_read, s.imported, s.rejected) == (3, 2, 1)
    assert events(store) == [
        ("a", "u1", None, datetime(2026, 1, 1, 9), '{"n":1,"k":1}'),
        ("b", "u2", None, datetime(2026, 1, 1, 10), '{"n":2,"k":2}'),
    ]
    assert rows(store, "SELECT line, reason, raw FROM dead_letters") == [
        (
            3,
            "empty event name",
            '{"event":null,"user_id":"u3","timestamp":"2026-01-01 12:00:00","n":3,"properties":{"k":3}}',
        )
    ]


def test_parquet_timestamptz_is_converted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tz.parquet"
    ts = pa.array([datetime(2026, 1, 1, 10)], type=pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"event": ["a"], "user_id": ["u1"], "timestamp": ts}), path)
    balanced(import_files(store, [path], timezone="Europe/Berlin"))  # has a zone: --timezone does not apply
    assert rows(store, "SELECT timestamp FROM events") == [(datetime(2026, 1, 1, 10),)]


def test_gzip_csv_and_jsonl(store: Store, tmp_path: Path) -> None:
    csv_gz = tmp_path / "e.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"event,user_id,timestamp\na,u1,2026-01-01\n,u1,2026-01-01\n"))
    jsonl_gz = tmp_path / "e.jsonl.gz"
    jsonl_gz.write_bytes(gzip.compress(b'{"event":"b","user_id":"u1","timestamp":"2026-01-01"}\nnope\n'))
    s = balanced(import_files(store, [csv_gz, jsonl_gz]))
    assert (s.rows_read, s.imported, s.rejected) == (4, 2, 2)
    assert rows(store, "SELECT file, line, reason, raw FROM dead_letters ORDER BY file") == [
        (str(csv_gz), 3, "empty event name", ",u1,2026-01-01"),
        (str(jsonl_gz), 2, "line is not valid JSON", "nope"),
    ]


def test_users_file_upsert_later_wins(store: Store, tmp_path: Path) -> None:
    first = write(
        tmp_path / "users1.csv",
        "user_id,timestamp,plan,seats\n"
        "u1,2026-01-02,pro,5\n"
        "u2,2026-01-01,free,1\n"
        ",2026-01-01,free,1\n",  # line 4: no user_id
    )
    s = balanced(import_files(store, [first], kind="users"))
    assert (s.rows_read, s.imported, s.rejected, s.users_updated) == (3, 2, 1, 2)
    second = write(
        tmp_path / "users2.csv",
        "user_id,timestamp,plan,region\n"
        "u1,2026-01-01,free,eu\n"  # older than the stored plan: plan stays pro, region is new
        "u2,2026-01-05,team,us\n",  # newer: plan becomes team
    )
    balanced(import_files(store, [second], kind="users"))
    assert rows(store, "SELECT user_id, traits, updated_at FROM users ORDER BY user_id") == [
        ("u1", '{"plan":"pro","region":"eu","seats":5}', datetime(2026, 1, 2)),
        ("u2", '{"plan":"team","region":"us","seats":1}', datetime(2026, 1, 5)),
    ]
    again = balanced(import_files(store, [second], kind="users"))
    assert (again.imported, again.duplicates, again.users_updated) == (0, 2, 0)


def test_progress_callback(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "event,user_id,timestamp\nx,u1,2026-01-01\n")
    calls: list[tuple[str, int, int]] = []
    import_files(store, [path], progress=lambda name, done, total: calls.append((name, done, total)))
    assert calls == [(str(path), 0, 3), (str(path), 1, 3), (str(path), 2, 3), (str(path), 3, 3)]


def test_summary_to_dict_is_json(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", CSV)
    d = import_files(store, [path], allow_rejects=True).to_dict()
    json.dumps(d, allow_nan=False)
    assert (d["rows_read"], d["imported"], d["duplicates"], d["rejected"]) == (5, 1, 1, 3)
    assert d["files"][0]["reasons"] == {
        "empty event name": 1,
        "no user_id and no anonymous_id": 1,
        "unparseable timestamp": 1,
    }


def test_users_file_imported_again_reports_no_updates(store: Store, tmp_path: Path) -> None:
    """The same values sent again are duplicates, not updates; a changed value is an update."""
    path = write(tmp_path / "users.csv", "user_id,plan\nu1,pro\nu2,free\n")
    first = balanced(import_files(store, [path], kind="users"))
    assert first.users_updated == 2
    again = balanced(import_files(store, [path], kind="users"))
    assert (again.imported, again.duplicates, again.users_updated) == (0, 2, 0)
    changed = write(tmp_path / "users2.csv", "user_id,plan\nu1,pro\nu2,team\n")
    third = balanced(import_files(store, [changed], kind="users"))
    assert (third.imported, third.duplicates, third.users_updated) == (1, 1, 1)
    assert rows(store, "SELECT user_id, traits FROM users ORDER BY user_id") == [
        ("u1", '{"plan":"pro"}'), ("u2", '{"plan":"team"}')]


def test_a_restated_trait_still_beats_an_older_value_arriving_late(store: Store, tmp_path: Path) -> None:
    """plan=free on Jan 10, free again on Jan 20 (no update), then pro stamped Jan 15 arrives: free stands."""
    for name, text in (("a.csv", "user_id,timestamp,plan\nu1,2026-01-10,free\n"),
                       ("b.csv", "user_id,timestamp,plan\nu1,2026-01-20,free\n"),
                       ("c.csv", "user_id,timestamp,plan\nu1,2026-01-15,pro\n")):
        summary = balanced(import_files(store, [write(tmp_path / name, text)], kind="users"))
        if name == "b.csv":
            assert summary.users_updated == 0
    assert rows(store, "SELECT traits, updated_at FROM users") == [('{"plan":"free"}', datetime(2026, 1, 20))]


def test_a_users_file_keyed_by_id_gets_the_map_suggested(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "users.csv", "id,plan\nu1,pro\n")
    with pytest.raises(ImportRefused) as err:
        import_files(store, [path], kind="users")
    assert str(err.value) == "users.csv: no column 'user_id' (columns: id, plan). Map one with --map user_id=id"
    done = import_files(store, [path], kind="users", mapping={"user_id": "id"})
    assert done.users_updated == 1


def test_columns_without_a_likely_match_are_named_for_mapping(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "who,what\nu1,a\n")
    with pytest.raises(ImportRefused) as err:
        import_files(store, [path])
    assert str(err.value) == ("e.csv: no columns 'user_id', 'event', 'timestamp' (columns: who, what). Map them with "
                              "--map user_id=COLUMN,event=COLUMN,timestamp=COLUMN")


def test_a_fixed_file_imported_again_keeps_the_old_dead_letters(store: Store, tmp_path: Path) -> None:
    """Line 3 is refused; the file is fixed and imported again: the row is stored, and the dead letter stays as the
    record of what was refused then (the same path may hold other content now: deleting by line could lose a row
    that was never fixed). A file refused whole the first time is not flagged as read differently."""
    path = write(tmp_path / "eu.csv", "event,user_id,timestamp\nb,u2,31/02/2026\n")
    first = balanced(import_files(store, [path], allow_rejects=True))
    assert (first.imported, first.rejected) == (0, 1)
    write(path, "event,user_id,timestamp\nb,u2,2026-02-28T00:00:00Z\n")
    again = balanced(import_files(store, [path]))
    assert (again.imported, again.rejected, again.files[0].reread) == (1, 0, False)
    assert rows(store, "SELECT line, reason FROM dead_letters") == [(2, "unparseable timestamp")]


def test_a_file_read_differently_the_second_time_is_flagged(store: Store, tmp_path: Path) -> None:
    """Imported again with another --timezone, every row gets a new time and so a new content id: nothing is a
    duplicate and the summary flags it; a file that grew (its old rows duplicates) is not flagged."""
    path = write(tmp_path / "e.csv", "event,user_id,timestamp\na,u1,2026-03-01 09:00\nb,u2,2026-03-01 10:00\n")
    assert not balanced(import_files(store, [path])).files[0].reread
    moved = balanced(import_files(store, [path], timezone="Europe/Berlin"))
    assert (moved.imported, moved.duplicates, moved.files[0].reread) == (2, 0, True)
    write(path, "event,user_id,timestamp\na,u1,2026-03-01 09:00\nb,u2,2026-03-01 10:00\nc,u3,2026-03-02 08:00\n")
    grown = balanced(import_files(store, [path]))
    assert (grown.imported, grown.duplicates, grown.files[0].reread) == (1, 2, False)
