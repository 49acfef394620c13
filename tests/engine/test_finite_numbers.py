"""A property is read as a number only when it is a finite one (engine/matchers.number; docs/ingest.md "Values").

Text that spells NaN, Infinity or 1e400 is data on every path, and a cast reads it as such; a store written before
aha refused non-finite numbers (or Parquet read in place) can hold NaN itself. Before: one such value made a user's
`sum` NaN (never reached) or infinite (reached at once), and a numeric filter matched "1e400". Each user is counted
by hand below."""

from __future__ import annotations

import warnings

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

DEFINITIONS = """
signup: {event: Signed Up}
milestones:
  - {id: spent, event: Bought, within: 1d, level: primary, sum: {property: amount, at_least: 10}}
  - {id: big, event: Bought, within: 1d, where: {amount: {gte: 100}}}
"""
D = "2026-01-01T"
JOURNEYS = [
    ("u1", "Signed Up", D + "00:00"),  # 6 + 5 = 11 (the text "NaN" is no number): reached
    ("u1", "Bought", D + "01:00", {"amount": 6}), ("u1", "Bought", D + "02:00", {"amount": "NaN"}),
    ("u1", "Bought", D + "03:00", {"amount": "5"}),
    ("u2", "Signed Up", D + "00:00"),  # 4 (the text "Infinity" is no number): not reached, not big
    ("u2", "Bought", D + "01:00", {"amount": 4}), ("u2", "Bought", D + "02:00", {"amount": "Infinity"}),
    ("u3", "Signed Up", D + "00:00"),  # 3 + 8 = 11, the NaN stored as a JSON number skipped: reached
    ("u3", "Bought", D + "01:00", {"amount": 3}), ("u3", "Bought", D + "02:00", {"amount": float("nan")}),
    ("u3", "Bought", D + "03:00", {"amount": 8}),
    ("u4", "Signed Up", D + "00:00"),  # "1e400" and -Infinity are no numbers; 150 is big
    ("u4", "Bought", D + "01:00", {"amount": "1e400"}), ("u4", "Bought", D + "02:00", {"amount": float("-inf")}),
    ("u5", "Signed Up", D + "00:00"),
    ("u5", "Bought", D + "01:00", {"amount": 150}),
]
EXPECTED = {"spent": {"u1", "u3", "u5"}, "big": {"u5"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    store = open_store(tmp_path_factory.mktemp("finite") / "aha.duckdb")
    write_events(store, JOURNEYS)  # json.dumps writes NaN and -Infinity as the old importer stored them
    return Project(store, parse(DEFINITIONS))


def test_sums_and_filters_read_only_finite_numbers(project: Project) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = project.state(as_of="2026-01-03").to_frame()
    reached = frame[frame.status == "reached"]
    assert {m: set(reached[reached.milestone_id == m].entity_id) for m in EXPECTED} == EXPECTED
