"""Incremental state (SEMANTICS.md, "Incremental state"): a state brought up to date after new calls equals a full
rebuild over the same calls, on random logs appended in two batches, and on hand-made late identity links."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aha.analyses import incremental
from aha.analyses.state import MilestoneState, build
from aha.definitions import Definitions, parse
from aha.store import Store, open_store
from tests.journeys import write_events, write_identities, write_memberships, write_traits

BASE = datetime(2026, 1, 5)
DAY = 24 * 60  # minutes

ACCOUNTS = parse("""
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 2d}
milestones:
  - {id: a_once, event: A, within: 1d}
  - {id: b_twice, event: B, count: 2, within: 1h}
  - {id: kinds, event: A, distinct: {property: k, at_least: 2}, within: 2d}
  - {id: both, all_of: [a_once, b_twice], within: 1d, level: primary}
  - {id: admin_c, event: C, scope: {persona: admin}, within: 2d}
  - {id: team_b, event: B, count: 3, within: 3d, entity: account}
""")
FIRST_SEEN = parse("""
version: 1
signup: {first_seen: {events: [A, C]}}
milestones:
  - {id: a_twice, level: primary, event: A, count: 2, within: 1d}
  - {id: c_any, event: C, within: 2d}
""")


@dataclass(frozen=True)
class Batch:
    rows: list[tuple[Any, ...]]
    links: list[tuple[str, str, str]]
    members: list[tuple[str, str, str]]
    traits: dict[str, dict[str, str]]

    def write(self, store: Store) -> None:
        if self.rows:
            write_events(store, self.rows)
        if self.links:
            write_identities(store, self.links)
        if self.members:
            write_memberships(store, self.members)
        if self.traits:
            write_traits(store, self.traits)


def _iso(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


@st.composite
def batches(draw: st.DrawFn) -> tuple[Batch, Batch, str, str]:
    """Two batches of calls over 1–6 users, 3 anonymous ids and 2 accounts on a 30-minute grid; each call lands in
    the first or the second batch (message ids stay unique). `as_of` of each build: the default, or a time."""
    n = draw(st.integers(1, 6))
    users = [f"u{i}" for i in range(n)]
    parts: tuple[Batch, Batch] = (Batch([], [], [], {}), Batch([], [], [], {}))
    count = 0
    for i, user in enumerate(users):
        anchor = draw(st.integers(0, 4 * 48)) * 30
        calls = [("Signed Up", 0)] if draw(st.integers(0, 5)) else []
        calls += [(draw(st.sampled_from(["A", "A", "B", "B", "B", "C", "Pay", "Signed Up"])),
                   draw(st.integers(-2, 4 * 48)) * 30) for _ in range(draw(st.integers(0, 10)))]
        for name, offset in calls:
            who = draw(st.sampled_from(["user", "user", "anonymous", "stranger"]))
            extra: dict[str, Any] = {"message_id": f"m{count:05d}"}
            count += 1
            if who != "user":
                extra["anonymous_id"] = f"anon{draw(st.integers(0, 2))}" if who == "anonymous" else f"x{i}"
            if draw(st.booleans()):
                extra["account_id"] = f"acc{draw(st.integers(0, 1))}"
            props = {"k": draw(st.sampled_from(["x", "y", "z"]))}
            parts[draw(st.integers(0, 1))].rows.append((user if who == "user" else None, name,
                                                        _iso(anchor + offset), props, extra))
        if draw(st.booleans()):
            parts[draw(st.integers(0, 1))].traits[user] = {"persona": draw(st.sampled_from(["admin", "analyst"]))}
    for t in draw(st.lists(st.integers(0, 6 * 48), unique=True, max_size=n + 2)):
        name = f"{draw(st.sampled_from(['anon', 'anon', 'u']))}{draw(st.integers(0, max(n, 3) - 1))}"
        parts[draw(st.integers(0, 1))].links.append((name, draw(st.sampled_from(users)), _iso(t * 30)))
    for t in draw(st.lists(st.integers(0, 6 * 48), max_size=3)):
        parts[draw(st.integers(0, 1))].members.append((draw(st.sampled_from(users)),
                                                       f"acc{draw(st.integers(0, 2))}", _iso(t * 30)))
    first = draw(st.sampled_from(["default", "default", "time"]))
    second = draw(st.sampled_from(["default", "default", "same", "later"]))
    return parts[0], parts[1], first, second


def _latest(store: Store) -> datetime:
    value = store.scalar("SELECT CAST(value AS TIMESTAMP) FROM aha_meta WHERE key = 'latest_event'")
    return value if isinstance(value, datetime) else BASE


def _entities(store: Store, ms: MilestoneState) -> pd.DataFrame:
    """The stored state (entities and the long view), without the entity keys (any numbering will do)."""
    store.settle()
    wide = store.table("aha_entities").execute().drop(columns=["entity_key"])
    long = ms.state.execute().drop(columns=["entity_key"])
    return pd.concat([wide.sort_values(["entity_type", "entity_id"]).reset_index(drop=True).astype(str),
                      long.sort_values(["entity_type", "entity_id", "milestone_id"]).reset_index(drop=True)
                      .astype(str)], axis=1)


def _both(first: Batch, second: Batch, definitions: Definitions, as_of: tuple[datetime | None, str],
          in_transaction: bool = False) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Build after the first batch, append the second and build again (incrementally where the rules allow); a
    second store takes both batches at once and builds from scratch. Their states must be equal. Returns the
    refreshed state: (entity id, milestone) → (t0, reach time, progress, status)."""
    with tempfile.TemporaryDirectory() as tmp:
        grown, whole = open_store(Path(tmp) / "grown.duckdb"), open_store(Path(tmp) / "whole.duckdb")
        try:
            first.write(grown)
            before = as_of[0] or _latest(grown)
            saw_every_call = _latest(grown) <= before
            build(grown, definitions, before)
            second.write(grown)
            after = {"default": _latest(grown), "same": before, "later": before + timedelta(days=1)}[as_of[1]]
            after = max(after, before)  # as_of moved back is a full rebuild by rule: not what is tested here
            if in_transaction:  # as the server reads: the update runs in the caller's transaction
                with grown.transaction():
                    refreshed = build(grown, definitions, after)
            else:
                refreshed = build(grown, definitions, after)
            changed = any((second.rows, second.links, second.members, second.traits)) or after != before
            assert refreshed.refreshed == (changed and (after == before or saw_every_call))  # SEMANTICS.md's rules
            first.write(whole)
            second.write(whole)
            full = build(whole, definitions, after)
            assert full.rebuilt
            pd.testing.assert_frame_equal(_entities(grown, refreshed), _entities(whole, full))
            assert refreshed.users_without_signup == full.users_without_signup
            long = refreshed.state.execute()
            return {(r.entity_id, r.milestone_id): (str(r.t0), None if pd.isna(r.reach_time) else str(r.reach_time),
                                                    r.progress, r.status) for r in long.itertuples()}
        finally:
            grown.close()
            whole.close()


