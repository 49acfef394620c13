"""Users counted on from their stored progress (aha.analyses.counted_users): a touched user whose every new event is
later than every call the stored state had seen continues their stored counts, sums, `where` filters, windows and
`all_of` composites from the new events alone; anyone else (a late event, a moved identity link, a new signup, a
`distinct` milestone's event) is recomputed. Each case is hand-counted, checks which way each user went, and equals
a full rebuild (`_both`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aha.analyses import counted_users
from aha.analyses.state import build
from aha.definitions import parse
from aha.store import open_store
from tests.engine.test_incremental import LATE, Batch, _both, _iso, _latest
from tests.engine.test_incremental import every_update_incremental as every_update_incremental  # autouse

USERS_ON = parse("""
version: 1
signup: {event: Signed Up}
paid: {event: Pay, within: 2d}
milestones:
  - {id: a_twice, level: primary, event: A, count: 2, within: 1d}
  - {id: big_b, event: B, where: {size: {gte: 10}}, within: 1d}
  - {id: rows, event: D, sum: {property: n, at_least: 5}, within: 2d}
  - {id: kinds, event: K, distinct: {property: k, at_least: 2}, within: 2d}
  - {id: both, all_of: [a_twice, big_b], within: 1d}
  - {id: admin_c, event: C, scope: {persona: admin}, within: 2d}
