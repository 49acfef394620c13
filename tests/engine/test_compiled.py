"""Compiled SQL kept for incremental updates (aha.analyses.compiled): the sentinels are what Ibis renders, and an
update that runs the kept statements gives the state a full rebuild gives, for other touched users and a later
`as_of` than the update that recorded them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ibis
import pandas as pd
import pytest

from aha.analyses import compiled, incremental
from aha.analyses.state import build
from aha.store import open_store
from tests.engine.test_incremental import LATE, Batch, _entities, _ev, _latest


def test_the_sentinels_are_rendered_as_ibis_renders_a_timestamp_literal() -> None:
    events = ibis.table({"timestamp": "timestamp"}, name="events")
    for moment in (compiled.AS_OF, compiled.SINCE):
        sql = ibis.to_sql(events.filter(events.timestamp <= ibis.literal(moment)), dialect="duckdb")
        assert compiled.sentinel_sql(moment) in sql


def test_a_replayed_update_equals_a_full_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three batches: the second update of the store runs what the first recorded (u1 then u2 touched, as_of moved
    from 1:00 to 3:00). u2 reaches w2 at 2:30 in the refreshed state, as in a store built at once."""
    batches = [Batch([_ev("u1", "Signed Up", 0, 1), _ev("u2", "Signed Up", 5, 2)], [], [], {}),
               Batch([_ev("u1", "W", 30, 3), _ev("u1", "W", 60, 4)], [], [], {}),
               Batch([_ev("u2", "W", 120, 5), _ev("u2", "W", 150, 6), _ev("u2", "M", 180, 7, account="acc1")],
                     [], [], {})]
    monkeypatch.setattr(incremental, "LARGEST_SHARE", float("inf"))  # a small log doubles in one batch
    compiled._programs.clear()
    compiled._texts.clear()
    with tempfile.TemporaryDirectory() as tmp:
        grown, whole = open_store(Path(tmp) / "grown.duckdb"), open_store(Path(tmp) / "whole.duckdb")
        try:
            batches[0].write(grown)
            build(grown, LATE, _latest(grown))
            batches[1].write(grown)
            assert build(grown, LATE, _latest(grown)).touched == {("user", "u1")}
            recorded = dict(compiled._programs)
            assert len(recorded) == 1
            batches[2].write(grown)
            refreshed = build(grown, LATE, _latest(grown))
            assert refreshed.refreshed and refreshed.touched == {("user", "u2"), ("account", "acc1")}
            assert compiled._programs == recorded  # run again, not recorded again
            for batch in batches:
                batch.write(whole)
            full = build(whole, LATE, _latest(whole))
            pd.testing.assert_frame_equal(_entities(grown, refreshed), _entities(whole, full))
            rows = {(r.entity_id, r.milestone_id): (str(r.reach_time), r.status)
                    for r in refreshed.state.execute().itertuples()}
            assert rows[("u2", "w2")] == ("2026-01-05 02:30:00", "reached")
            assert rows[("u1", "w2")] == ("2026-01-05 01:00:00", "reached")
        finally:
            grown.close()
            whole.close()
