"""Accounts counted on from their stored counts (aha.analyses.incremental.count_on): when an account's only new
events carry its id and a user id and are later than every call the stored state had seen, its count milestones are
continued from the stored progress instead of recomputed from every member's events. Each case is hand-counted,
checks which way the account went, and equals a full rebuild (`_both`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aha.analyses import incremental
from tests.engine.test_counted_users import recording
from tests.engine.test_incremental import ACCOUNTS, LATE, Batch, _both, _ev
from tests.engine.test_incremental import every_update_incremental as every_update_incremental  # autouse

H = 60  # minutes
# LATE: team = M credited to the account, count 2, within 2 days of the account's t0 (its earliest member's signup)
CASES = {
    # M at 0:10 stored (progress 1); two more at 1:40 and 1:50: the second M overall is the first new one
    "continues": ([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev("u1", "M", 10, 2, account="acc1")],
                  [], [_ev("u1", "M", 100, 3, account="acc1"), _ev("u1", "M", 110, 4, account="acc1")],
                  ("2026-01-05 01:40:00", 3.0, "reached"), {"acc1"}),
    # reached at 0:20 already; later messages add to the progress only
    "reached_stays": ([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev("u1", "M", 10, 2, account="acc1"),
                       _ev("u1", "M", 20, 3, account="acc1")],
                      [], [_ev("u1", "M", 30, 4, account="acc1"), _ev("u1", "M", 40, 5, account="acc1")],
                      ("2026-01-05 00:20:00", 4.0, "reached"), {"acc1"}),
    # a late M stamped 0:50, earlier than the stored reach at 1:50 (and than the latest call): recomputed, 1:40
    "late_before_reach": ([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev("u1", "M", 100, 2, account="acc1"),
                           _ev("u1", "M", 110, 3, account="acc1")],
                          [], [_ev("u1", "M", 50, 4, account="acc1"), _ev("u1", "M", 200, 5, account="acc1")],
                          ("2026-01-05 01:40:00", 4.0, "reached"), set()),
    # the window (2 days) closes between the two new messages: only the first counts, reached at 33:20
    "window_closes": ([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev("u1", "M", 10, 2, account="acc1")],
                      [], [_ev("u1", "M", 2000, 3, account="acc1"), _ev("u1", "M", 48 * H + 10, 4, account="acc1")],
                      ("2026-01-06 09:20:00", 2.0, "reached"), {"acc1"}),
    # u2's signup stamped 5:00 arrives late: acc1's t0 moves from 10:00 to 5:00; recomputed, both M count
    "moved_t0": ([_ev("u1", "Signed Up", 600, 1, account="acc1"), _ev("u1", "M", 610, 2, account="acc1")],
                 [], [_ev("u2", "Signed Up", 300, 3, account="acc1"), _ev("u2", "M", 700, 4, account="acc1")],
                 ("2026-01-05 11:40:00", 2.0, "reached"), set()),
    # a message u1 sent without the account id (credited through the group call): recomputed
    "credited_by_group": ([_ev("u1", "Signed Up", 0, 1), _ev("u1", "M", 10, 2, account="acc1")],
                          [("u1", "acc1", "2026-01-05T00:01:00")], [_ev("u1", "M", 30, 3)],
                          ("2026-01-05 00:30:00", 2.0, "reached"), set()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_account_counted_on_equals_a_full_rebuild(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first_rows, members, second_rows, expected, counted_on = CASES[case]
    seen = recording(monkeypatch, incremental, incremental.COUNTED_ACCOUNTS)
    state = _both(Batch(first_rows, [], members, {}), Batch(second_rows, [], [], {}), LATE, (None, "default"))
    assert state[("acc1", "team")][1:] == expected
    assert seen == [counted_on]


def test_a_merge_of_identities_recomputes_every_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """anon1 sent an M in acc1 at 0:20 before anyone knew it was u1; the identify arrives with a direct M at 0:40:
    a moved link may move any event, so no account is counted on. acc1 counts both: reached at 0:40."""
    seen: list[int] = []
    count_on = incremental.count_on

    def recording(con: Any, *args: Any) -> None:
        seen.append(con.execute(f"SELECT count(*) FROM temp.{incremental.COUNTED_ACCOUNTS}").fetchall()[0][0])
        count_on(con, *args)

    monkeypatch.setattr(incremental, "count_on", recording)
    first = Batch([_ev("u1", "Signed Up", 0, 1, account="acc1"), _ev(None, "M", 20, 2, "anon1", "acc1")], [], [], {})
    second = Batch([_ev("u1", "M", 40, 3, account="acc1")], [("anon1", "u1", "2026-01-05T00:30:00")], [], {})
    state = _both(first, second, LATE, (None, "default"))
    assert state[("acc1", "team")][1:] == ("2026-01-05 00:40:00", 2.0, "reached")
    assert seen == [0]


@st.composite
def appended(draw: st.DrawFn) -> tuple[Batch, Batch]:
    """1–4 users signing up in the first 2 hours, each in acc0 or acc1, with A and B calls over the first 10 hours;
    then calls stamped after every one of those, 30 minutes apart: B and A by a user with or without an account id,
    some anonymous, so that some accounts are counted on and others recomputed."""
    users = [f"u{i}" for i in range(draw(st.integers(1, 4)))]
    rows: list[tuple[Any, ...]] = []
    for user in users:
        rows.append(_ev(user, "Signed Up", draw(st.integers(0, 4)) * 30, len(rows), account=draw(ACCOUNT_IDS)))
    for _ in range(draw(st.integers(0, 8))):
        rows.append(_ev(draw(st.sampled_from(users)), draw(st.sampled_from("AB")), draw(st.integers(0, 20)) * 30,
                        len(rows), account=draw(st.sampled_from([None, "acc0", "acc1"]))))
    later = []
    for k in range(draw(st.integers(1, 8))):
        anonymous = draw(st.integers(0, 5)) == 0
        later.append(_ev(None if anonymous else draw(st.sampled_from(users)), draw(st.sampled_from("ABB")),
                         21 * 30 + 30 * k, len(rows) + k, anonymous="anon0" if anonymous else None,
                         account=draw(st.sampled_from([None, "acc0", "acc1", "acc1"]))))
    return Batch(rows, [], [], {}), Batch(later, [], [], {})


ACCOUNT_IDS = st.sampled_from(["acc0", "acc1"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=appended())
def test_later_random_calls_counted_on_equal_a_full_rebuild(drawn: tuple[Batch, Batch]) -> None:
    """Random appends after every stored call (`appended`), under ACCOUNTS (team_b: B by the account, 3 within 3
    days): the counted-on and recomputed accounts together equal a full rebuild."""
    _both(*drawn, ACCOUNTS, (None, "default"))