@pytest.fixture(autouse=True)
def every_update_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    """The share of new events above which a full rebuild is cheaper, off: small logs double in one batch."""
    monkeypatch.setattr(incremental, "LARGEST_SHARE", float("inf"))


@pytest.mark.parametrize("definitions", [pytest.param(ACCOUNTS, id="accounts_scope_all_of"),
                                         pytest.param(FIRST_SEEN, id="first_seen")])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=batches(), explicit=st.integers(0, 6 * 48))
def test_incremental_equals_full_rebuild(definitions: Definitions, drawn: tuple[Batch, Batch, str, str],
                                         explicit: int) -> None:
    first, second, before, after = drawn
    _both(first, second, definitions, (BASE + timedelta(minutes=30 * explicit) if before == "time" else None, after))


# --- identity links and memberships arriving late (hand-counted) ------------------------------------------------

LATE = parse("""
version: 1
signup: {event: Signed Up}
milestones:
  - {id: w2, level: primary, event: W, count: 2, within: 1d}
  - {id: team, event: M, count: 2, within: 2d, entity: account}
""")


def _ev(user: str | None, name: str, minutes: int, n: int, anonymous: str | None = None,
        account: str | None = None) -> tuple[Any, ...]:
    extra = {"message_id": f"h{n:03d}", "anonymous_id": anonymous, "account_id": account}
    return (user, name, _iso(minutes), {}, {k: v for k, v in extra.items() if v})


