"""Timestamps at the edges give the same answer on every path (docs/ingest.md, "Timestamps at the edges"): what the
server's validation accepts `aha import` stores at the same instant, and what it refuses the import refuses into a
dead letter. Before: the import stored years 0 and 1, 1969, 9999, 10000 and 2126, which the server refuses as
before 1971 or more than a day in the future (a year-0 default or a millisecond count read as seconds then counted
as a signup in a cohort of its own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aha.ingest.payloads import Rejection, validate_call
from tests.serving import aha, rows

EDGES = [
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "1971-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "2126-01-01T00:00:00Z",
    "2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:00+14:00", "2026-01-01T00:00:00-12:00",
    "2026-01-01T00:00:00+1400", "2016-12-31T23:59:60Z", "2026-02-30T00:00:00Z", "2026-01-01", "2026-01-01 10:00:00",
    "1767225600", "1767225600000", "1767225600000000", "1767225600000000000", "0", "-1",
    # zones after the time: BigQuery's ` UTC` and PostgreSQL's `+hh` are read; a zone name is refused (DuckDB's
    # TIMESTAMP cast read `… CET` as midnight UTC, an hour off, and the import stored it)
    "2026-01-01 00:00:00 UTC", "2026-01-01T00:00:00.5 utc", "2026-01-01 00:00:00+02", "2026-01-01T00:00:00z",
    "2026-01-01T00:00:00 CET", "2026-01-01T00:00:00 America/New_York", "2026-01-01T00:00:00UTC",
    "2026-01-01T00:00:00 Z", "2026-01-01T00:00:00 +02:00", "2026-01-01 UTC",
]


def _server(value: str, now: datetime) -> datetime | None:
    """The server's answer for a call with this timestamp: the stored time, or None when refused."""
    call = validate_call({"type": "track", "userId": "u", "event": "E", "messageId": "m", "timestamp": value},
                         received_at=now, source="web")
    return None if isinstance(call, Rejection) else call.timestamp


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_import_accepts_and_refuses_the_timestamps_the_server_does(tmp_path: Path, fmt: str) -> None:
    if fmt == "csv":
        text = "message_id,event,user_id,timestamp\n" + "".join(f"m{i},E,u,{v}\n" for i, v in enumerate(EDGES))
    else:
        text = "".join(json.dumps({"type": "track", "messageId": f"m{i}", "event": "E", "userId": "u",
                                   "timestamp": v}) + "\n" for i, v in enumerate(EDGES))
    (tmp_path / f"edges.{fmt}").write_text(text)
    now = datetime.now(UTC).replace(tzinfo=None)
    done = aha("import", f"edges.{fmt}", "--db", "aha.duckdb", "--allow-rejects", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = {str(m): t for m, t in rows(tmp_path / "aha.duckdb", "SELECT message_id, timestamp FROM events")}
    imported = {v: stored.get(f"m{i}") for i, v in enumerate(EDGES)}
    expected = {v: _server(v, now) for v in EDGES}
    assert imported == expected
    assert sum(t is not None for t in expected.values()) == 15  # 1971, offsets, sub-µs, dates, epoch s/ms/µs/ns, UTC
    # GA4 exports microseconds: µs and ns are read (before: refused on both paths, so a GA4 export imported nothing)
    assert imported["1767225600000000"] == imported["1767225600000000000"] == datetime(2026, 1, 1)
    reasons = {str(r) for (r,) in rows(tmp_path / "aha.duckdb", "SELECT reason FROM dead_letters")}
    assert reasons == {"timestamp before 1971", "timestamp more than a day after the import", "unparseable timestamp"}
