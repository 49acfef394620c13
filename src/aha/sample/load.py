"""How does a generated sample get into the store? `load_into` inserts the Parquet files into the canonical tables.

Idempotent: events and identity/membership links are anti-joined on their keys, users and accounts are upserted, so
loading the same directory twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aha.store import Store, schema

_STEPS: tuple[tuple[str, str], ...] = (
    (
        schema.EVENTS,
        f"""INSERT INTO {schema.EVENTS}
        SELECT p.message_id, p.event, p.user_id, p.anonymous_id, p.account_id, p.timestamp, p.received_at,
               CAST(p.properties AS JSON), p.source
        FROM read_parquet($path) p
        WHERE NOT EXISTS (SELECT 1 FROM {schema.EVENTS} e WHERE e.message_id = p.message_id)
        ORDER BY {schema.EVENTS_ORDER}""",
    ),
    (
        schema.IDENTITIES,
        f"""INSERT INTO {schema.IDENTITIES}
        SELECT p.anonymous_id, p.user_id, p.timestamp, p.source FROM read_parquet($path) p
        WHERE NOT EXISTS (SELECT 1 FROM {schema.IDENTITIES} i
                          WHERE i.anonymous_id = p.anonymous_id AND i.user_id = p.user_id)""",
    ),
    (
        schema.MEMBERSHIPS,
        f"""INSERT INTO {schema.MEMBERSHIPS}
        SELECT p.user_id, p.account_id, p.timestamp FROM read_parquet($path) p
        WHERE NOT EXISTS (SELECT 1 FROM {schema.MEMBERSHIPS} m
                          WHERE m.user_id = p.user_id AND m.account_id = p.account_id)""",
    ),
    (
        schema.USERS,
        f"""INSERT INTO {schema.USERS} SELECT p.user_id, CAST(p.traits AS JSON), p.updated_at FROM read_parquet($path) p
        ON CONFLICT (user_id) DO UPDATE SET traits = excluded.traits, updated_at = excluded.updated_at""",
    ),
    (
        schema.ACCOUNTS,
        f"""INSERT INTO {schema.ACCOUNTS}
        SELECT p.account_id, CAST(p.traits AS JSON), p.updated_at FROM read_parquet($path) p
        ON CONFLICT (account_id) DO UPDATE SET traits = excluded.traits, updated_at = excluded.updated_at""",
    ),
)
_FILES = {
    schema.EVENTS: "events-*.parquet",
    schema.IDENTITIES: "identities.parquet",
    schema.MEMBERSHIPS: "memberships.parquet",
    schema.USERS: "users.parquet",
    schema.ACCOUNTS: "accounts.parquet",
}


def load_into(store: Store, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Insert a generated sample from `out_dir` into `store`; returns the number of new events.

    `progress(done, total)` counts tables loaded. The data version is bumped once, and only if anything changed.
    """
    out_dir = Path(out_dir)
    if not any(out_dir.glob(_FILES[schema.EVENTS])):
        raise FileNotFoundError(f"{out_dir}: no events-*.parquet files")
    before = store.scalar(f"SELECT count(*) FROM {schema.EVENTS}")
    with store.transaction() as con:
        for i, (table, sql) in enumerate(_STEPS):
            if table == schema.EVENTS:  # file by file: each is sorted on its own, in bounded memory
                for path in sorted(out_dir.glob(_FILES[table])):
                    con.execute(sql, {"path": str(path)})
                # From the stored events, not the files: a row refused for its message id (a sample of another
                # size under the same seed) must not count as seen.
                for statement in schema.record_seen(schema.EVENTS):
                    con.execute(statement)
            else:
                con.execute(sql, {"path": str(out_dir / _FILES[table])})
            if progress is not None:
                progress(i + 1, len(_STEPS))
    added = int(store.scalar(f"SELECT count(*) FROM {schema.EVENTS}")) - int(before)
    for source in (schema.EVENTS, schema.LINKS_AND_MEMBERSHIPS):
        store.raw.execute(schema.latest_event(source))
    if added:
        store.bump_data_version()
    return added
