"""Discovery's one counts pass, checked candidate by candidate against a direct count from the events.

The planted log has an event with two low-cardinality properties (Export Done: format and pages, so two rounds of
property candidates, `engine.discovery.candidate_counts`), exports without one of them, an event with one (Shared:
channel), one with none (Session) and a high-cardinality property no candidate is made of (file). Every cell of
every candidate of those events must equal the 2×2 counted straight from the events table with plain SQL: the
users each window compares (the landmark, read from the engine's own outcome tables), the events before the paid
moment only for conversion.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

DEFINITIONS = """
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 30d}
retention: {day: 21}
milestones:
  - {id: exported, level: primary, event: Export Done, within: 7d}
"""
BASE = datetime(2026, 1, 1)


def simulate() -> list[tuple[Any, ...]]:
    rng = random.Random(5)
    rows: list[tuple[Any, ...]] = []
    for i in range(1500):
        user, t0 = f"u{i}", BASE + timedelta(minutes=31 * i)
        rows.append((user, "Signed Up", t0.isoformat()))
        keen = rng.random() < 0.4
        for day in range(rng.randint(1, 40)):
            at = t0 + timedelta(days=day, hours=2)
            rows.append((user, "Session", at.isoformat()))
            for j in range(rng.randint(0, 3 if keen else 1)):
                props: dict[str, Any] = {"format": rng.choice(["csv", "pdf", "xlsx"]), "pages": rng.choice([1, 2]),
                                         "file": f"f{rng.randrange(10**6)}"}
                if rng.random() < 0.1:
                    del props[rng.choice(["format", "pages"])]  # an export without one of the two
                rows.append((user, "Export Done", (at + timedelta(minutes=10 + j)).isoformat(), props))
            if rng.random() < 0.3:
                rows.append((user, "Shared", (at + timedelta(hours=1)).isoformat(),
                             {"channel": rng.choice(["slack", "email"])}))
            if rng.random() < (0.02 if keen else 0.008):
                rows.append((user, "Pay", (at + timedelta(hours=3)).isoformat()))
                break
    return rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("discovery_counts") / "aha.duckdb")
    write_events(store, simulate())
    return Project(store, parse(DEFINITIONS))


# Per window w: the users compared (their landmark, from the engine's outcome tables), each one's count of the
# candidate's events in [t0, t0 + w days) (before paying, for conversion), grouped by (w, count, outcome).
DIRECT = """
WITH u AS (
    SELECT s.entity_id, s.t0, p.reach_time AS paid_at, {outcome} AS won, {active} AS active
    FROM aha_entities s JOIN aha_retention r USING (entity_id)
    JOIN aha_state p ON p.entity_id = s.entity_id AND p.entity_type = 'user' AND p.milestone_id = '_paid'
    WHERE s.entity_type = 'user' AND {window_end} <= $as_of
), among AS (
    SELECT u.*, w FROM u, (VALUES (1), (3), (7), (14)) v(w)
    WHERE active >= t0 + w * INTERVAL 1 DAY {not_paid}
), n AS (
    SELECT among.entity_id, w, won, count(e.event) AS n
    FROM among LEFT JOIN events e ON e.user_id = among.entity_id AND e.event = $event
        AND ($key IS NULL OR json_extract_string(e.properties, '$."' || $key || '"') = $value)
        AND e.timestamp >= among.t0 AND e.timestamp < among.t0 + w * INTERVAL 1 DAY {before_paid}
    GROUP BY ALL
)
SELECT w, n, won, count(*) FROM n GROUP BY ALL
"""
SQL = {
    "retention": DIRECT.format(outcome="r.retained_at IS NOT NULL", active="r.active_before",
                               window_end="r.window_end", not_paid="", before_paid=""),
    "conversion": DIRECT.format(outcome="p.reach_time IS NOT NULL", active="r.active_in_horizon",
                                window_end="p.window_end",
                                not_paid="AND (paid_at IS NULL OR paid_at >= t0 + w * INTERVAL 1 DAY)",
                                before_paid="AND (paid_at IS NULL OR e.timestamp < paid_at)"),
}


@pytest.mark.parametrize("outcome", ["retention", "conversion"])
def test_every_candidate_equals_a_direct_count(project: Project, outcome: str) -> None:
    result = project.discover(outcome=outcome)
    labels = {k.event for k in result.candidates}
    # two rounds of property candidates on one event, one on another, values of both JSON types, the rare file none
    assert {"Export Done where format = pdf", "Export Done where pages = 2", "Shared where channel = slack",
            "Export Done", "Session"} <= labels
    assert not any("file" in label or "None" in label for label in labels)
    checked = 0
    for label in sorted(labels - {"Signed Up", "Pay"}):
        event, _, rest = label.partition(" where ")
        key, _, value = rest.partition(" = ")
        rows = project.store.raw.execute(SQL[outcome], {"as_of": result.as_of, "event": event,
                                                         "key": key or None, "value": value or None}).fetchall()
        for k in (k for k in result.candidates if k.event == label):
            a = sum(users for w, n, won, users in rows if w == k.window_days and n >= k.threshold and won)
            b = sum(users for w, n, won, users in rows if w == k.window_days and n >= k.threshold and not won)
            c = sum(users for w, n, won, users in rows if w == k.window_days and n < k.threshold and won)
            d = sum(users for w, n, won, users in rows if w == k.window_days and n < k.threshold and not won)
            assert (k.a, k.b, k.c, k.d) == (a, b, c, d), (label, k.window_days, k.threshold)
            checked += 1
    assert checked > 100
    populations = {p.window_days: p.users for p in result.populations}
    assert all(k.a + k.b + k.c + k.d == populations[k.window_days] for k in result.candidates)
