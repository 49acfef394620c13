"""Discovery's landmark populations for conversion (SEMANTICS.md, "Discovery and scoring"), on a planted log whose
every number is known: who is compared in each window, and what a causal and a non-causal event's lifts must be.

Each of 4,000 users signs up at t0 and, each day d it is still there, starts a Session (d days + 5h), does 0–3 Page
Views (noise, drawn apart from everything) and tries to pay (d days + 12h) with probability 2%, or 6% if it did the
Key Action (half the users, at t0 + 1h); a fifth of that during a 7-day trial. A user who pays leaves at once with
probability 70% (the visitor who buys and goes); one who does not pay leaves at the day's end with probability 10%.
Nothing but the Key Action changes paying; Sessions only say the user was there (the trap: a user who left on day 1
has few Sessions and, gone, never pays, so without a landmark "≥ 5 Sessions in 7 days" looks like a cause of paying).
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

USERS, P_BASE, P_KEY, LEAVE, LEAVE_AFTER_PAYING = 4000, 0.02, 0.06, 0.10, 0.70
TRIAL_DAYS, TRIAL_SHARE = 7, 0.2
BASE = datetime(2026, 1, 1)
AS_OF = None  # the latest event (Feb 28): every 30-day horizon (the last t0 is Jan 20) has closed
DEFINITIONS = """
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 30d}
milestones:
  - {id: key, level: primary, event: Key Action, within: 3d}
"""


def simulate() -> tuple[list[tuple[Any, ...]], dict[str, dict[str, Any]]]:
    """The events, and per user what the landmark needs: the days it was there and the day it paid (or None)."""
    rng = random.Random(13)
    rows: list[tuple[Any, ...]] = []
    users = {}
    for i in range(USERS):
        user, t0 = f"u{i}", BASE + timedelta(minutes=7 * i)
        key = rng.random() < 0.5
        rows.append((user, "Signed Up", t0.isoformat()))
        if key:
            rows.append((user, "Key Action", (t0 + timedelta(hours=1)).isoformat()))
        paid_day, day = None, 0
        while day < 40:
            at = t0 + timedelta(days=day)
            rows.append((user, "Session", (at + timedelta(hours=5)).isoformat()))
            rows += [(user, "Page Viewed", (at + timedelta(hours=6, minutes=j)).isoformat())
                     for j in range(rng.randint(0, 3))]
            if paid_day is None and day < 30 and rng.random() < chance(P_KEY if key else P_BASE, day):
                paid_day = day
                rows.append((user, "Pay", (at + timedelta(hours=12)).isoformat()))
                if rng.random() < LEAVE_AFTER_PAYING:
                    break
            elif rng.random() < LEAVE:
                break
            day += 1
        users[user] = {"key": key, "last_day": day, "paid_day": paid_day}
    return rows, users


def chance(p: float, day: int) -> float:
    """The day's chance to pay: a fifth of it during the 7-day trial, when most users only look around."""
    return p * (TRIAL_SHARE if day < TRIAL_DAYS else 1)


def conversion_after(p: float, start: int) -> float:
    """P(pays by day 29 | there and not paid before day `start`): each day it pays with `chance`, else stays with
    probability 1 - LEAVE."""
    total, there = 0.0, 1.0
    for day in range(start, 30):
        total += there * chance(p, day)
        there *= (1 - chance(p, day)) * (1 - LEAVE)
    return total


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, dict[str, Any]]]:
    rows, users = simulate()
    store = open_store(tmp_path_factory.mktemp("landmark") / "aha.duckdb")
    write_events(store, rows)
    return Project(store, parse(DEFINITIONS)), users


@pytest.fixture(scope="module")
def conversion(planted):
    return planted[0].discover(outcome="conversion", as_of=AS_OF)


def _candidate(result, event: str, window: int, threshold: int):
    return next(k for k in result.candidates if (k.event, k.window_days, k.threshold) == (event, window, threshold))


def test_the_conversion_landmark_is_who_had_not_paid_and_was_still_there(planted, conversion) -> None:
    """Window w: users there on day w (so active after it) who had not paid on days 0…w−1, counted by hand from the
    simulation. A user who paid inside the window is out whether or not they came back afterwards: the old landmark
    (activity alone) kept the 30% who stayed after paying and dropped the 70% who left, selecting on what users do
    after paying."""
    _, users = planted
    for p in conversion.populations:
        w = p.window_days
        among = [u for u in users.values() if u["last_day"] >= w and (u["paid_day"] is None or u["paid_day"] >= w)]
        assert (p.users, p.outcome_users) == (len(among), sum(u["paid_day"] is not None for u in among)), w


def test_the_planted_key_action_lift_is_the_true_one(conversion) -> None:
    """Among those compared in the 3-day window, the Key Action multiplies the chance of paying by days 3–29 by
    conversion_after(6%, 3) / conversion_after(2%, 3) = 2.38 (computed from the model, day by day); the interval
    must hold it."""
    truth = conversion_after(P_KEY, 3) / conversion_after(P_BASE, 3)
    k = _candidate(conversion, "Key Action", 3, 1)
    assert k.comparison.lift_low is not None and k.comparison.lift_high is not None
    assert k.comparison.lift_low <= truth <= k.comparison.lift_high and k.significant
    assert k.a + k.b + k.c + k.d == next(p.users for p in conversion.populations if p.window_days == 3)


def test_page_views_are_noise_and_sessions_only_presence(planted, conversion) -> None:
    """Neither Page Views nor Sessions change paying. With the landmark neither is flagged; without it Sessions are
    (a user who left early has fewer and never pays: the trap the landmark removes, for conversion as for
    retention), while the Key Action is flagged either way."""
    flagged = {k.event for k in conversion.candidates if k.significant}
    assert flagged == {"Key Action"}
    everyone = planted[0].discover(outcome="conversion", as_of=AS_OF, landmark=False)
    assert {"Session", "Key Action"} <= {k.event for k in everyone.candidates if k.significant}
    assert {p.users for p in everyone.populations} == {USERS}
