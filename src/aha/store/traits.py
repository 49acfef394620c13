"""Traits of users and accounts: which rows change nothing (a re-import's duplicates), and the later-wins merge.

Shared by `aha import` and the tracking server's writer (`store/calls.py`), over the parsed rows in PARSED.
"""

from __future__ import annotations

import duckdb

from aha.store import schema
from aha.store.formats import quote_literal
from aha.store.rows import PARSED, scalar_int


def mark_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Set `_same` on non-event rows whose every write is already stored (their re-import changes nothing)."""
    con.execute(
        f"""UPDATE {PARSED} SET _same = TRUE WHERE _ok AND _first AND _kind <> 'event' AND _line NOT IN (
            -- identity links not stored yet
            SELECT p._line FROM {PARSED} p
            WHERE p._ok AND p._kind IN ('identify', 'alias')
              AND (CASE WHEN p._kind = 'alias' THEN p.previous_id ELSE p.anonymous_id END) IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {schema.IDENTITIES} i
                  WHERE i.anonymous_id = (CASE WHEN p._kind = 'alias' THEN p.previous_id ELSE p.anonymous_id END)
                    AND i.user_id = p.user_id AND i.timestamp = p.ts)
            UNION ALL
            -- memberships not stored yet
            SELECT p._line FROM {PARSED} p
            WHERE p._ok AND p._kind = 'group' AND coalesce(p.user_id, p.anonymous_id) IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {schema.MEMBERSHIPS} m
                  WHERE m.user_id = coalesce(p.user_id, p.anonymous_id) AND m.account_id = p.account_id
                    AND m.timestamp = p.ts)
            UNION ALL
            {_traits_changed_sql(schema.USERS, "user_id", "user_id", ("identify", "user"))}
            UNION ALL
            {_traits_changed_sql(schema.ACCOUNTS, "account_id", "account_id", ("group",))}
        )"""
    )


def _kinds(kinds: tuple[str, ...]) -> str:
    return ", ".join(quote_literal(k) for k in kinds)


def _traits_changed_sql(table: str, key: str, row_key: str, kinds: tuple[str, ...]) -> str:
    """Lines whose entity is new, or which carry a trait the entity lacks, or a new value at least as recent."""
    return f"""
        SELECT p._line FROM {PARSED} p
        WHERE p._ok AND p._kind IN ({_kinds(kinds)}) AND p.{row_key} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = p.{row_key})
        UNION ALL
        SELECT p._line FROM {PARSED} p, json_each(p.traits) e
        WHERE p._ok AND p._kind IN ({_kinds(kinds)}) AND p.{row_key} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM {table} t, json_each(t.traits) o
              WHERE t.{key} = p.{row_key} AND o.key = e.key
                AND (CAST(o.value AS VARCHAR) = CAST(e.value AS VARCHAR) OR t.updated_at > p.ts))
    """


def upsert_traits(con: duckdb.DuckDBPyConnection, table: str, key: str, row_key: str, kinds: tuple[str, ...]) -> int:
    """Merge traits per entity, later timestamp wins per trait (stored traits count at their row's updated_at).

    Returns the number of entities whose row was inserted or changed.
    """
    new = f"""SELECT _line, {row_key} AS id, ts, traits FROM {PARSED}
              WHERE _ok AND _kind IN ({_kinds(kinds)}) AND {row_key} IS NOT NULL"""
    merged = f"""
        WITH new AS ({new}),
        old AS (SELECT {key} AS id, updated_at AS ts, traits FROM {table} WHERE {key} IN (SELECT id FROM new)),
        pairs AS (
            SELECT n.id, e.key, CAST(e.value AS VARCHAR) AS value, n.ts, 1 AS pri, n._line
            FROM new n, json_each(n.traits) e
            UNION ALL
            SELECT o.id, e.key, CAST(e.value AS VARCHAR), o.ts, 0, 0 FROM old o, json_each(o.traits) e
        ),
        latest AS (
            SELECT id, key, arg_max(value, struct_pack(ts := ts, pri := pri, line := _line)) AS value
            FROM pairs GROUP BY id, key
        ),
        objects AS (
            SELECT id, CAST('{{' || string_agg(to_json(key)::VARCHAR || ':' || value, ',' ORDER BY key) || '}}' AS JSON)
                AS traits
            FROM latest GROUP BY id
        ),
        stamps AS (
            SELECT id, max(ts) AS ts FROM (SELECT id, ts FROM new UNION ALL SELECT id, ts FROM old) GROUP BY id
        )
        SELECT s.id, coalesce(o.traits, CAST('{{}}' AS JSON)) AS traits, s.ts AS updated_at
        FROM stamps s LEFT JOIN objects o USING (id)
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE aha_import_traits AS {merged}")
    # An update is an entity that is new or whose traits change. A re-sent row with the same values is not one,
    # but its time is still written: `updated_at` is when the traits were last stated, which the later-wins merge
    # compares an older value arriving late against.
    changed = scalar_int(
        con,
        f"""SELECT count(*) FROM aha_import_traits n LEFT JOIN {table} t ON t.{key} = n.id
            WHERE t.{key} IS NULL OR CAST(t.traits AS VARCHAR) IS DISTINCT FROM CAST(n.traits AS VARCHAR)""",
    )
    con.execute(
        f"""INSERT INTO {table} ({key}, traits, updated_at) SELECT id, traits, updated_at FROM aha_import_traits
            ON CONFLICT ({key}) DO UPDATE SET traits = excluded.traits, updated_at = excluded.updated_at"""
    )
    con.execute("DROP TABLE aha_import_traits")
    return changed
