"""Milestone orders and drop-off, hand-counted.

Definitions: a = A within 2d (primary), b = B within 2d, cc = C within 3d; paid within 5d; funnel a → b → cc.
as_of = 2026-02-01. Everyone signs up at 2026-01-01 00:00 unless noted.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from aha.definitions import parse
from aha.errors import UserError
from aha.project import Project
from aha.results import to_jsonable
from aha.store import open_store
from tests.journeys import write_events, write_traits

DEFINITIONS = parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 5d}
milestones:
  - {id: a, event: A, within: 2d, level: primary}
  - {id: b, event: B, within: 2d}
  - {id: cc, event: C, within: 3d}
""")
AS_OF = datetime(2026, 2, 1)
D = "2026-01-01T"
S = ("Signed Up", D + "00:00")

JOURNEYS = [
    ("u1", *S), ("u1", "A", D + "01:00"), ("u1", "B", D + "02:00"), ("u1", "C", D + "03:00"),
    ("u1", "Paid", "2026-01-03T00:00"),                                  # a → b → cc, converts
    ("u2", *S), ("u2", "A", D + "01:00"), ("u2", "B", D + "02:00"), ("u2", "C", D + "03:00"),  # a → b → cc, no pay
    ("u3", *S), ("u3", "B", D + "01:00"), ("u3", "A", D + "02:00"), ("u3", "C", D + "03:00"),
    ("u3", "Paid", "2026-01-02T00:00"),                                  # b → a → cc, converts
    ("u4", *S), ("u4", "A", D + "01:00"),                                # a
    ("u5", *S), ("u5", "A", D + "01:00"), ("u5", "Paid", D + "05:00"),   # a, converts
    ("u6", *S),                                                          # (none)
    ("u7", *S), ("u7", "B", D + "01:00"), ("u7", "A", D + "01:00"),      # tie at 01:00: funnel order, a → b
    ("u8", *S), ("u8", "A", D + "01:00"), ("u8", "C", D + "02:00"), ("u8", "Paid", D + "03:00"),  # a → cc, converts
    ("u9", "Signed Up", "2026-01-30T00:00"), ("u9", "A", "2026-01-30T01:00"),  # paid horizon open: left out
    ("u10", *S), ("u10", "A", D + "01:00"), ("u10", "C", "2026-01-05T00:00"),  # C after its 3d window: a
    ("u11", *S), ("u11", "A", D + "01:00"), ("u11", "Paid", "2026-01-07T00:00"),  # pays after the 5d horizon: a
]
# by hand, 10 counted users, 4 converters (u1 u3 u5 u8), 6 not:
#   a: 4 (u4 u5 u10 u11; 1 converts)   a → b → cc: 2 (u1 u2; 1)   (none): 1 (u6; 0)
#   a → b: 1 (u7; 0)   a → cc: 1 (u8; 1)   b → a → cc: 1 (u3; 1)
# drop-off a → b: 9 reached a; 4 reached b too (u1 u2 u3 u7; 2 convert), 5 never (u4 u5 u8 u10 u11; 2 convert)
# drop-off b → cc: 4 reached b; 3 reached cc (u1 u2 u3; 2 convert), 1 never (u7; 0 convert)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("paths") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, {"u1": {"plan": "pro"}, "u3": {"plan": "pro"}, "u6": {"plan": "pro"}})
    return Project(store, DEFINITIONS)


def table(group):
    return {p.path: (p.users, p.converters, p.non_converters) for p in group.paths}


def test_paths_hand_counted(project):
    result = project.paths(as_of=AS_OF)
    (g,) = result.groups
    assert (g.signups, g.immature, g.out_of_scope, g.users, g.converters, g.distinct_paths) == (11, 1, 0, 10, 4, 6)
    assert [p.path for p in g.paths] == ["a", "a → b → cc", "(none)", "a → b", "a → cc", "b → a → cc"]
    assert table(g) == {"a": (4, 1, 3), "a → b → cc": (2, 1, 1), "(none)": (1, 0, 1), "a → b": (1, 0, 1),
                        "a → cc": (1, 1, 0), "b → a → cc": (1, 1, 0)}
    a = g.paths[0]
    assert a.milestones == ("a",)
    assert (a.share_of_converters.numerator, a.share_of_converters.denominator) == (1, 4)
    assert (a.share_of_non_converters.numerator, a.share_of_non_converters.denominator) == (3, 6)
    assert a.conversion.value == pytest.approx(0.25)
    assert g.paths[2].milestones == ()


