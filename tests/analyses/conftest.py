"""A small hand-counted population shared by the funnel, timing and activation tests.

Definitions: m1 = A within 1d (primary), m2 = B within 2d, paid within 3d; funnel signup → m1 → m2 → paid.
as_of = 2026-01-10 00:00. Every user below signs up at 2026-01-01 00:00 unless noted.
"""

from __future__ import annotations

from datetime import datetime

import pytest

import aha
from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_traits

DEFINITIONS = parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 3d}
segments: [plan]
milestones:
  - {id: m1, event: A, within: 1d, level: primary}
  - {id: m2, event: B, within: 2d}
""")
AS_OF = datetime(2026, 1, 10)
D = "2026-01-01T"

JOURNEYS = [
    ("f1", "Signed Up", D + "00:00", {"plan": "free"}), ("f1", "A", D + "01:00"), ("f1", "B", D + "02:00"),
    ("f1", "Paid", "2026-01-02T00:00"),                                    # every step, in order
    ("f2", "Signed Up", D + "00:00"), ("f2", "B", D + "01:00"), ("f2", "A", D + "02:00"),  # B before A
    ("f3", "Signed Up", D + "00:00", {"plan": "free"}), ("f3", "A", D + "01:00"),         # stops after m1
    ("f4", "Signed Up", D + "00:00", {"plan": "free"}),                                   # signup only
    ("f5", "Signed Up", D + "00:00", {"plan": "free"}), ("f5", "A", D + "01:00"), ("f5", "Paid", D + "02:00"),
    ("f5", "B", D + "03:00"),                                              # paid before m2
    ("f6", "Signed Up", "2026-01-08T12:00", {"plan": "free"}),             # young: windows still open
    ("f6", "A", "2026-01-08T13:00"),
    ("f7", "Signed Up", "2026-01-02T00:00", {"plan": "free"}), ("f7", "A", "2026-01-03T01:00"),  # A after 1d
]
TRAITS = {"f1": {"plan": "pro"}, "f2": {"plan": "pro"}, "f3": {"plan": "pro"}}  # traits win over signup props


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("analyses") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    return Project(store, DEFINITIONS)


__all__ = ["AS_OF", "aha", "project"]