""")


def _ev(user: str | None, name: str, minutes: int, seq: int, anonymous: str | None = None,
        **props: Any) -> tuple[Any, ...]:
    extra = {"message_id": f"c{seq:03d}", "anonymous_id": anonymous}
    return (user, name, _iso(minutes), props, {k: v for k, v in extra.items() if v})


SU = "Signed Up"
# (first batch, its traits, second batch, its links, {(user, milestone): (reach, progress, status)}, counted on)
CASES: dict[str, tuple[Any, ...]] = {
    # A at 0:10 stored (progress 1); two more at 1:40 and 1:50: the second A overall is the first new one
    "continues": ([_ev("u1", SU, 0, 1), _ev("u1", "A", 10, 2)], {},
                  [_ev("u1", "A", 100, 3), _ev("u1", "A", 110, 4)], [],
                  {("u1", "a_twice"): ("2026-01-05 01:40:00", 3.0, "reached"),
                   ("u1", "both"): (None, 1.0, "in_progress")}, {"u1"}),
    # reached at 0:20 already: a later A adds to the progress only
    "reached_stays": ([_ev("u1", SU, 0, 1), _ev("u1", "A", 10, 2), _ev("u1", "A", 20, 3)], {},
                      [_ev("u1", "A", 30, 4)], [],
                      {("u1", "a_twice"): ("2026-01-05 00:20:00", 3.0, "reached")}, {"u1"}),
    # `where: size >= 10`: the stored B (size 5) and the first new one (3) do not qualify; the one at 1:10 does
    "where": ([_ev("u1", SU, 0, 1), _ev("u1", "B", 10, 2, size=5)], {},
              [_ev("u1", "B", 60, 3, size=3), _ev("u1", "B", 70, 4, size=12)], [],
              {("u1", "big_b"): ("2026-01-05 01:10:00", 1.0, "reached")}, {"u1"}),
    # the 1-day window closes before both new A (24:10, 24:20): progress stays 1, missed
    "window_closes": ([_ev("u1", SU, 0, 1), _ev("u1", "A", 10, 2)], {},
                      [_ev("u1", "A", 1450, 3), _ev("u1", "A", 1460, 4)], [],
                      {("u1", "a_twice"): (None, 1.0, "missed")}, {"u1"}),
    # sum of n >= 5 within 2 days: 3 stored, then 1 at 0:30 (4) and 2 at 0:40 (6): reached at 0:40; the D at
    # 48:20 is after the window and adds nothing
    "sum": ([_ev("u1", SU, 0, 1), _ev("u1", "D", 10, 2, n=3)], {},
            [_ev("u1", "D", 30, 3, n=1), _ev("u1", "D", 40, 4, n=2), _ev("u1", "D", 2900, 5, n=9)], [],
            {("u1", "rows"): ("2026-01-05 00:40:00", 6.0, "reached")}, {"u1"}),
    # B (size 20) reached big_b at 0:10; the new A at 0:30 reaches a_twice, and with it `both` at 0:30
    "all_of": ([_ev("u1", SU, 0, 1), _ev("u1", "B", 10, 2, size=20), _ev("u1", "A", 20, 3)], {},
               [_ev("u1", "A", 30, 4)], [],
               {("u1", "both"): ("2026-01-05 00:30:00", 2.0, "reached")}, {"u1"}),
    # a late A stamped 0:50, before the latest stored call (1:40): u1 is recomputed, reached at 1:40 (A at 0:50, 1:40)
    "late": ([_ev("u1", SU, 0, 1), _ev("u1", "A", 100, 2)], {},
             [_ev("u1", "A", 50, 3), _ev("u1", "A", 200, 4)], [],
             {("u1", "a_twice"): ("2026-01-05 01:40:00", 3.0, "reached")}, set()),
    # anon1's A at 0:10 belonged to nobody; identify anon1 → u1 (stamped 0:30) arrives with u1's A at 0:40: the link
    # moved, so u1 is recomputed, and counts all three: reached at 0:20
    "identity_merge": ([_ev("u1", SU, 0, 1), _ev(None, "A", 10, 2, anonymous="anon1"), _ev("u1", "A", 20, 3)], {},
                       [_ev("u1", "A", 40, 4)], [("anon1", "u1", _iso(30))],
                       {("u1", "a_twice"): ("2026-01-05 00:20:00", 3.0, "reached")}, set()),
    # u2 did A at 0:10 and 0:20 without a signup (no entity); its Signed Up at 0:30 arrives with an A at 0:40: a new
    # user, recomputed from its t0 (0:30: the earlier A do not count). u1's new A beside it is counted on.
    "signup_after_events": ([_ev("u1", SU, 0, 1), _ev("u2", "A", 10, 2), _ev("u2", "A", 20, 3)], {},
                            [_ev("u2", SU, 30, 4), _ev("u2", "A", 40, 5), _ev("u1", "A", 50, 6)], [],
                            {("u2", "a_twice"): (None, 1.0, "in_progress"),
                             ("u1", "a_twice"): (None, 1.0, "in_progress")}, {"u1"}),
    # u1's Signed Up stamped 0:30 arrives after its first at 1:00: t0 moves back (a late event), recomputed; a_twice
    # counts the A at 0:40 and 1:10
    "signup_moves": ([_ev("u1", SU, 60, 1), _ev("u1", "A", 70, 2)], {},
                     [_ev("u1", SU, 30, 3), _ev("u1", "A", 40, 4)], [],
                     {("u1", "a_twice"): ("2026-01-05 01:10:00", 2.0, "reached")}, set()),
    # distinct k >= 2: u1's new K (k = y) needs the values seen (x, stored): recomputed, reached at 0:30; u2's new A
    # is counted on
    "distinct": ([_ev("u1", SU, 0, 1), _ev("u1", "K", 10, 2, k="x"), _ev("u2", SU, 0, 3)], {},
                 [_ev("u1", "K", 20, 4, k="x"), _ev("u1", "K", 30, 5, k="y"), _ev("u2", "A", 40, 6)], [],
                 {("u1", "kinds"): ("2026-01-05 00:30:00", 2.0, "reached"),
                  ("u2", "a_twice"): (None, 1.0, "in_progress")}, {"u2"}),
    # admin_c applies to admins only: u1 (admin) reaches it at 0:20; u2 (analyst) stays not applicable
    "scope": ([_ev("u1", SU, 0, 1), _ev("u2", SU, 0, 2)], {"u1": {"persona": "admin"}, "u2": {"persona": "analyst"}},
              [_ev("u1", "C", 20, 3), _ev("u2", "C", 30, 4)], [],
              {("u1", "admin_c"): ("2026-01-05 00:20:00", 1.0, "reached"),
               ("u2", "admin_c"): (None, 0.0, "not_applicable")}, {"u1", "u2"}),
}


def recording(monkeypatch: pytest.MonkeyPatch, module: Any = counted_users,
              table: str = counted_users.COUNTED_USERS) -> list[set[str]]:
    """The ids in `table` each time `module.count_on` runs (it then runs as it would)."""
    seen: list[set[str]] = []
    count_on = module.count_on

    def recorded(con: Any, *args: Any) -> None:
        seen.append({r[0] for r in con.execute(f"SELECT id FROM temp.{table}").fetchall()})
        count_on(con, *args)

    monkeypatch.setattr(module, "count_on", recorded)
    return seen


@pytest.mark.parametrize("case", list(CASES))
def test_a_user_counted_on_equals_a_full_rebuild(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first_rows, traits, second_rows, links, expected, counted_on = CASES[case]
    seen = recording(monkeypatch)
    state = _both(Batch(first_rows, [], [], traits), Batch(second_rows, links, [], {}), USERS_ON, (None, "default"))
    assert {key: state[key][1:] for key in expected} == expected
    assert seen == [counted_on]


def test_users_are_counted_on_without_a_distinct_milestone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Definitions with no `distinct` milestone (LATE: w2 = W twice within a day): u1's W at 0:10 is stored, the new
    one at 0:40 continues it, reached at 0:40 (before 2026-12-05 an empty list of distinct names counted on nobody)."""
    seen = recording(monkeypatch)
    state = _both(Batch([_ev("u1", SU, 0, 1), _ev("u1", "W", 10, 2)], [], [], {}),
                  Batch([_ev("u1", "W", 40, 3)], [], [], {}), LATE, (None, "default"))
    assert state[("u1", "w2")][1:] == ("2026-01-05 00:40:00", 2.0, "reached")
    assert seen == [{"u1"}]


