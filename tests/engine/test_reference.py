"""Does the engine answer what SEMANTICS.md says, on any small event log? Compared with a slow pure-Python oracle.

Random logs of 1–8 users with up to 12 events each, on a 30-minute grid that also lands events exactly on t0 + W and
`as_of` exactly on t0 + W or t0 + N days, so ties and window boundaries happen in most examples. Message ids follow a
random row order, so ties in timestamp are broken differently each time. The oracle is tests/engine/reference.py.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aha.analyses import activation, funnel, timing
from aha.analyses.state import MilestoneState, build
from aha.definitions import Definitions, parse
from aha.store import Store, open_store
from tests.engine import reference as ref
from tests.journeys import write_events, write_identities

BASE = datetime(2026, 1, 5)
MIN = 60  # seconds
DAY = 24 * 60  # minutes
DAYS = (1, 2, 3)
# Offsets from a user's signup, in minutes: exactly on every window and day-N boundary used below, one minute either
# side of some, and just before signup.
BOUNDARIES = (0, 1, 59, 60, 61, DAY - 1, DAY, DAY + 1, 2 * DAY, 3 * DAY, 3 * DAY + 1, -1, -30)

COUNTS = """
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 2d}
funnel: [a_once, b_twice, both]
milestones:
  - {id: a_once, event: A, within: 1d}
  - {id: b_twice, event: B, count: 2, within: 1h}
  - {id: ab_twice, level: primary, event: [A, B], count: 2, within: 2d}
  - {id: both, all_of: [a_once, b_twice], within: 1d}
  - {id: c_thrice, event: C, count: 3, within: 2d}
"""

PROPERTIES = """
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 3d}
funnel: [ax, total, kinds, combo]
milestones:
  - {id: kinds, level: primary, event: A, distinct: {property: k, at_least: 2}, within: 2d}
  - {id: total, event: [A, B], sum: {property: n, at_least: 5}, within: 1d}
  - {id: ax, event: A, where: {k: x}, within: 1h}
  - {id: b_in, event: B, where: {k: {in: [x, y]}, n: {gte: 2}}, within: 3d}
  - {id: combo, all_of: [kinds, b_in], within: 1d}   # shorter than its part kinds' 2d window
"""

NUMBERS = """
version: 1
signup: {event: [Signed Up, C]}   # either name signs a user up; no paid event
milestones:
  - {id: n3, level: primary, event: [A, B], where: {n: 3}, within: 3d}
  - {id: n_kinds, event: B, distinct: {property: n, at_least: 2}, within: 3d}   # 3 and "3" are one value
  - {id: half, event: A, sum: {property: n, at_least: 2.5}, within: 2d}
"""

FIRST_SEEN = """
version: 1
signup: {first_seen: true}   # no signup event: t0 is the user's first event, which still counts
paid: {event: Pay, within: 2d}
milestones:
  - {id: a_first, level: primary, event: A, within: 1h}
  - {id: b_twice, event: [B, Signed Up], count: 2, within: 1d}
"""

FIRST_OF_SOME = """
version: 1
signup: {first_seen: {events: [A, C]}}   # t0 is the first A or C
milestones:
  - {id: a_twice, level: primary, event: A, count: 2, within: 1d}
  - {id: c_any, event: C, within: 2d}
