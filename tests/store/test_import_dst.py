"""Local times without an offset, read in `--timezone`, on the two days a year a zone's clock jumps: the rule
docs/import.md states, checked against Python's zoneinfo (an independent reading)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.serving import aha, rows

NEW_YORK = ZoneInfo("America/New_York")


def test_times_in_a_dst_gap_or_overlap_follow_the_documented_rule(tmp_path: Path):
    """2026-03-08 02:30 does not exist in New York (02:00 EST jumps to 03:00 EDT): read with the offset before the
    jump (EST), 07:30 UTC, as zoneinfo's fold=0 reads it. 2026-11-01 01:30 happens twice (EDT, then EST): read as
    the second, standard time, 06:30 UTC (zoneinfo's fold=1). Every other time has one reading."""
    (tmp_path / "ev.csv").write_text("user_id,event,timestamp\n"
                                     "gap,signup,2026-03-08 02:30\n"
                                     "overlap,signup,2026-11-01 01:30\n"
                                     "before,signup,2026-03-08 01:30\n"
                                     "after,signup,2026-03-08 03:30\n", encoding="utf-8")
    done = aha("import", "ev.csv", "--db", "aha.duckdb", "--timezone", "America/New_York", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = dict(rows(tmp_path / "aha.duckdb", "SELECT user_id, timestamp FROM events"))

    def utc(local: datetime, fold: int = 0) -> datetime:
        return local.replace(tzinfo=NEW_YORK, fold=fold).astimezone(UTC).replace(tzinfo=None)

    assert stored["gap"] == utc(datetime(2026, 3, 8, 2, 30)) == datetime(2026, 3, 8, 7, 30)
    assert stored["overlap"] == utc(datetime(2026, 11, 1, 1, 30), fold=1) == datetime(2026, 11, 1, 6, 30)
    assert stored["before"] == datetime(2026, 3, 8, 6, 30) and stored["after"] == datetime(2026, 3, 8, 7, 30)
    assert stored["after"] - stored["before"] == timedelta(hours=1)  # two wall-clock hours, one real hour