def test_an_all_of_with_a_scoped_part_recomputes_every_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """`all_of` reads its parts' reach before their scope, which the stored state does not keep: nobody is counted
    on. u1 (no traits) reaches c_any at 0:20 and b_any at 0:10: `both` is reached at 0:20 though c_any is out of
    its scope (the engine's rule), progress 2."""
    definitions = parse("""
version: 1
signup: {event: Signed Up}
milestones:
  - {id: b_any, level: primary, event: B, within: 1d}
  - {id: c_any, event: C, scope: {persona: admin}, within: 1d}
  - {id: both, all_of: [b_any, c_any], within: 1d}
""")
    seen = recording(monkeypatch)
    state = _both(Batch([_ev("u1", SU, 0, 1), _ev("u1", "B", 10, 2)], [], [], {}),
                  Batch([_ev("u1", "C", 20, 3)], [], [], {}), definitions, (None, "default"))
    assert state[("u1", "both")][1:] == ("2026-01-05 00:20:00", 2.0, "reached")
    assert seen == [set()]


@st.composite
def appended(draw: st.DrawFn) -> tuple[Batch, Batch]:
    """1–4 users signing up in the first 2 hours (some with traits), with calls of every milestone's names over the
    first 10 hours, some anonymous; then calls stamped after every one of those, 10 hours apart (windows close
    between them): by stored users, by anonymous ids (linked or not), by a new user signing up, with an occasional
    late one and a new identify, so that some users are counted on and others recomputed."""
    users = [f"u{i}" for i in range(draw(st.integers(1, 4)))]
    names = st.sampled_from(["A", "A", "B", "C", "D", "K", "Pay", "X"])
    rows: list[tuple[Any, ...]] = []
    traits = {u: {"persona": draw(st.sampled_from(["admin", "analyst"]))} for u in users if draw(st.booleans())}

    def call(who: str | None, minutes: int) -> tuple[Any, ...]:
        anonymous = draw(st.sampled_from([None, None, "anon0", "anon1"])) if who else "anon0"
        return _ev(None if anonymous else who, draw(names), minutes, len(rows) + len(later), anonymous,
                   size=draw(st.sampled_from([5, 10, 20])), n=draw(st.integers(-2, 4)), k=draw(st.sampled_from("xy")))

    later: list[tuple[Any, ...]] = []
    for user in users:
        rows.append(_ev(user, SU, draw(st.integers(0, 4)) * 30, len(rows)))
    for _ in range(draw(st.integers(0, 8))):
        rows.append(call(draw(st.sampled_from(users)), draw(st.integers(0, 20)) * 30))
    links = [("anon1", users[0], _iso(5))]
    for k in range(draw(st.integers(1, 8))):
        later.append(call(draw(st.sampled_from([*users, "new"])), draw(st.sampled_from([21 * 30, 20 * 60])) + 600 * k))
    if draw(st.booleans()):
        later.append(_ev("new", SU, 21 * 30, len(rows) + len(later)))
    if draw(st.integers(0, 3)) == 0:
        later.append(call(draw(st.sampled_from(users)), draw(st.integers(0, 20)) * 30))  # late
    late_links = [("anon0", draw(st.sampled_from(users)), _iso(700))] if draw(st.integers(0, 3)) == 0 else []
    return Batch(rows, links, [], traits), Batch(later, late_links, [], {})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=appended())
