"""Compiled SQL kept for incremental updates (aha.analyses.compiled): the sentinels are what Ibis renders, and an
update that runs the kept statements gives the state a full rebuild gives, for other touched users and a later
`as_of` than the update that recorded them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ibis
import pandas as pd
import pytest

from aha.analyses import compiled, incremental
from aha.analyses.state import MilestoneState, build
from aha.store import Store, open_store
from tests.engine.test_incremental import LATE, Batch, _entities, _ev, _latest

# u1 and u2 sign up; u1 does two W; u2 two W and a message in acc1
BATCHES = [Batch([_ev("u1", "Signed Up", 0, 1), _ev("u2", "Signed Up", 5, 2)], [], [], {}),
           Batch([_ev("u1", "W", 30, 3), _ev("u1", "W", 60, 4)], [], [], {}),
           Batch([_ev("u2", "W", 120, 5), _ev("u2", "W", 150, 6), _ev("u2", "M", 180, 7, account="acc1")], [], [], {})]


@contextmanager
def _grown_and_whole() -> Iterator[tuple[Store, Store]]:
    """Two stores: `grown` with the first batch's state built and the second batch written, `whole` empty."""
    with tempfile.TemporaryDirectory() as tmp:
        grown, whole = open_store(Path(tmp) / "grown.duckdb"), open_store(Path(tmp) / "whole.duckdb")
        try:
            BATCHES[0].write(grown)
            build(grown, LATE, _latest(grown))
            BATCHES[1].write(grown)
            yield grown, whole
        finally:
            grown.close()
            whole.close()


def _equal_to_a_full_rebuild(grown: Store, refreshed: MilestoneState, whole: Store,
                             batches: list[Batch]) -> dict[tuple[str, str], tuple[str, str]]:
    """Assert that `refreshed` equals the state of `whole` built at once from `batches`; its rows' (reach, status)."""
    for batch in batches:
        batch.write(whole)
    full = build(whole, LATE, _latest(whole))
    pd.testing.assert_frame_equal(_entities(grown, refreshed), _entities(whole, full))
    rows = refreshed.state.execute().itertuples()
    return {(r.entity_id, r.milestone_id): (str(r.reach_time), r.status) for r in rows}


def _updates() -> dict[tuple[str, ...], list[str]]:
    """The incremental updates' programs this process keeps (not the full build's)."""
    return {k: v for k, v in compiled._programs.items() if k[0] != "build"}


def test_the_sentinels_are_rendered_as_ibis_renders_a_timestamp_literal() -> None:
    events = ibis.table({"timestamp": "timestamp"}, name="events")
    for moment in (compiled.AS_OF, compiled.SINCE):
        sql = ibis.to_sql(events.filter(events.timestamp <= ibis.literal(moment)), dialect="duckdb")
        assert compiled.sentinel_sql(moment) in sql


def test_a_replayed_update_equals_a_full_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three batches: the second update of the store runs what the first recorded (u1 then u2 touched, as_of moved
    from 1:00 to 3:00). u2 reaches w2 at 2:30 in the refreshed state, as in a store built at once."""
    batches = BATCHES
    monkeypatch.setattr(incremental, "LARGEST_SHARE", float("inf"))  # a small log doubles in one batch
    compiled._programs.clear()
    compiled._texts.clear()
    with _grown_and_whole() as (grown, whole):
        assert build(grown, LATE, _latest(grown)).touched == {("user", "u1")}
        recorded = _updates()
        assert len(recorded) == 1
        batches[2].write(grown)
        refreshed = build(grown, LATE, _latest(grown))
        assert refreshed.refreshed and refreshed.touched == {("user", "u2"), ("account", "acc1")}
        assert _updates() == recorded  # run again, not recorded again
        rows = _equal_to_a_full_rebuild(grown, refreshed, whole, batches)
        assert rows[("u2", "w2")] == ("2026-01-05 02:30:00", "reached")
        assert rows[("u1", "w2")] == ("2026-01-05 01:00:00", "reached")


def test_a_fresh_process_runs_the_programs_the_file_keeps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The statements recorded by one process are kept in the file: another (the process dicts emptied) refreshes
    without building or compiling an expression (`_spread` and Ibis's compile refuse), and equals a full rebuild.
    A program kept by another version of aha or its libraries is not run: that process compiles and replaces it."""
    from ibis.backends.sql import SQLBackend

    from aha.analyses import state

    batches = [*BATCHES, Batch([_ev("u1", "M", 200, 8, account="acc1"), _ev("u2", "W", 10, 9)], [], [], {})]
    monkeypatch.setattr(incremental, "LARGEST_SHARE", float("inf"))
    monkeypatch.setenv("AHA_STATEMENT_CACHE", str(tmp_path / "statements"))  # empty: what the file keeps
    with _grown_and_whole() as (grown, whole):
        compiled._programs.clear()
        compiled._texts.clear()
        assert build(grown, LATE, _latest(grown)).refreshed
        grown.settle()  # kept statements are written in the background (compiled._save_file)
        kept = grown.raw.execute(f"SELECT key, version FROM {compiled.TABLE} WHERE NOT starts_with(key, '[\"build') "
                                 "ORDER BY key").fetchall()
        assert {v for _, v in kept} == {compiled.version()}
        assert len(kept) == 3  # the update's statements, the users-without-signup count, the long view

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("compiled again")

        compiled._programs.clear()
        compiled._texts.clear()
        with monkeypatch.context() as m:
            m.setattr(state, "_spread", refuse)
            m.setattr(SQLBackend, "compile", refuse)
            batches[2].write(grown)
            refreshed = build(grown, LATE, _latest(grown))
        assert refreshed.refreshed and refreshed.touched == {("user", "u2"), ("account", "acc1")}
        # another version of aha (its code fingerprint) or its libraries: what the file and this user's cache keep
        # is not run, the programs are compiled again and kept under that version
        monkeypatch.setattr(compiled, "version", lambda: "another aha")
        compiled._programs.clear()
        compiled._texts.clear()
        batches[3].write(grown)
        calls: list[int] = []
        spread = state._spread
        monkeypatch.setattr(state, "_spread", lambda *a, **k: calls.append(1) or spread(*a, **k))
        last = build(grown, LATE, _latest(grown))
        assert last.refreshed and calls == [1]
        grown.settle()
        assert {v for (v,) in grown.raw.execute(f"SELECT version FROM {compiled.TABLE}").fetchall()} == {
            compiled.version()}
        rows = _equal_to_a_full_rebuild(grown, last, whole, batches)
        assert rows[("u2", "w2")] == ("2026-01-05 02:00:00", "reached")  # the late W at 0:10 is the first
        assert rows[("acc1", "team")] == ("2026-01-05 03:20:00", "reached")
