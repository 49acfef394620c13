"""The canonical tables of DESIGN.md, as DuckDB DDL, and the schema version that lets later releases migrate a file.

Timestamps are stored as naive `TIMESTAMP` values that mean UTC: every engine reads them the same way, with no
session time zone in between (a `TIMESTAMPTZ` renders in the session's zone on DuckDB and Spark alike).
"""

from __future__ import annotations

SCHEMA_VERSION = 5

EVENTS = "events"
# Bulk writes insert events sorted by name then time, so each row group holds few event names and DuckDB's zone maps
# skip most of the table when the engine asks for a few names (the candidate pass reads ~1/3 of the rows it did);
# ClickHouse and PostHog order their event tables by event and time for the same reason.
EVENTS_ORDER = "event, timestamp"
IDENTITIES = "identities"
USERS = "users"
ACCOUNTS = "accounts"
MEMBERSHIPS = "memberships"
DEAD_LETTERS = "dead_letters"
IMPORTS = "imports"
API_KEYS = "api_keys"
INGESTED = "ingested"
META = "aha_meta"
SEEN_USERS = "seen_users"
SEEN_MEMBERS = "seen_members"
SEEN_ANONYMOUS = "seen_anonymous"
# Key in META: the latest timestamp of any stored call `as_of` reads (event, identify/alias link, group membership),
# the default `as_of`, kept by every writer rather than found by a scan of every row. (The name predates the calls.)
LATEST_EVENT = "latest_event"


def record_seen(source: str) -> tuple[str, ...]:
    """Upserts that keep SEEN_USERS, SEEN_MEMBERS and SEEN_ANONYMOUS current from `source`, a relation of written
    events with `user_id`, `anonymous_id`, `account_id` and `timestamp`. Idempotent (the earliest time wins), so
    rows already recorded may pass again; but `source` must hold stored rows only: a duplicate refused for its
    message id may carry another time than the row kept. Writers pass the same `source` to `latest_event`."""
    return (*_seen_users_and_members(source), _seen_anonymous(source))


def _seen_users_and_members(source: str) -> tuple[str, ...]:
    return (
        f"""INSERT INTO {SEEN_USERS} SELECT user_id, min(timestamp) FROM {source}
            WHERE user_id IS NOT NULL GROUP BY user_id
            ON CONFLICT (user_id) DO UPDATE SET first_seen = least(first_seen, excluded.first_seen)""",
        f"""INSERT INTO {SEEN_MEMBERS} SELECT user_id, account_id, min(timestamp) FROM {source}
            WHERE user_id IS NOT NULL AND account_id IS NOT NULL GROUP BY user_id, account_id
            ON CONFLICT (user_id, account_id) DO UPDATE SET first_seen = least(first_seen, excluded.first_seen)""",
    )


def _seen_anonymous(source: str) -> str:
    return f"""INSERT INTO {SEEN_ANONYMOUS} SELECT anonymous_id, min(timestamp) FROM {source}
        WHERE user_id IS NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id
        ON CONFLICT (anonymous_id) DO UPDATE SET first_seen = least(first_seen, excluded.first_seen)"""


def latest_event(source: str) -> str:
    """The upsert that keeps META's LATEST_EVENT (the default `as_of`) from `source`, rows of written events with a
    `timestamp`; like `record_seen`, only rows that were stored (a refused duplicate may carry a later time): the
    importer passes the rows it stored (its receive time marks them), the tracking API its batch, which its ledger
    has freed of duplicates, and migrations and the sample loader EVENTS itself."""
    return f"""INSERT INTO {META} SELECT '{LATEST_EVENT}', CAST(max(timestamp) AS VARCHAR) FROM {source}
        HAVING max(timestamp) IS NOT NULL
        ON CONFLICT (key) DO UPDATE
        SET value = CAST(greatest(CAST(value AS TIMESTAMP), CAST(excluded.value AS TIMESTAMP)) AS VARCHAR)"""


def latest_call(parsed: str) -> str:
    """`latest_event` over the calls of `parsed` (a writer's parsed batch: `_ok`, `_kind`, `ts`, ids) that store an
    identity link (identify/alias naming two ids) or a membership (group with a user): the default `as_of` must
    cover them, or a link or group call made after the last event would be left out of every default answer."""
    return latest_event(
        f"""(SELECT ts AS timestamp FROM {parsed} WHERE _ok AND ((user_id IS NOT NULL AND (
            (_kind = 'alias' AND previous_id IS NOT NULL) OR (_kind = 'identify' AND anonymous_id IS NOT NULL)))
            OR (_kind = 'group' AND account_id IS NOT NULL AND coalesce(user_id, anonymous_id) IS NOT NULL)))""")


