"""`signup: {first_seen: ...}` (SEMANTICS.md, "Time and people"): t0 from a user's first (qualifying) event, for logs
without a signup event; those events still count as milestones, candidates and activity. Hand-counted journeys."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aha.analyses import checks, funnel
from aha.definitions import parse
from aha.definitions.errors import DefinitionError
from aha.project import Project
from aha.store import Store, open_store
from tests.journeys import write_events
from tests.serving import aha

SHOP = """
version: 1
signup: {first_seen: true}
paid: {event: Pay, within: 2d}
retention: {day: 1}
milestones:
  - {id: viewed, level: primary, event: Page Viewed, within: 1h}
  - {id: carted, event: Add To Cart, within: 1d}
"""

ROWS = [
    ("u1", "Page Viewed", "2026-01-01T10:00:00"),  # u1's first event: t0 10:00, and it reaches `viewed` at once
    ("u1", "Add To Cart", "2026-01-01T10:05:00"),
    ("u1", "Pay", "2026-01-01T11:00:00"),
    ("u1", "Page Viewed", "2026-01-02T10:30:00"),  # in u1's Day-1 bracket [Jan 2 10:00, Jan 3 10:00): retained
    ("u2", "Add To Cart", "2026-01-01T09:00:00"),  # u2's first event: t0 09:00
    ("u2", "Page Viewed", "2026-01-01T09:30:00"),
    ("u3", "Add To Cart", "2026-01-01T12:00:00"),  # only carts
    ("u4", "Pay", "2026-01-05T00:00:00"),  # u4 first seen paying; the latest event: as_of
]


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "aha.duckdb")
    write_events(s, ROWS)
    return s


def _state(project: Project) -> dict[tuple[str, str], tuple[datetime, str]]:
    frame = project.state().state.execute()
    return {(r.entity_id, r.milestone_id): (r.t0.to_pydatetime(), r.status) for r in frame.itertuples()}


def test_first_seen_is_each_users_first_event_which_still_counts(store: Store) -> None:
    project = Project(store, parse(SHOP))
    d = datetime(2026, 1, 1)
    t1, t2, t3, t4 = d.replace(hour=10), d.replace(hour=9), d.replace(hour=12), datetime(2026, 1, 5)
    assert _state(project) == {
        ("u1", "viewed"): (t1, "reached"), ("u1", "carted"): (t1, "reached"), ("u1", "_paid"): (t1, "reached"),
        ("u2", "viewed"): (t2, "reached"), ("u2", "carted"): (t2, "reached"), ("u2", "_paid"): (t2, "missed"),
        ("u3", "viewed"): (t3, "missed"), ("u3", "carted"): (t3, "reached"), ("u3", "_paid"): (t3, "missed"),
        ("u4", "viewed"): (t4, "in_progress"), ("u4", "carted"): (t4, "in_progress"), ("u4", "_paid"): (t4, "reached"),
    }
    assert project.state().users_without_signup == 0
    steps = funnel.run(store, project.state(), include_immature=True).groups[0].steps
    # viewed: u1, u2 (u4's hour is open: counted at the first step only); carted after viewing: u1 (u2 carted
    # first); paid after: u1. The first step is "First seen": nobody signed up.
    assert [(s.name, s.entities) for s in steps] == [("First seen", 4), ("viewed", 2), ("carted", 1), ("Paid", 1)]


def test_first_seen_events_stay_candidates_and_activity(store: Store) -> None:
    """Nothing is a signup event: discovery leaves out only the paid event, and u1's Page Viewed on day 1 retains
    it (with `signup: {event: Page Viewed}` it would not count as activity)."""
    project = Project(store, parse(SHOP))
    found = project.discover(outcome="retention", landmark=False)
    assert found.excluded_events == ("Pay",)
    evaluated = project.evaluate(outcomes=("retention",))
    row = next(r for r in evaluated.rows() if r["milestone"] == "viewed")
    # Eligible: u1, u2, u3 (bracket closed by Jan 5); retained: u1 only, who reached `viewed`; u2 reached it too.
    assert (row["a"], row["b"], row["c"], row["d"]) == (1, 1, 0, 1)


def test_first_seen_of_some_events(store: Store) -> None:
    """`first_seen: {events: [Page Viewed]}`: t0 is the first page view; u3 never viewed one and is in no cohort,
    u4 neither."""
    project = Project(store, parse(SHOP.replace("{first_seen: true}", "{first_seen: {events: [Page Viewed]}}")))
    t0s = {user: t0 for (user, _), (t0, _) in _state(project).items()}
    assert t0s == {"u1": datetime(2026, 1, 1, 10), "u2": datetime(2026, 1, 1, 9, 30)}
    assert project.state().users_without_signup == 2


@pytest.mark.parametrize("signup, message", [
    ("{}", "give exactly one of `event`"),
    ("{event: Signed Up, first_seen: true}", "give exactly one of `event`"),
    ("{first_seen: false}", "`first_seen: false` means nothing"),
    ("{first_seen: {events: []}}", "at least 1 item"),
])
def test_signup_takes_one_rule(signup: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse(SHOP.replace("{first_seen: true}", signup))


def test_validate_warns_when_the_signup_event_covers_few_users(store: Store) -> None:
    """With `signup: {event: Pay}`, u1 and u4 have a signup: 2 of 4 users (50%) is enough; once u5 is seen too
    (a page view), 2 of 5 (40%) is not, and the warning names the share and `first_seen`."""
    paid_signup = parse(SHOP.replace("{first_seen: true}", "{event: Pay}"))
    assert not [f for f in checks.run(paid_signup, "aha.yaml", store).findings if f.path == "signup.event"]
    write_events(store, [("u5", "Page Viewed", "2026-01-03T00:00:00", {}, {"message_id": "u5-1"})])
    (finding,) = [f for f in checks.run(paid_signup, "aha.yaml", store).findings if f.path == "signup.event"]
    assert finding.level == "warning"
    assert "only 2 of the 5 users seen (40%) have a 'Pay' event" in finding.message
    assert "first_seen: true" in finding.message
    assert not [f for f in checks.run(parse(SHOP), "aha.yaml", store).findings if f.level == "warning"]


def test_validate_command_prints_the_warning(store: Store, tmp_path: Path) -> None:
    """The real console script: `aha validate --db` shows the share and the way out."""
    write_events(store, [("u5", "Page Viewed", "2026-01-03T00:00:00", {}, {"message_id": "u5-1"})])
    store.close()
    config = tmp_path / "aha.yaml"
    config.write_text(SHOP.replace("{first_seen: true}", "{event: Pay}"))
    out = aha("validate", str(config), "--db", str(tmp_path / "aha.duckdb"), cwd=tmp_path)
    assert "only 2 of the 5 users seen (40%)" in " ".join(out.stdout.split()), out.stdout + out.stderr
    assert "first_seen" in out.stdout
