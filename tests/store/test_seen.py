"""Every writer keeps `seen_users`, `seen_members`, `seen_anonymous` and the latest call time (the default
`as_of`: of events, identity links and memberships) equal to what the tables say, and an older file is backfilled.

The report's "users without a signup" and account membership read these tables instead of the events, so a writer
that forgot them would silently change those numbers; each is checked against a direct aggregate of the events.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from aha.ingest.payloads import Call
from aha.ingest.records import calls_table, dead_table
from aha.sample import generate, load_into
from aha.store import Store, open_store, schema
from aha.store.calls import write_calls
from aha.store.importer import import_files

USERS = "SELECT user_id, min(timestamp) FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1"
MEMBERS = """SELECT user_id, account_id, min(timestamp) FROM events
             WHERE user_id IS NOT NULL AND account_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"""
ANONYMOUS = """SELECT anonymous_id, min(timestamp) FROM events
               WHERE user_id IS NULL AND anonymous_id IS NOT NULL GROUP BY 1 ORDER BY 1"""


Rows = list[tuple[object, ...]]


def seen(store: Store) -> tuple[Rows, Rows]:
    return (store.raw.execute(f"SELECT * FROM {schema.SEEN_USERS} ORDER BY 1").fetchall(),
            store.raw.execute(f"SELECT * FROM {schema.SEEN_MEMBERS} ORDER BY 1, 2").fetchall())


def direct(store: Store) -> tuple[Rows, Rows]:
    return store.raw.execute(USERS).fetchall(), store.raw.execute(MEMBERS).fetchall()


def anonymous(store: Store) -> tuple[Rows, Rows]:
    """(what `seen_anonymous` holds, what the events say)."""
    return (store.raw.execute(f"SELECT * FROM {schema.SEEN_ANONYMOUS} ORDER BY 1").fetchall(),
            store.raw.execute(ANONYMOUS).fetchall())


def latest(store: Store) -> tuple[object, object]:
    """(the latest call time the meta table keeps, the maximum of the events, links and memberships)."""
    kept = store.scalar(f"SELECT CAST(value AS TIMESTAMP) FROM {schema.META} WHERE key = ?", [schema.LATEST_EVENT])
    return kept, store.scalar("SELECT max(timestamp) FROM (SELECT timestamp FROM events UNION ALL SELECT timestamp "
                              "FROM identities UNION ALL SELECT timestamp FROM memberships)")


def test_import_keeps_them_including_earlier_events_of_a_later_file(tmp_path: Path) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    first = tmp_path / "a.csv"
    first.write_text("user_id,event,timestamp,account_id,anonymous_id\n"
                     "u1,Signed Up,2026-01-02T00:00:00Z,,\n"
                     "u1,Message Sent,2026-01-03T00:00:00Z,acc1,\n"
                     ",Page Viewed,2026-01-01T00:00:00Z,,\n"  # no user: a dead letter, nobody seen
                     ",Page Viewed,2026-01-04T00:00:00Z,,anon-1\n")
    second = tmp_path / "b.csv"
    second.write_text("user_id,event,timestamp,account_id\n"
                      "u1,Message Sent,2026-01-01T12:00:00Z,acc1\n"  # earlier than anything before
                      "u2,Message Sent,2026-01-05T00:00:00Z,acc1\n")
    import_files(store, [first])
    import_files(store, [second])
    import_files(store, [second])  # a re-import adds nothing and changes nothing
    users, members = seen(store)
    assert users == [("u1", datetime(2026, 1, 1, 12)), ("u2", datetime(2026, 1, 5))]
    assert members == [("u1", "acc1", datetime(2026, 1, 1, 12)), ("u2", "acc1", datetime(2026, 1, 5))]
    assert (users, members) == direct(store)
    assert anonymous(store) == ([("anon-1", datetime(2026, 1, 4))],) * 2
    assert latest(store) == (datetime(2026, 1, 5),) * 2


def test_a_refused_duplicate_does_not_move_the_latest_event(tmp_path: Path) -> None:
    """A re-sent message id with a later time is refused as a duplicate; the default `as_of` must not follow it."""
    store = open_store(tmp_path / "aha.duckdb")
    first, again = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("message_id,user_id,event,timestamp\nm1,u1,Signed Up,2026-01-02T00:00:00Z\n")
    again.write_text("message_id,user_id,event,timestamp\nm1,u1,Signed Up,2026-03-20T00:00:00Z\n")
    import_files(store, [first])
    import_files(store, [again])
    assert store.scalar("SELECT count(*) FROM events") == 1
    assert latest(store) == (datetime(2026, 1, 2),) * 2


def test_tracking_calls_keep_them(tmp_path: Path) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    now = datetime(2026, 2, 1)

    def call(n: int, kind: str, user: str | None, account: str | None, when: datetime) -> Call:
        return Call(kind, f"m{n}", "Did" if kind == "track" else None, user, None if user else "anon", account, None,
                    when, None, now, None, None, "web")

    calls = [call(1, "track", "u1", "acc1", datetime(2026, 1, 3)), call(2, "track", "u1", None, datetime(2026, 1, 2)),
             call(3, "track", None, None, datetime(2026, 1, 1)), call(4, "identify", "u3", None, datetime(2026, 1, 1))]
    identify = dataclasses.replace(call(5, "identify", None, None, datetime(2026, 1, 4)), user_id="u4")  # anon -> u4
    write_calls(store, calls_table(calls), dead_table([]), None, now)
    assert latest(store) == (datetime(2026, 1, 3),) * 2  # the traits-only identify call links nothing
    write_calls(store, calls_table([identify]), dead_table([]), None, now)
    users, members = seen(store)
    assert users == [("u1", datetime(2026, 1, 2))]  # an identify call is not an event: u3 is known from links only
    assert members == [("u1", "acc1", datetime(2026, 1, 3))]
    assert (users, members) == direct(store)
    assert anonymous(store) == ([("anon", datetime(2026, 1, 1))],) * 2
    assert latest(store) == (datetime(2026, 1, 4),) * 2  # a linking identify after the last event moves it


def test_the_sample_loader_keeps_them(tmp_path: Path) -> None:
    generate(tmp_path / "files", users=300, seed=3)
    store = open_store(tmp_path / "aha.duckdb")
    load_into(store, tmp_path / "files")
    users, members = seen(store)
    assert len(users) > 250 and len(members) > 200
    assert (users, members) == direct(store)
    kept, events = anonymous(store)
    assert len(kept) > 50 and kept == events
    kept_latest, events_latest = latest(store)
    assert kept_latest is not None and kept_latest == events_latest


def test_an_older_file_is_backfilled_on_open(tmp_path: Path) -> None:
    """A schema-1 file has events but no seen tables: opening it with this aha fills them from the events."""
    db = tmp_path / "aha.duckdb"
    generate(tmp_path / "files", users=200, seed=4)
    store = open_store(db)
    load_into(store, tmp_path / "files")
    expected = seen(store), anonymous(store)
    store.raw.execute(f"DROP TABLE {schema.SEEN_USERS}")
    store.raw.execute(f"DROP TABLE {schema.SEEN_MEMBERS}")
    store.raw.execute(f"DROP TABLE {schema.SEEN_ANONYMOUS}")
    store.raw.execute(f"DELETE FROM {schema.META} WHERE key = ?", [schema.LATEST_EVENT])
    store.raw.execute(f"UPDATE {schema.META} SET value = '1' WHERE key = 'schema_version'")
    store.close()
    store = open_store(db)
    assert store.scalar(f"SELECT value FROM {schema.META} WHERE key = 'schema_version'") == str(schema.SCHEMA_VERSION)
    assert (seen(store), anonymous(store)) == expected
    assert seen(store) == direct(store)
    assert expected[1][0] == expected[1][1]
    kept_latest, events_latest = latest(store)
    assert kept_latest is not None and kept_latest == events_latest


def test_a_refused_duplicate_does_not_move_first_seen(tmp_path: Path) -> None:
    """A re-sent message id with an earlier time (a re-export in another time zone, say) is refused; nobody was
    seen at that earlier time, so `users without a signup` as of then must not count its user."""
    store = open_store(tmp_path / "aha.duckdb")
    first, again = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("message_id,user_id,account_id,event,timestamp\n"
                     "m1,u1,acc1,Message Sent,2026-01-10T00:00:00Z\n"
                     "m2,u1,acc1,Message Sent,2026-01-12T00:00:00Z\n"
                     "m2,u1,acc1,Message Sent,2026-01-01T00:00:00Z\n")  # within the file: the first row is kept
    again.write_text("message_id,user_id,account_id,anonymous_id,event,timestamp\n"
                     "m1,u1,acc1,,Message Sent,2026-01-02T00:00:00Z\n"
                     "m3,,,anon-9,Page Viewed,2026-01-05T00:00:00Z\n"
                     "m3,,,anon-9,Page Viewed,2026-01-03T00:00:00Z\n")
    import_files(store, [first])
    import_files(store, [again])
    assert store.scalar("SELECT count(*) FROM events") == 3
    users, members = seen(store)
    assert users == [("u1", datetime(2026, 1, 10))]
    assert members == [("u1", "acc1", datetime(2026, 1, 10))]
    assert (users, members) == direct(store)
    assert anonymous(store) == ([("anon-9", datetime(2026, 1, 5))],) * 2


def test_the_sample_loader_ignores_rows_it_refused(tmp_path: Path) -> None:
    """Two samples of different sizes under one seed share message ids; the second's refused rows are not seen."""
    generate(tmp_path / "small", users=120, seed=5)
    generate(tmp_path / "large", users=300, seed=5)
    store = open_store(tmp_path / "aha.duckdb")
    load_into(store, tmp_path / "small")
    load_into(store, tmp_path / "large")
    assert seen(store) == direct(store)
    kept, events = anonymous(store)
    assert kept == events