# Every stored identity link's and membership's time: what a bulk writer (migration, sample loader) passes to
# `latest_event` beside its events.
LINKS_AND_MEMBERSHIPS = f"(SELECT timestamp FROM {IDENTITIES} UNION ALL SELECT timestamp FROM {MEMBERSHIPS})"

# version → statements that bring a file from version - 1 to it; applied in order, in one transaction, on open
# (the DDL below has created any new table, empty, before they run).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: _seen_users_and_members(EVENTS),
    3: (_seen_anonymous(EVENTS),),
    4: (latest_event(EVENTS),),
    5: (latest_event(LINKS_AND_MEMBERSHIPS),),
}

DDL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {META} (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    # One row per accepted event. message_id is unique across the table: the importers anti-join on it,
    # so a retried or re-imported row never counts twice.
    f"""CREATE TABLE IF NOT EXISTS {EVENTS} (
        message_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        user_id VARCHAR,
        anonymous_id VARCHAR,
        account_id VARCHAR,
        timestamp TIMESTAMP NOT NULL,
        received_at TIMESTAMP NOT NULL,
        properties JSON,
        source VARCHAR
    )""",
    # anonymous_id -> user_id links from identify/alias; the earliest link wins (see engine/identity.py).
    f"""CREATE TABLE IF NOT EXISTS {IDENTITIES} (
        anonymous_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        timestamp TIMESTAMP NOT NULL,
        source VARCHAR
    )""",
    # Traits, one row per user; later writes win per trait (json_merge_patch by timestamp).
    f"""CREATE TABLE IF NOT EXISTS {USERS} (
        user_id VARCHAR PRIMARY KEY,
        traits JSON,
        updated_at TIMESTAMP
    )""",
    f"""CREATE TABLE IF NOT EXISTS {ACCOUNTS} (
        account_id VARCHAR PRIMARY KEY,
        traits JSON,
        updated_at TIMESTAMP
    )""",
    # user -> account membership from group calls (and the account_id events carry).
    f"""CREATE TABLE IF NOT EXISTS {MEMBERSHIPS} (
        user_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        timestamp TIMESTAMP NOT NULL
    )""",
    # Every row or payload that could not be accepted, with enough to explain and replay it.
    """CREATE SEQUENCE IF NOT EXISTS dead_letter_ids""",
    f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTERS} (
        id BIGINT DEFAULT nextval('dead_letter_ids'),
        received_at TIMESTAMP NOT NULL,
        source VARCHAR,
        file VARCHAR,
        line BIGINT,
        field VARCHAR,
        reason VARCHAR NOT NULL,
        raw VARCHAR
    )""",
    f"""CREATE TABLE IF NOT EXISTS {IMPORTS} (
        file VARCHAR,
        kind VARCHAR,
        rows_read BIGINT,
        imported BIGINT,
        duplicates BIGINT,
        rejected BIGINT,
        finished_at TIMESTAMP
    )""",
    # Keys of the HTTP API: only a salted hash is kept; `kind` is write (tracking) or read (queries).
    f"""CREATE TABLE IF NOT EXISTS {API_KEYS} (
        name VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        key_id VARCHAR NOT NULL,
        salt VARCHAR NOT NULL,
        hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        revoked_at TIMESTAMP
    )""",
    # Who appears in the events, kept by every writer (`record_seen`) so that questions about all users (how many
    # never signed up?) and about account members read a table of users, not ten million events.
    f"""CREATE TABLE IF NOT EXISTS {SEEN_USERS} (
        user_id VARCHAR PRIMARY KEY,
        first_seen TIMESTAMP NOT NULL
    )""",
    # Anonymous ids of events without a user id: with the identity links, who else the events hold.
    f"""CREATE TABLE IF NOT EXISTS {SEEN_ANONYMOUS} (
        anonymous_id VARCHAR PRIMARY KEY,
        first_seen TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SEEN_MEMBERS} (
        user_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        PRIMARY KEY (user_id, account_id)
    )""",
    # One row per call the HTTP server accepted (any type), keyed by (source, message_id): the dedupe ledger
    # (a retried call counts once), and where the client's own clock (Segment originalTimestamp) is kept.
    f"""CREATE TABLE IF NOT EXISTS {INGESTED} (
        source VARCHAR NOT NULL,
        message_id VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        received_at TIMESTAMP NOT NULL,
        original_timestamp TIMESTAMP
    )""",
)


def _created() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tables and the sequences `DDL` creates, by name."""
    import re

    made = [re.match(r"\s*CREATE (TABLE|SEQUENCE) IF NOT EXISTS (\w+)", ddl) for ddl in DDL]
    if not all(made):
        raise RuntimeError("every DDL statement creates a table or a sequence (Store._schema_in_place counts them)")
    return (tuple(m[2] for m in made if m and m[1] == "TABLE"), tuple(m[2] for m in made if m and m[1] == "SEQUENCE"))


CREATED = _created()  # what `Store._ensure_schema` checks before it runs the DDL