"""

DEFINITIONS = [
    pytest.param(COUNTS, id="counts_all_of_paid"),
    pytest.param(FIRST_SEEN, id="first_seen"),
    pytest.param(FIRST_OF_SOME, id="first_seen_of_some_events"),
    pytest.param(PROPERTIES, id="distinct_sum_where_all_of"),
    pytest.param(NUMBERS, id="numeric_strings_two_signup_names"),
]


# --- random logs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    """One random scenario; `rows` are in message-id order (m000000, m000001, …) as tests/journeys.py writes them."""

    rows: tuple[tuple[Any, ...], ...]
    links: tuple[tuple[str, str, str], ...]
    as_of: datetime

    def events(self) -> list[ref.Event]:
        return [ref.Event(f"m{i:06d}", r[1], r[0], r[4].get("anonymous_id"), datetime.fromisoformat(r[2]), r[3])
                for i, r in enumerate(self.rows)]

    def identity_links(self) -> list[ref.Link]:
        return [ref.Link(a, u, datetime.fromisoformat(t)) for a, u, t in self.links]


def _iso(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


WHOLE_DAYS = (DAY, 2 * DAY, 3 * DAY)  # day-N boundaries and most window ends
# Most events fall in the first hour (so count-2-within-1h and all_of can be reached), many on a boundary.
OFFSETS = st.one_of(
    st.sampled_from(BOUNDARIES),
    st.integers(0, 6).map(lambda m: m * 10),
    st.integers(0, 6).map(lambda m: m * 10),
    st.integers(-2, 4 * 48).map(lambda h: h * 30),
    st.sampled_from(WHOLE_DAYS),
)
# Negative values make the order of tied events visible in a running sum (+4 then -3 meets 2; -3 then +4 does not).
N_VALUES = st.sampled_from([None, 0, 1, 2, 3, 4, -3, 2.5, "3", "25", "2", "-2", "abc", ""])
K_VALUES = st.sampled_from([None, "x", "y", "z"])


@st.composite
def logs(draw: st.DrawFn) -> Log:
    n_users = draw(st.integers(1, 8))
    rows: list[tuple[Any, ...]] = []
    anchors = []
    for i in range(n_users):
        user = f"u{i}"
        anchor = draw(st.integers(0, 3 * 48)) * 30  # the signup slot, on a 30-minute grid over three days
        anchors.append(anchor)
        if draw(st.integers(0, 5)) > 0:  # about one user in six never signs up
            rows.append((user, "Signed Up", _iso(anchor), {}, {}))
        for _ in range(draw(st.integers(0, 12))):
            name = draw(st.sampled_from(["A", "A", "A", "B", "B", "B", "C", "C", "Pay", "Signed Up"]))
            offset = draw(OFFSETS)
            props = {key: v for key, v in (("n", draw(N_VALUES)), ("k", draw(K_VALUES))) if v is not None}
            sender = draw(st.sampled_from(["user", "user", "user", "anonymous", "stranger"]))
            who, extra = {
                "user": (user, {}),
                "anonymous": (None, {"anonymous_id": f"anon{i}"}),  # linked below, or not
                "stranger": (None, {"anonymous_id": "anon-never-linked"}),
            }[sender]
            rows.append((who, name, _iso(anchor + offset), props, extra))
    rows = draw(st.permutations(rows))  # message ids follow this order, so ties break differently every time
    # Identity links with distinct times (the earliest link wins; equal times would make the winner arbitrary).
    link_times = draw(st.lists(st.integers(0, 6 * 48), unique=True, max_size=n_users + 2))
    # An identify or alias names an anonymous id; an alias between two identified users names a user id (a merge).
    links = tuple((f"{draw(st.sampled_from(['anon', 'anon', 'u']))}{draw(st.integers(0, n_users - 1))}",
                   f"u{draw(st.integers(0, n_users - 1))}", _iso(t * 30)) for t in link_times)
    stamps = [datetime.fromisoformat(r[2]) for r in rows]
    as_of = draw(st.one_of(
        st.just(max(stamps, default=BASE)),  # the default: the latest event
        st.integers(0, 7 * 48).map(lambda h: BASE + timedelta(minutes=30 * h)),
        st.tuples(st.sampled_from(anchors), st.sampled_from(BOUNDARIES)).map(
            lambda p: BASE + timedelta(minutes=p[0] + p[1])),
        st.tuples(st.sampled_from(anchors), st.sampled_from((2 * DAY, 3 * DAY))).map(  # the longest window closes
            lambda p: BASE + timedelta(minutes=p[0] + p[1])),
    ))
    return Log(tuple(rows), links, as_of)


def _row(user: str | None, event: str, minutes: int, props: dict[str, Any] | None = None,
         anonymous_id: str | None = None) -> tuple[Any, ...]:
    return (user, event, _iso(minutes), props or {}, {"anonymous_id": anonymous_id} if anonymous_id else {})


# Hand-made logs every run starts with, for what random draws hit rarely. Message ids follow the row order.
TIES_IN_A_RUNNING_SUM = Log((
    _row("u0", "Signed Up", 0),
    _row("u0", "A", 10, {"n": 1}), _row("u0", "A", 20, {"n": "2"}), _row("u0", "A", 20, {"n": -3}),
    # u0: running sum 1, 3, 0 -> meets 2.5 at 00:20 only because m000002 comes before m000003 (NUMBERS `half`)
    _row("u1", "Signed Up", 0),
    _row("u1", "A", 10, {"n": 3}), _row("u1", "A", 20, {"n": 2}), _row("u1", "B", 20, {"n": -3}),
    # u1: running sum 3, 5, 2 -> meets 5 at 00:20 (PROPERTIES `total`); the other order never does
), (), BASE + timedelta(days=4))
EXACT_WINDOW_ENDS = Log((
    _row("u0", "Signed Up", 0), _row("u0", "B", 0), _row("u0", "B", 60),  # 2nd B at t0 + 1h: outside b_twice
    _row("u0", "A", DAY, {"k": "x"}),  # at t0 + 1d: outside a_once and outside Day 1
    _row("u0", "Pay", 2 * DAY),  # at t0 + 2d: outside COUNTS' paid window, inside PROPERTIES' 3d
    _row(None, "A", 30, {"k": "y", "n": 3}, anonymous_id="anon1"),  # u1's: the earlier of its two links
    _row("u1", "Signed Up", 30), _row("u2", "Signed Up", 30),
), (("anon1", "u2", _iso(90)), ("anon1", "u1", _iso(60))), BASE + timedelta(days=2))  # as_of: u0's 2d window closes


MERGED_IDS = Log((
    _row("u0", "Signed Up", 60), _row("u0", "A", 70), _row(None, "B", 80, anonymous_id="anon0"),
    _row("u1", "Signed Up", 30), _row("u1", "A", 90), _row("u2", "B", 100), _row("u3", "Signed Up", 0),
    _row("u3", "A", 10), _row("u4", "C", 20),
), (("anon0", "u0", _iso(200)), ("u0", "u1", _iso(210)), ("u1", "u2", _iso(220)),  # anon0 → u0 → u1 → u2
    ("u3", "u4", _iso(230)), ("u4", "u3", _iso(240)),  # aliased back and forth: the later link is ignored
    ("u2", "u0", _iso(250))),  # a ring u0 → u1 → u2 → u0 is followed 8 links: u0 ends at u2, u1 at u0, u2 at u1
    BASE + timedelta(days=4))


# --- the engine on one log -------------------------------------------------------------------------------------


def _state_cells(ms: MilestoneState) -> dict[tuple[str, str], ref.Cell]:
    frame = ms.state.execute()
    users = frame[frame.entity_type == "user"]
    out = {}
    for row in users.to_dict("records"):
        reach = None if pd.isna(row["reach_time"]) else pd.Timestamp(row["reach_time"]).to_pydatetime()
        out[(row["entity_id"], row["milestone_id"])] = ref.Cell(
            pd.Timestamp(row["t0"]).to_pydatetime(), pd.Timestamp(row["window_end"]).to_pydatetime(), reach,
            float(row["progress"]), row["status"])
    return out


def _with_store(log: Log, definitions: Definitions, check: Any) -> None:
    """A fresh DuckDB file per example, so nothing cached by one example can answer for the next."""
    with tempfile.TemporaryDirectory() as tmp:
        store: Store = open_store(Path(tmp) / "x.duckdb")
        try:
            if log.rows:
                write_events(store, log.rows)
            if log.links:
                write_identities(store, log.links)
            check(store, build(store, definitions, log.as_of))
        finally:
            store.close()


def _same_cells(got: dict[tuple[str, str], ref.Cell], want: dict[tuple[str, str], ref.Cell]) -> None:
    assert sorted(got) == sorted(want)
    for key in want:
        g, w = got[key], want[key]
        assert (key, g.t0, g.window_end, g.reach_time, g.status) == (key, w.t0, w.window_end, w.reach_time, w.status)
        assert math.isclose(g.progress, w.progress, abs_tol=1e-9), (key, g.progress, w.progress)


# One example costs about 0.3 s to build the state and 0.3 s more for the analyses (mostly Ibis compiling), so the
# counts keep the module near a minute; the analyses test re-checks the state on its own examples too, and the two
# hand-made logs above run first in both.
STATE_EXAMPLES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANALYSES_EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("yaml_text", DEFINITIONS)
@STATE_EXAMPLES
@given(log=logs())
@example(log=TIES_IN_A_RUNNING_SUM)
@example(log=EXACT_WINDOW_ENDS)
@example(log=MERGED_IDS)
def test_state_matches_reference(yaml_text: str, log: Log) -> None:
    definitions = parse(yaml_text)
    want = ref.state(log.events(), log.identity_links(), definitions, log.as_of)
    without = ref.users_without_signup(log.events(), log.identity_links(), definitions, log.as_of)

    def check(store: Store, ms: MilestoneState) -> None:
        _same_cells(_state_cells(ms), want)
        assert ms.users_without_signup == without

    _with_store(log, definitions, check)


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, abs_tol=1e-6))


@pytest.mark.slow
@pytest.mark.parametrize("yaml_text", DEFINITIONS)
@ANALYSES_EXAMPLES
@given(log=logs())
@example(log=TIES_IN_A_RUNNING_SUM)
@example(log=EXACT_WINDOW_ENDS)
@example(log=MERGED_IDS)
def test_analyses_match_reference(yaml_text: str, log: Log) -> None:
    """Funnel (both orders, both maturity modes), activation by day cohort and time-to-milestone percentiles."""
    definitions = parse(yaml_text)
    cells = ref.state(log.events(), log.identity_links(), definitions, log.as_of)
    steps = funnel.step_ids(definitions)
    primary = definitions.primary.id

    def check(store: Store, ms: MilestoneState) -> None:
        _same_cells(_state_cells(ms), cells)
        for order in ("ordered", "unordered"):
            for include_immature in (False, True):
                result = funnel.run(store, ms, order=order, include_immature=include_immature)
                if not cells:
                    assert result.groups == ()
                    continue
                want = ref.funnel(cells, steps, log.as_of, order, include_immature)
                got = result.groups[0].steps
                case = (order, include_immature)
                assert [(s.entities, s.in_progress) for s in got] == [(w.entities, w.in_progress) for w in want], case
                for g, w in zip(got, want, strict=True):
                    assert _close(g.median_seconds_from_previous, w.median_seconds_from_previous), (case, g, w)
                    assert _close(g.median_seconds_from_signup, w.median_seconds_from_signup), (case, g, w)

        act = activation.run(store, ms, period="day", days=DAYS)
        want_act = ref.activation(cells, primary, DAYS, log.as_of)
        got_act = {}
        for group in act.groups:
            for cohort in (*group.cohorts, group.total):
                got_act[cohort.cohort] = (cohort.signups, tuple(
                    (r.numerator, r.denominator) if r else None for r in cohort.rates))
        assert got_act == want_act

        got_timing = {m.milestone_id: (m.eligible, m.reached, m) for g in timing.run(store, ms).groups
                      for m in g.milestones}
        for m in ref.tracked(definitions):
            if not cells:
                assert got_timing == {}
                break
            eligible, reached, quantiles = ref.timing(cells, m.id)
            g_eligible, g_reached, g = got_timing[m.id]
            assert (g_eligible, g_reached) == (eligible, reached), m.id
            got_q = (g.p25_seconds, g.median_seconds, g.p75_seconds, g.p90_seconds)
            assert all(_close(a, b) for a, b in zip(got_q, quantiles or (None,) * 4, strict=True)), (m.id, got_q)

    _with_store(log, definitions, check)