def test_drop_off_hand_counted(project):
    (g,) = project.paths(as_of=AS_OF).groups
    sa, ab, bc = g.drop_offs
    # everyone counted signed up; all but the one "(none)" user reached a (9 of 10); 4 of those 9 converted, 0 of 1
    assert (sa.from_id, sa.to_id, sa.from_name, sa.reached_from, sa.continued, sa.lost) == ("signup", "a",
                                                                                          "Signed up", 10, 9, 1)
    assert (sa.conversion_continued.numerator, sa.conversion_continued.denominator) == (4, 9)
    assert (sa.conversion_lost.numerator, sa.conversion_lost.denominator) == (0, 1)
    assert sa.gap_points == pytest.approx(100 * 4 / 9)
    assert (ab.from_id, ab.to_id, ab.reached_from, ab.continued, ab.lost) == ("a", "b", 9, 4, 5)
    assert ab.lost_share.value == pytest.approx(5 / 9)
    assert (ab.conversion_continued.numerator, ab.conversion_continued.denominator) == (2, 4)
    assert (ab.conversion_lost.numerator, ab.conversion_lost.denominator) == (2, 5)
    assert ab.gap_points == pytest.approx(10.0)
    assert (bc.from_id, bc.to_id, bc.reached_from, bc.continued, bc.lost) == ("b", "cc", 4, 3, 1)
    assert (bc.conversion_continued.numerator, bc.conversion_lost.numerator) == (2, 0)
    assert bc.gap_points == pytest.approx(100 * 2 / 3)


def test_top_paths_and_other(project):
    (g,) = project.paths(as_of=AS_OF, top=3).groups
    assert [p.path for p in g.paths] == ["a", "a → b → cc", "(none)", "(other)"]
    other = g.paths[-1]
    assert (other.users, other.converters, other.non_converters, other.milestones) == (3, 2, 1, ())
    assert sum(p.users for p in g.paths) == g.users


def test_segments_and_json(project):
    result = project.paths(as_of=AS_OF, segment="plan")
    by = {g.segment: g for g in result.groups}
    assert table(by["pro"]) == {"a → b → cc": (1, 1, 0), "b → a → cc": (1, 1, 0), "(none)": (1, 0, 1)}
    assert by["(none)"].users == 7
    text = json.dumps(to_jsonable(result, "paths"), allow_nan=False)
    assert json.loads(text)["kind"] == "paths"


def test_needs_a_paid_section(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS[:5])
    definitions = parse("""
signup: {event: Signed Up}
milestones:
  - {id: a, event: A, within: 2d, level: primary}
""")
    with pytest.raises(UserError) as caught:
        Project(store, definitions).paths(as_of=AS_OF)
    assert str(caught.value) == "aha paths splits users by conversion: add a `paid:` section to the definitions file."


def test_summarise_from_literal_rows():
    from aha.analyses.paths import summarise

    rows = [  # as paths_query returns them; no database
        {"segment": "(all)", "path": "x,y", "converted": True, "users": 3, "signups": 3, "immature": 0,
         "out_of_scope": 0},
        {"segment": "(all)", "path": "", "converted": False, "users": 1, "signups": 2, "immature": 1,
         "out_of_scope": 0},
    ]
    (g,) = summarise(rows, ["x", "y"], {"x": "X", "y": "Y"}, AS_OF, "Paid within 5d", None).groups
    assert table(g) == {"x → y": (3, 3, 0), "(none)": (1, 0, 1)}
    assert (g.signups, g.immature, g.users) == (5, 1, 4)
    assert [(d.from_id, d.reached_from, d.lost) for d in g.drop_offs] == [("signup", 4, 1), ("x", 3, 0)]
    assert g.drop_offs[1].conversion_lost.value is None


def test_cli_table_and_json(tmp_path):
    import typer
    from typer.testing import CliRunner

    from aha.surfaces.cli.commands import paths_cmd

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    store.close()
    config = tmp_path / "aha.yaml"
    config.write_text("""signup: {event: Signed Up}
paid: {event: Paid, within: 5d}
milestones:
  - {id: a, event: A, within: 2d, level: primary}
  - {id: b, event: B, within: 2d}
  - {id: cc, event: C, within: 3d}
""")
    app = typer.Typer()
    paths_cmd.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `paths` a subcommand
    args = ["paths", "--db", str(tmp_path / "aha.duckdb"), "--config", str(config), "--as-of", "2026-02-01T00:00:00"]
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "b → a → cc" in shown.output and "Where we lose them" in shown.output
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    (g,) = json.loads(done.output)["groups"]
    assert (g["users"], g["converters"], g["paths"][0]["path"]) == (10, 4, "a")