@pytest.mark.parametrize("in_transaction", [False, True], ids=["command", "server_read"])
def test_a_late_identify_moves_anonymous_events_to_the_user(in_transaction: bool) -> None:
    """u1 signed up at 0:00 and did one W; anon1 did a W at 0:10 (and a message in acc1) before anyone knew who it
    was. The identify anon1 → u1 arrives later: u1 reaches w2 at 0:10, and acc1 (u1 a member) counts the message."""
    first = Batch([_ev("u1", "Signed Up", 0, 1), _ev("u1", "W", 5, 2, account="acc1"), _ev("u1", "M", 6, 3,
                                                                                            account="acc1"),
                   _ev(None, "W", 10, 4, anonymous="anon1"), _ev(None, "M", 12, 5, "anon1", "acc1")], [], [], {})
    second = Batch([], [("anon1", "u1", _iso(60))], [], {})
    state = _both(first, second, LATE, (None, "default"), in_transaction)
    assert state[("u1", "w2")][1:] == ("2026-01-05 00:10:00", 2.0, "reached")
    assert state[("acc1", "team")][1:] == ("2026-01-05 00:12:00", 2.0, "reached")


def test_a_late_alias_merges_an_old_user_into_the_new_one() -> None:
    """u_old signed up at 0:00 with one W; u_new signed up at 2:00 with one W at 3:00. alias(u_old → u_new) arrives
    later: u_old is no longer a user of its own, and u_new's t0 is u_old's signup, with both W counted."""
    first = Batch([_ev("u_old", "Signed Up", 0, 1), _ev("u_old", "W", 30, 2), _ev("u_new", "Signed Up", 120, 3),
                   _ev("u_new", "W", 180, 4)], [], [], {})
    second = Batch([_ev("u_new", "X", 240, 5)], [("u_old", "u_new", _iso(200))], [], {})
    state = _both(first, second, LATE, (None, "default"))
    assert not any(key[0] == "u_old" for key in state)
    assert state[("u_new", "w2")] == ("2026-01-05 00:00:00", "2026-01-05 03:00:00", 2.0, "reached")


def test_an_earlier_link_arriving_late_wins_and_moves_history_between_users() -> None:
    """anon1 was linked to u1 at 1:00; a link anon1 → u2 stamped 0:30 arrives later: the earliest link wins, so
    anon1's two W move from u1 (who no longer reaches w2) to u2 (who does)."""
    first = Batch([_ev("u1", "Signed Up", 0, 1), _ev("u2", "Signed Up", 0, 2),
                   _ev(None, "W", 10, 3, anonymous="anon1"), _ev(None, "W", 20, 4, anonymous="anon1")],
                  [("anon1", "u1", _iso(60))], [], {})
    second = Batch([], [("anon1", "u2", _iso(30))], [], {})
    state = _both(first, second, LATE, (None, "same"))
    assert state[("u1", "w2")][2:] == (0.0, "in_progress")
    assert state[("u2", "w2")][1:] == ("2026-01-05 00:20:00", 2.0, "reached")


def test_a_late_group_call_makes_an_account_and_credits_its_events() -> None:
    """u1 (signed up 0:00) sent two M without an account id; the group call u1 → acc9 arrives later: acc9 exists
    from u1's t0, and both messages count for it (a user's events go to their first group's account)."""
    first = Batch([_ev("u1", "Signed Up", 0, 1), _ev("u1", "M", 10, 2), _ev("u1", "M", 20, 3)], [], [], {})
    second = Batch([], [], [("u1", "acc9", _iso(30))], {})
    state = _both(first, second, LATE, (None, "default"))
    assert state[("acc9", "team")] == ("2026-01-05 00:00:00", "2026-01-05 00:20:00", 2.0, "reached")


def test_a_late_earlier_signup_of_a_member_moves_the_account_t0() -> None:
    """acc1's t0 is u1's signup at 2:00; u2, a member since the first batch, had no signup. u2's Signed Up stamped
    1:00 arrives late: acc1 now starts at 1:00, and its M at 1:30 (before the old t0) counts: reached at 2:30."""
    first = Batch([_ev("u1", "Signed Up", 120, 1, account="acc1"), _ev("u2", "M", 90, 2, account="acc1"),
                   _ev("u1", "M", 150, 3, account="acc1")], [], [], {})
    second = Batch([_ev("u2", "Signed Up", 60, 4, account="acc1")], [], [], {})
    state = _both(first, second, LATE, (None, "default"))
    assert state[("acc1", "team")] == ("2026-01-05 01:00:00", "2026-01-05 02:30:00", 2.0, "reached")