def test_later_random_calls_counted_on_equal_a_full_rebuild(drawn: tuple[Batch, Batch]) -> None:
    """Random appends mostly after every stored call (`appended`), under USERS_ON: the counted-on and recomputed
    users together equal a full rebuild."""
    _both(*drawn, USERS_ON, (None, "default"))


def test_a_refresh_gives_new_entities_keys_of_their_own() -> None:
    """The recomputed rows are numbered past every stored key: u1 (key 0, the largest stored) and the new user u2
    kept one key each (they shared key 0 before 2026-12-05, and counting u1 on by key would have written u2's row)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "grown.duckdb")
        try:
            Batch([_ev("u1", SU, 0, 1)], [], [], {}).write(store)
            build(store, USERS_ON, _latest(store))
            Batch([_ev("u2", SU, 30, 2), _ev("u1", "A", 40, 3)], [], [], {}).write(store)
            assert build(store, USERS_ON, _latest(store)).refreshed
            store.settle()
            keys = store.raw.execute("SELECT entity_id, entity_key FROM aha_entities ORDER BY 1").fetchall()
            assert [k for _, k in keys] == [0, 1]
        finally:
            store.close()


def test_users_without_a_signup_are_counted_from_the_stored_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored: u1 signed up, u2 did an A without one (1 without a signup), anon1 is linked to u1. Then, all later:
    u3 appears without a signup (+1), u2 signs up (−1), u4 appears and signs up (0), anon1's first event is u1's
    (seen already: 0), anon9 (linked to nobody) is nobody's. 1 user without a signup (u3), counted from the stored 1
    and the 4 resolved users of the new events (one of them, u3, not seen before; u4 too, but signed up)."""
    found: list[int | None] = []
    first_seen = counted_users.first_seen

    def recorded(*args: Any) -> int | None:
        found.append(first_seen(*args))
        return found[-1]

    monkeypatch.setattr(counted_users, "first_seen", recorded)
    first = Batch([_ev("u1", SU, 0, 1), _ev("u2", "A", 10, 2)], [("anon1", "u1", _iso(5))], [], {})
    second = Batch([_ev("u3", "X", 20, 3), _ev("u2", SU, 30, 4), _ev("u4", SU, 40, 5),
                    _ev(None, "A", 50, 6, anonymous="anon1"), _ev(None, "A", 60, 7, anonymous="anon9")], [], [], {})
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "grown.duckdb")
        try:
            first.write(store)
            assert build(store, USERS_ON, _latest(store)).users_without_signup == 1
            second.write(store)
            assert build(store, USERS_ON, _latest(store)).users_without_signup == 1
        finally:
            store.close()
    assert found == [2]  # u3 and u4 were not seen before
    _both(first, second, USERS_ON, (None, "default"))  # and the whole state equals a full rebuild's
