"""Write hand-made journeys straight into a store's canonical tables, for hand-counted engine tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from aha.store import Store, schema


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def write_events(store: Store, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows are (user_id, event, timestamp[, properties[, extra]]) where extra may set message_id, anonymous_id,
    account_id. Message ids default to a running number, so ties in timestamp are ordered by row order."""
    records = []
    for n, row in enumerate(rows):
        user, event, when = row[0], row[1], row[2]
        props: Mapping[str, Any] = row[3] if len(row) > 3 else {}
        extra: Mapping[str, Any] = row[4] if len(row) > 4 else {}
        records.append((
            extra.get("message_id", f"m{n:06d}"), event, user, extra.get("anonymous_id"), extra.get("account_id"),
            ts(when), ts(when), json.dumps(props), "test",
        ))
    columns = ["message_id", "event", "user_id", "anonymous_id", "account_id", "timestamp", "received_at",
               "properties", "source"]
    frame = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in records], schema=pa.schema(
        [(name, pa.timestamp("us") if name in ("timestamp", "received_at") else pa.string()) for name in columns]))
    store.raw.register("_journey_rows", frame)  # one insert, not one statement per row (a planted log is 100k rows)
    store.raw.execute("INSERT INTO events SELECT * REPLACE (CAST(properties AS JSON) AS properties) FROM _journey_rows")
    store.raw.unregister("_journey_rows")
    for statement in (*schema.record_seen(schema.EVENTS), schema.latest_event(schema.EVENTS)):
        store.raw.execute(statement)  # what every aha writer keeps beside the events
    store.bump_data_version()


def write_traits(store: Store, traits: Mapping[str, Mapping[str, Any]]) -> None:
    store.raw.executemany(
        "INSERT OR REPLACE INTO users VALUES (?, ?, ?)",
        [(u, json.dumps(t), datetime(2020, 1, 1)) for u, t in traits.items()],
    )
    store.bump_data_version()


def write_identities(store: Store, links: Iterable[tuple[str, str, str]]) -> None:
    store.raw.executemany(
        "INSERT INTO identities VALUES (?, ?, ?, 'test')", [(a, u, ts(t)) for a, u, t in links]
    )
    store.raw.execute(schema.latest_event(schema.LINKS_AND_MEMBERSHIPS))  # as every writer does
    store.bump_data_version()


def write_memberships(store: Store, links: Iterable[tuple[str, str, str]]) -> None:
    store.raw.executemany("INSERT INTO memberships VALUES (?, ?, ?)", [(u, a, ts(t)) for u, a, t in links])
    store.raw.execute(schema.latest_event(schema.LINKS_AND_MEMBERSHIPS))  # as every writer does
    store.bump_data_version()
