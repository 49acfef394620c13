"""The k-th event of a `count: k` milestone found through per-day counts (`aha.engine.milestones.kth_time`, from
`BUCKETED_FROM` on): hand-counted at the edges of the days it counts by, and the plan ranks only the crossing day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import ibis
import pytest

from aha.analyses.state import build
from aha.definitions import parse
from aha.engine.milestones import BUCKETED_FROM, event_codes, reach_query
from aha.store import open_store
from tests.journeys import write_events, write_memberships

K = BUCKETED_FROM  # the smallest threshold that takes the per-day path
DEFINITIONS = parse(f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: many, event: E, count: {K}, within: 2d, level: primary}}
  - {{id: msgs, event: M, count: {K}, within: 2d, entity: account}}
""")
AS_OF = datetime(2026, 1, 10)  # every window closed: not reached is missed
DAY1, DAY2, DAY3 = datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 3)


def iso(when: datetime) -> str:
    return when.isoformat()


def spaced(user: str, n: int, start: datetime, step: timedelta = timedelta(seconds=1), event: str = "E",
           extra: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """`n` events of `user`, `step` apart from `start`."""
    return [(user, event, iso(start + i * step), {}, extra or {}) for i in range(n)]


JOURNEYS: list[tuple[Any, ...]] = [
    # first: K-1 on day 1; the K-th is the first row of day 2, at 00:00:00 exactly; more follow that day
    ("first", "Signed Up", iso(DAY1)), *spaced("first", K - 1, DAY1 + timedelta(hours=10)),
    ("first", "E", iso(DAY2)), *spaced("first", 5, DAY2 + timedelta(hours=1)),
    # last: 60 on day 1, 40 on day 2 whose 40th (the K-th) is the last of day 2 in the window, at 23:59:59.999999;
    # one more at t0 + 2d exactly is outside the window
    ("last", "Signed Up", iso(DAY1)), *spaced("last", 60, DAY1 + timedelta(hours=1)),
    *spaced("last", K - 61, DAY2 + timedelta(hours=1)), ("last", "E", iso(DAY3 - timedelta(microseconds=1))),
    ("last", "E", iso(DAY3)),
    # ties: K-3 on day 1 before 20:00, then five at 20:00:00 (the (K-2)-th to (K+2)-th), one at 21:00
    ("ties", "Signed Up", iso(DAY1)), *spaced("ties", K - 3, DAY1 + timedelta(hours=1)),
    *[("ties", "E", iso(DAY1 + timedelta(hours=20)))] * 5, ("ties", "E", iso(DAY1 + timedelta(hours=21))),
    # window ends inside the crossing day (t0 at noon: the window ends on day 3 at noon): K-1 on day 2, the K-th at
    # day 3 12:00:00 is at the window's end (out), more at 13:00 → missed with K-1
    ("ends", "Signed Up", iso(DAY1 + timedelta(hours=12))), *spaced("ends", K - 1, DAY2 + timedelta(hours=1)),
    ("ends", "E", iso(DAY3 + timedelta(hours=12))), *spaced("ends", 3, DAY3 + timedelta(hours=13)),
    # … the same with the K-th one second inside: reached then; the day-3 rows after the window are not ranked
    ("inside", "Signed Up", iso(DAY1 + timedelta(hours=12))), *spaced("inside", K - 1, DAY2 + timedelta(hours=1)),
    ("inside", "E", iso(DAY3 + timedelta(hours=11, minutes=59, seconds=59))),
    *spaced("inside", 3, DAY3 + timedelta(hours=13)),
    # fewer than K in the window: never reached
    ("few", "Signed Up", iso(DAY1)), *spaced("few", 40, DAY1 + timedelta(hours=1), timedelta(hours=1)),
    # an account: two members' messages counted together across the day boundary; its K-th is on day 2
    ("m1", "Signed Up", iso(DAY1), {}, {"account_id": "acme"}),
    ("m2", "Signed Up", iso(DAY1), {}, {"account_id": "acme"}),
    *spaced("m1", 30, DAY1 + timedelta(hours=23), timedelta(seconds=2), "M", {"account_id": "acme"}),
    *spaced("m2", 30, DAY1 + timedelta(hours=23, seconds=1), timedelta(seconds=2), "M", {"account_id": "acme"}),
    *spaced("m1", K, DAY2 + timedelta(hours=2), timedelta(minutes=1), "M", {"account_id": "acme"}),
]

# entity: (status, reach time or None, progress), counted by hand from the journeys above
EXPECTED = {
    "first": ("reached", DAY2, K + 5),
    "last": ("reached", DAY3 - timedelta(microseconds=1), K),
    "ties": ("reached", DAY1 + timedelta(hours=20), K + 3),
    "ends": ("missed", None, K - 1),
    "inside": ("reached", DAY3 + timedelta(hours=11, minutes=59, seconds=59), K),
    "few": ("missed", None, 40),
    # 60 messages on day 1, then m1's each minute from 02:00 on day 2: the K-th overall is m1's (K-60)-th of day 2
    "acme": ("reached", DAY2 + timedelta(hours=2, minutes=K - 61), K + 60),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, Any]:
    store = open_store(tmp_path_factory.mktemp("kth") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_memberships(store, [("m1", "acme", iso(DAY1)), ("m2", "acme", iso(DAY1))])
    frame = build(store, DEFINITIONS, AS_OF).state.execute()
    frame = frame[frame.milestone_id.isin(["many", "msgs"])]
    return {r.entity_id: r for r in frame.itertuples()}


@pytest.mark.parametrize(("entity", "expected"), list(EXPECTED.items()), ids=list(EXPECTED))
def test_the_kth_event_at_the_edges_of_a_day(rows, entity, expected):
    row = rows[entity]
    status, reach, progress = expected
    assert row.status == status
    got = None if row.reach_time is None or str(row.reach_time) == "NaT" else row.reach_time.to_pydatetime()
    assert got == reach
    assert row.progress == progress


def test_only_the_crossing_days_rows_are_ranked(tmp_path):
    """One entity with 50 qualifying rows on each of three days and k = 100: the running count over the days
    crosses k on day 2, so the ranking window reads that day's 50 rows, not all 150 (the plan before read all)."""
    con = ibis.duckdb.connect(tmp_path / "plan.duckdb")
    con.raw_sql("""CREATE TABLE relevant AS SELECT 7::BIGINT AS entity_key,
        TIMESTAMP '2026-01-01 10:00:00' + INTERVAL (i // 50) DAY + INTERVAL (i % 50) MINUTE AS timestamp,
        0::SMALLINT AS event_code FROM range(150) AS r(i)""")
    milestone = next(m for m in DEFINITIONS.milestones if m.id == "many")
    sql = con.compile(reach_query(con.table("relevant"), milestone, event_codes(["E"]), bounded=milestone.within))
    assert con.raw_sql(f"SELECT * FROM ({sql})").fetchall() == [
        (7, datetime(2026, 1, 2, 10, 49), 150.0)]  # the 100th: day 2's 50th row, at 10:49
    profile = json.loads(con.raw_sql(f"EXPLAIN (ANALYZE, FORMAT json) {sql}").fetchall()[0][1])

    def ranked(node: dict[str, Any]) -> list[int]:
        own = []
        if node.get("name") == "WINDOW" and "row_number" in str(node.get("extra_info", {})).lower():
            own = [sum(int(child.get("operator_cardinality", child.get("intermediate_rows", 0)))
                       for child in node.get("children", []))]
        return own + [n for child in node.get("children", []) for n in ranked(child)]

    assert [n for node in profile["operator"] for n in ranked(node)] == [50]
