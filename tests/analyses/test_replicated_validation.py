"""Validation on replicated planted logs, cheaply: 40 independent replicates in one store, told apart by a signup
property and evaluated at once by `evaluate(segment=...)`. A milestone drawn independently of conversion (a planted
null) must come out significant (p < 0.05) about as often as alpha allows, and the 95% interval of a planted
+20-point difference must cover +20 about 95% of the time.

Expected by hand: under the null, P(p < 0.05) ≈ 0.05, so among 40 replicates at most 6 significant has probability
0.99 (binomial); the interval's coverage ≈ 0.95, so at least 34 of 40 covering has probability 0.97 at 0.95 and
0.998 at a true 0.97 (a two-sided 95% Newcombe interval is a little conservative). The seed is fixed: the test
is deterministic, the bounds say what a correct analysis may give."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
segments: [rep]
milestones:
  - {id: null_step, name: Null, level: primary, event: Act, within: 3d}
  - {id: planted, name: Planted, level: secondary, event: Boost, within: 3d}
"""
T0 = datetime(2026, 1, 1)
REPLICATES, USERS = 40, 500
PLANTED = 0.20  # conversion 20% without Boost, 40% with it; Act has no effect


def test_a_planted_null_and_a_planted_difference_over_replicates(tmp_path: Path) -> None:
    r = random.Random(20261205)
    rows: list[tuple] = []
    for rep in range(REPLICATES):
        for u in range(USERS):
            t, uid = T0 + timedelta(hours=r.randrange(24 * 20)), f"r{rep}u{u}"
            rows.append((uid, "Signed Up", t.isoformat(), {"rep": f"r{rep:02d}"}))
            if r.random() < 0.4:
                rows.append((uid, "Act", (t + timedelta(hours=5)).isoformat()))
            boost = r.random() < 0.5
            if boost:
                rows.append((uid, "Boost", (t + timedelta(hours=6)).isoformat()))
            if r.random() < 0.2 + (PLANTED if boost else 0.0):
                rows.append((uid, "Paid", (t + timedelta(days=10)).isoformat()))
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, rows)
    result = Project(store, parse(YAML)).evaluate(segment="rep", as_of=T0 + timedelta(days=90),
                                                  outcomes=("conversion",))
    groups = [g for g in result.groups if g.segment.startswith("r")]
    assert len(groups) == REPLICATES
    significant = covered = 0
    for g in groups:
        rows_by_id = {row.milestone_id: row for row in g.rows}
        null, planted = rows_by_id["null_step"], rows_by_id["planted"]
        assert null.population == USERS  # every window and horizon closed by as_of
        significant += null.comparison.p_value < 0.05
        covered += planted.comparison.difference_low <= PLANTED <= planted.comparison.difference_high
    assert significant <= 6 and covered >= 34, (significant, covered)
