"""One entity's checklist (docs/semantics.md, "Checklist"), hand-counted, and the same through `aha state`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.guidance.checklist import UnknownEntity
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_memberships, write_traits
from tests.serving import aha

DEFINITIONS = """
signup: {event: Signed Up}
paid: {event: Paid, within: 7d}
funnel: [created, exported, rows]
milestones:
  - {id: created, event: Created, within: 1d, level: primary, guidance: Create your first project}
  - {id: exported, event: Exported, count: 3, within: 3d, guidance: Export three reports}
  - {id: rows, event: Imported, sum: {property: rows, at_least: 50}, within: 3d}
  - {id: both, all_of: [created, exported], within: 3d, level: expansion}
  - {id: pro_only, event: Invited, within: 3d, scope: {plan: pro}}
  - {id: team, entity: account, event: Messaged, count: 2, within: 7d}
"""
AS_OF = "2026-01-02T12:00"  # the 1-day windows of Jan 1 signups have closed, the 3-day ones are open
D = "2026-01-01T"
JOURNEYS = [
    ("a", "Signed Up", D + "00:00"), ("a", "Created", D + "01:00"), ("a", "Exported", D + "02:00"),
    ("a", "Exported", D + "03:00"), ("a", "Imported", D + "04:00", {"rows": 40}),
    ("a", "Messaged", D + "05:00", {}, {"account_id": "acct1"}),
    ("b", "Signed Up", D + "00:00"), ("b", "Messaged", D + "06:00", {}, {"account_id": "acct1"}),
    ("c", "Signed Up", D + "00:00"), ("c", "Created", D + "00:30"),
    *[("c", "Exported", D + f"0{h}:00") for h in (1, 2, 3)],
    ("c", "Imported", D + "04:00", {"rows": 30}), ("c", "Imported", D + "05:00", {"rows": "25"}),
    ("c", "Paid", "2026-01-02T10:00"),
    ("z", "Created", D + "01:00"),  # no signup event: in no cohort, no checklist
]
TRAITS = {"a": {"plan": "pro"}, "b": {"plan": "free"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("checklist") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    write_memberships(store, [("a", "acct1", D + "05:00"), ("b", "acct1", D + "06:00")])
    return Project(store, parse(DEFINITIONS))


def items(result):
    return {i.id: (i.status, i.progress, i.threshold) for i in result.items}


def test_a_user_half_way(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = project.user_state("a", as_of=AS_OF)
    assert [i.id for i in a.items] == ["created", "exported", "rows", "both", "pro_only"]  # funnel first
    assert items(a) == {"created": ("reached", 1, 1), "exported": ("in_progress", 2, 3),
                        "rows": ("in_progress", 40, 50), "both": ("in_progress", 1, 2),
                        "pro_only": ("in_progress", 0, 1)}
    assert a.next_milestone == "exported" and a.activated is True and a.paid_at is None
    # (3·1 + 2·2/3 + 2·40/50 + 1·1/2 + 2·0) / (3 + 2 + 2 + 1 + 2) = 6.4333 / 10
    assert a.score == 64.3
    exported = a.items[1]
    assert exported.guidance == "Export three reports" and exported.deadline.isoformat() == "2026-01-04T00:00:00"


def test_a_user_who_missed_the_primary(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = project.user_state("b", as_of=AS_OF)
    assert items(b)["created"] == ("missed", 0, 1) and items(b)["pro_only"][0] == "not_applicable"
    assert b.next_milestone == "exported"  # the missed primary is never pushed: its window is over
    assert b.activated is False and b.score == 0.0


def test_a_user_with_everything(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = project.user_state("c", as_of=AS_OF)
    assert items(c)["rows"] == ("reached", 55, 50) and items(c)["both"] == ("reached", 2, 2)
    assert c.next_milestone is None and c.score == 100.0 and c.paid_at.isoformat() == "2026-01-02T10:00:00"


def test_an_account(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acct = project.account_state("acct1", as_of=AS_OF)
    assert items(acct) == {"team": ("reached", 2, 2)} and acct.activated is None
    assert acct.items[0].reached_at.isoformat() == "2026-01-01T06:00:00"


@pytest.mark.parametrize("who", ["z", "nobody", "acct1"])
def test_unknown_users_are_an_error_not_an_empty_checklist(project, who):
    with pytest.raises(UnknownEntity, match="no signed-up user"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project.user_state(who, as_of=AS_OF)


def test_aha_state_prints_the_checklist(tmp_path: Path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    store.close()
    (tmp_path / "aha.yaml").write_text(DEFINITIONS)
    done = aha("state", "a", "--as-of", AS_OF, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "score 64.3/100" in done.stdout and "2 of 3 events" in done.stdout and "next: exported" in done.stdout
    as_json = aha("state", "c", "--as-of", AS_OF, "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["score"] == 100.0
    missing = aha("state", "nobody", cwd=tmp_path)
    assert missing.returncode == 2 and "no signed-up user 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
