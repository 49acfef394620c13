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
