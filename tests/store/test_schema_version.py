"""The store records its schema version: an older file is migrated on open, a newer one is refused with the fix."""

from __future__ import annotations

import pytest

from aha.store import StoreError, open_store, schema


def test_new_file_records_the_current_version(db_path):
    store = open_store(db_path)
    assert store.scalar("SELECT value FROM aha_meta WHERE key = 'schema_version'") == str(schema.SCHEMA_VERSION)


def test_older_file_is_migrated_on_open(db_path, monkeypatch):
    open_store(db_path).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION, ("ALTER TABLE events ADD COLUMN context JSON",))
    store = open_store(db_path)
    assert "context" in store.table("events").columns
    assert store.scalar("SELECT value FROM aha_meta WHERE key = 'schema_version'") == str(schema.SCHEMA_VERSION)


def test_newer_file_is_refused(db_path):
    store = open_store(db_path)
    store.raw.execute("UPDATE aha_meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError) as info:
        open_store(db_path)
    assert str(info.value) == (f"{db_path}: written by a newer aha (schema 99, this one reads "
                               f"{schema.SCHEMA_VERSION}). Upgrade aha.")


@pytest.mark.parametrize("missing", ["DROP TABLE ingested", "DROP TABLE seen_members",
                                     "DELETE FROM aha_meta WHERE key = 'data_version'"])
def test_an_open_completes_a_file_missing_a_table_or_a_version_row(db_path, missing):
    """An open skips the DDL only when every table and both version rows are there (Store._schema_in_place)."""
    store = open_store(db_path)
    store.raw.execute(missing)
    store.close()
    store = open_store(db_path)
    try:
        assert store.exists("ingested") and store.exists("seen_members")
        assert store.scalar("SELECT value FROM aha_meta WHERE key = 'data_version'") is not None
        assert store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = 'main' AND table_name IN ('ingested', 'seen_members')") == 2
    finally:
        store.close()