def test_a_member_signing_up_after_the_account_t0_leaves_the_account_untouched() -> None:
    """A new member of acc1 who signs up after acc1's t0 changes neither its t0 nor its events: only the user is
    recomputed (every member's events are read for a recomputed account), and the state equals a full rebuild."""
    first = Batch([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev("u1", "M", 10, 2, account="acc1")], [], [], {})
    second = Batch([_ev("u2", "Signed Up", 60, 3, account="acc1")], [], [], {})
    refreshed, _ = _second_state(first, second)
    assert refreshed.refreshed
    assert refreshed.touched == {("user", "u2")}
    assert _both(first, second, LATE, (None, "default"))[("acc1", "team")][:3] == ("2026-01-05 00:00:00", None, 1.0)


@pytest.mark.parametrize("in_transaction", [False, True], ids=["command", "server_read"])
def test_a_history_below_the_floor_is_built_whole_with_the_same_answer(monkeypatch: pytest.MonkeyPatch,
                                                                        in_transaction: bool) -> None:
    """Three stored events, the floor (AHA_INCREMENTAL_FROM) at four: the new events are not refreshed in but the
    state built whole (cheaper for a small history), with the answer a refresh gives (floor 0) and a full build of
    both batches gives: u1 reaches w2 at its second W (0:10), u2 signs up at 0:20 (in progress). Inside a
    transaction (the server's reads) the refresh is kept: there a full build writes into the file."""
    first = Batch([_ev("u1", "Signed Up", 0, 1), _ev("u1", "W", 5, 2), _ev("u3", "W", 7, 3)], [], [], {})
    second = Batch([_ev("u1", "W", 10, 4), _ev("u2", "Signed Up", 20, 5)], [], [], {})
    answers = {}
    for floor in ("4", "0"):
        monkeypatch.setenv(incremental.SMALLEST_HISTORY_ENV, floor)
        ms, answers[floor] = _second_state(first, second, in_transaction)
        assert ms.refreshed == (floor == "0" or in_transaction)
        assert ms.rebuilt == (floor == "4" and not in_transaction)
    pd.testing.assert_frame_equal(answers["4"], answers["0"])
    state = _both(first, second, LATE, (None, "default"))
    assert state[("u1", "w2")][1:] == ("2026-01-05 00:10:00", 2.0, "reached")
    assert state[("u2", "w2")] == ("2026-01-05 00:20:00", None, 0.0, "in_progress")


def test_a_transaction_begun_while_the_state_is_still_being_written_waits_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first build's state is written to the file in the background; a server read (a transaction) begun before
    that write ended failed on the next refresh with "Catalog write-write conflict on create ... aha_entities" (seen
    in loaded folder runs). Here the background write is held back half a second, so the transaction always begins
    during it: it waits, and the refreshed state equals a full build of both batches."""
    import time

    original = Store.background

    def held_back(self: Store, work: Any, *args: Any, **kwargs: Any) -> Any:
        def later(handle: Store, *a: Any, **k: Any) -> Any:
            time.sleep(0.5)
            return work(handle, *a, **k)
        return original(self, later, *args, **kwargs)

    monkeypatch.setattr(Store, "background", held_back)
    first = Batch([_ev("u1", "Signed Up", 0, 1), _ev("u1", "W", 5, 2), _ev("u3", "W", 7, 3)], [], [], {})
    second = Batch([_ev("u1", "W", 10, 4), _ev("u2", "Signed Up", 20, 5)], [], [], {})
    ms, _ = _second_state(first, second, in_transaction=True)
    assert ms.refreshed
    state = _both(first, second, LATE, (None, "default"))
    assert state[("u1", "w2")][1:] == ("2026-01-05 00:10:00", 2.0, "reached")


def test_the_floor_of_a_refresh_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """AHA_INCREMENTAL_FROM sets the floor; unset or not a number, the measured default."""
    monkeypatch.setenv(incremental.SMALLEST_HISTORY_ENV, "12")
    assert incremental.smallest_history() == 12
    for text in ("", "many"):
        monkeypatch.setenv(incremental.SMALLEST_HISTORY_ENV, text)
        assert incremental.smallest_history() == incremental.SMALLEST_HISTORY == 750_000


def _second_state(first: Batch, second: Batch, in_transaction: bool = False) -> tuple[MilestoneState, pd.DataFrame]:
    """LATE's state after the first batch, then after the second (refreshed where the rules allow), and its rows."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "grown.duckdb")
        try:
            first.write(store)
            build(store, LATE, _latest(store))
            second.write(store)
            if in_transaction:
                with store.transaction():
                    ms = build(store, LATE, _latest(store))
                    return ms, _entities(store, ms)
            ms = build(store, LATE, _latest(store))
            return ms, _entities(store, ms)
        finally:
            store.close()
