"""Scoring and the shortlist: cut points on literal inputs, the planted levers on the bundled sample (docs/sample.md,
20,000 users, seed 0), and `aha discover --write` appending commented milestones that leave the file as it loaded."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from aha.analyses import scoring
from aha.analyses.discovery import Candidate, DiscoveryResult
from aha.definitions import Definitions, load
from aha.results import to_jsonable
from aha.stats.contingency import Comparison
from aha.surfaces.cli.commands import discover_cmd, score_cmd
from tests.analyses.test_discovery import conversion, project, retention  # noqa: F401  (module fixtures)
from tests.analyses.test_sample_truth import TEMPLATE


@pytest.mark.parametrize(("lift_low", "infinite", "expected"), [
    pytest.param(None, False, 1, id="no_bound"),
    pytest.param(None, True, 5, id="infinite_lift"),
    pytest.param(1.09, False, 1, id="below_1.1"),
    pytest.param(1.1, False, 2, id="at_1.1"),
    pytest.param(1.49, False, 2, id="below_1.5"),
    pytest.param(1.5, False, 3, id="at_1.5"),
    pytest.param(1.99, False, 3, id="below_2"),
    pytest.param(2.0, False, 4, id="at_2"),
    pytest.param(2.99, False, 4, id="below_3"),
    pytest.param(3.0, False, 5, id="at_3"),
    pytest.param(30.2, False, 5, id="far_above"),
])
def test_predictiveness_cut_points(lift_low, infinite, expected):
    assert scoring.predictiveness(lift_low, infinite) == expected


@pytest.mark.parametrize(("ratio", "expected"), [
    pytest.param(None, 3, id="nothing_to_compare_with"),
    pytest.param(0.0, 5, id="at_signup"),
    pytest.param(0.099, 5, id="below_0.1"),
    pytest.param(0.1, 4, id="at_0.1"),
    pytest.param(0.25, 3, id="at_0.25"),
    pytest.param(0.5, 2, id="at_0.5"),
    pytest.param(0.99, 2, id="just_before_users_pay"),
    pytest.param(1.0, 1, id="when_users_pay"),
    pytest.param(3.0, 1, id="well_after_paying"),
])
def test_proximity_cut_points(ratio, expected):
    assert scoring.proximity(ratio) == expected


# -- a hand-made discovery: literal candidates, literal times, literal scores ------------------------------------------

def comparison(lift: float, low: float, high: float) -> Comparison:
    return Comparison(None, None, None, None, None, None, lift, low, high, "ok", None, None, None, 0.001, "chi2", None)


def candidate(event: str, window: int, k: int, low: float, rank: int | None, significant: bool = True) -> Candidate:
    return Candidate(event, window, k, 60, 40, 100, 900, comparison(low + 0.5, low, low + 1), 0.001, 0.3,
                     rank is not None, significant, rank)


DEFINITIONS = {
    "signup": {"event": "Signed Up"},
    "paid": {"event": "Paid", "within": "30d"},
    "milestones": [
        {"id": "setup", "level": "primary", "event": "Setup Done", "within": "1d", "controllability": 5, "clarity": 4},
        {"id": "share", "event": ["Shared", "Exported"], "within": "7d", "clarity": 2},  # controllability defaulted
    ],
}
CANDIDATES = (
    candidate("Setup Done", 1, 1, 3.2, rank=1),      # 5 + proximity(1h / 10d ≈ 0.004) 5 + 5 + 4 = 19
    candidate("Shared", 7, 3, 2.1, rank=2),          # 4 + proximity(5d / 10d = 0.5) 2 + 3* + 2 = 11
    candidate("Setup Done", 3, 2, 2.9, rank=3),      # a lower-ranked candidate of the same event: not scored
    candidate("Viewed", 14, 1, 1.6, rank=4),         # 3 + proximity(2d / 10d = 0.2) 4 + 3* + 3* = 13
    candidate("Opened", 14, 5, 1.2, rank=5),         # 2 + proximity(none: no time) 3* + 3* + 3* = 11
    candidate("Clicked", 14, 2, 1.15, rank=6),       # 2 + proximity(12d / 10d = 1.2) 1 + 3* + 3* = 9
    candidate("Noise", 14, 1, 1.05, rank=7, significant=False),  # never scored
    candidate("Rare", 14, 50, 4.0, rank=None, significant=False),  # unsupported: never scored
)
HOUR, DAY = 3600.0, 86400.0
TIMES = {"Setup Done": HOUR, "Shared": 5 * DAY, "Viewed": 2 * DAY, "Clicked": 12 * DAY}


def discovery(candidates: tuple[Candidate, ...] = CANDIDATES) -> DiscoveryResult:
    return DiscoveryResult(datetime(2026, 5, 1), "conversion: Paid within 30d of signup", 14, 1000, 160, 30, False, (),
                           ("Signed Up", "Paid"), candidates, ())


def hand_made(definitions: dict | None = None, paid_seconds: float | None = 10 * DAY) -> scoring.ScoringResult:
    defs = Definitions.model_validate(definitions or DEFINITIONS)
    return scoring.summarise(discovery(), defs, TIMES, paid_seconds, 40)


def test_hand_made_scores():
    r = hand_made()
    got = [(s.event, s.window_days, s.threshold, s.predictiveness, s.proximity, s.controllability, s.clarity,
            s.total, s.defaulted, s.milestone_id, s.shortlisted) for s in r.scores]
    assert got == [
        ("Setup Done", 1, 1, 5, 5, 5, 4, 19, (), "setup", True),
        ("Viewed", 14, 1, 3, 4, 3, 3, 13, ("controllability", "clarity"), None, True),
        ("Shared", 7, 3, 4, 2, 3, 2, 11, ("controllability",), "share", True),  # ties with Opened: predictiveness
        ("Opened", 14, 5, 2, 3, 3, 3, 11, ("proximity", "controllability", "clarity"), None, False),  # 4th, < 13
        ("Clicked", 14, 2, 2, 1, 3, 3, 9, ("controllability", "clarity"), None, False),
    ]
    assert r.shortlist == ("Setup Done", "Viewed", "Shared")
    assert r.scores[2].proximity_ratio == pytest.approx(0.5)
    assert r.notes == ()


def test_shortlist_takes_a_4th_and_5th_only_above_neutral():
    """Five events at 13 or more: all five; a sixth is never taken."""
    r = hand_made(paid_seconds=2.5 * DAY)  # Viewed 0.8 → 2 (total 11); Shared 2.0 → 1 (10); Clicked 4.8 → 1 (9)
    assert [(s.event, s.total) for s in r.scores] == [
        ("Setup Done", 19), ("Viewed", 11), ("Opened", 11), ("Shared", 10), ("Clicked", 9)]
    assert r.shortlist == ("Setup Done", "Viewed", "Opened")
    extra = CANDIDATES + tuple(candidate(f"Lever {i}", 14, 1, 3.5, rank=10 + i) for i in range(4))
    times = {**TIMES, **{f"Lever {i}": 12 * HOUR for i in range(4)}}  # 5 + 5 + 3 + 3 = 16 each
    r = scoring.summarise(discovery(extra), Definitions.model_validate(DEFINITIONS), times, 10 * DAY, 40)
    assert r.shortlist == ("Setup Done", "Lever 0", "Lever 1", "Lever 2", "Lever 3")  # Viewed (13) is 6th


def test_without_a_paid_event_proximity_is_defaulted_and_said():
    defs = {k: v for k, v in DEFINITIONS.items() if k != "paid"}
    r = hand_made(defs, paid_seconds=None)
    assert {s.proximity for s in r.scores} == {3}
    assert all("proximity" in s.defaulted for s in r.scores)
    assert r.notes == ("no paid event is defined: proximity defaulted to 3 for every event",)


def test_fewer_than_three_significant_events_is_said():
    r = scoring.summarise(discovery(CANDIDATES[:2]), Definitions.model_validate(DEFINITIONS), TIMES, 10 * DAY, 40)
    assert r.shortlist == ("Setup Done", "Shared")
    assert r.notes == ("only 2 significant event(s): the shortlist is shorter than 3",)
    empty = scoring.summarise(discovery(()), Definitions.model_validate(DEFINITIONS), {}, 10 * DAY, 40)
    assert (empty.scores, empty.shortlist, empty.notes) == ((), (), ("no significant candidate in discovery: "
                                                                      "nothing to score",))


def test_hand_made_json():
    payload = json.loads(json.dumps(to_jsonable(hand_made(), "scoring"), allow_nan=False))
    assert payload["kind"] == "scoring" and payload["shortlist"] == ["Setup Done", "Viewed", "Shared"]


@pytest.mark.parametrize(("label", "expected"), [
    pytest.param("Shared", ("Shared", None, None), id="plain"),
    pytest.param("Shared where channel = slack", ("Shared", "channel", "slack"), id="property"),
    pytest.param("Shared where a = b = c", ("Shared", "a", "b = c"), id="value_with_equals"),
    pytest.param("Filter where", ("Filter where", None, None), id="not_a_split"),
])
def test_parse_label(label, expected):
    assert scoring.parse_label(label) == expected


def test_property_candidates_count_for_their_event(tmp_path):
    """The best of an event's plain and property-level candidates scores the event; it appears once, with `where`."""
    found = discovery((candidate("Shared where channel = slack", 7, 2, 2.5, rank=1), candidate("Shared", 7, 3, 2.1,
                       rank=2), candidate("Setup Done where plan = pro", 1, 1, 3.3, rank=3), *CANDIDATES[3:6]))
    r = scoring.summarise(found, Definitions.model_validate(DEFINITIONS), {"Shared where channel = slack": 5 * DAY},
                          10 * DAY, 40)
    shared = next(s for s in r.scores if s.event == "Shared")
    assert (shared.candidate, shared.property, shared.value, shared.threshold, shared.milestone_id, shared.proximity,
            shared.clarity) == ("Shared where channel = slack", "channel", "slack", 2, "share", 2, 2)
    assert [s.event for s in r.scores].count("Shared") == 1
    path = tmp_path / "aha.yaml"
    path.write_text(yaml.safe_dump(DEFINITIONS, sort_keys=False), encoding="utf-8")
    defs = load(path)
    status, block = scoring.append_shortlist(path, r, defs)
    assert status == "appended" and '#   where: {"channel": "slack"}' in block
    grown = load_text(tmp_path, path.read_text(encoding="utf-8") + uncommented(block))
    added = {m.id: m for m in grown.milestones[len(defs.milestones):]}
    assert added["shared_slack_2_in_7d"].where["channel"].eq == "slack"
    assert added["setup_done_pro_1_in_1d"].where["plan"].eq == "pro"


# -- the bundled sample -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored_retention(project, retention):  # noqa: F811
    return project.score(outcome="retention", discovery=retention)


@pytest.fixture(scope="module")
def scored_conversion(project, conversion):  # noqa: F811
    return project.score(outcome="conversion", discovery=conversion)


def by_event(result: scoring.ScoringResult) -> dict[str, scoring.EventScore]:
    return {s.event: s for s in result.scores}


def test_retention_shortlist_holds_the_planted_levers(scored_retention):
    """docs/sample.md: every shortlisted event is a planted retention lever (core_workflow's Project Created and Output
    Generated, data_connected's Integration Connected, collaboration's Invite Accepted and Sent, ≥ 3 Report Shared);
    the activity that only tracks engagement (Page Viewed, Message Sent) is not."""
    short = scored_retention.shortlist
    assert 3 <= len(short) <= 5
    assert set(short) <= {"Output Generated", "Project Created", "Integration Connected", "Invite Accepted",
                          "Invite Sent", "Report Shared"}, short
    assert (by_event(scored_retention)["Report Shared"].window_days,
            by_event(scored_retention)["Report Shared"].threshold) == (14, 3)  # the planted step


def test_scoring_builds_no_daily_activity(project, scored_retention):  # noqa: F811
    """Scoring reads retention's eligible users only; it used to build the daily-activity table as well (a pass over
    every event that only the retention curves read, the first time on each state)."""
    from aha.analyses.outcomes import ACTIVITY_TABLE

    assert scored_retention.shortlist
    assert project.store.meta(f"{ACTIVITY_TABLE}_key") is None


def test_conversion_shortlist_holds_the_planted_levers(scored_conversion):
    """docs/sample.md: core_workflow ×3 and data_connected (Integration Connected) ×2 on conversion."""
    short = scored_conversion.shortlist
    assert 3 <= len(short) <= 5
    assert set(short[:3]) == {"Output Generated", "Project Created", "Integration Connected"}, short
    assert "Page Viewed" not in short


def test_noise_is_never_scored(scored_retention, scored_conversion):
    for result in (scored_retention, scored_conversion):
        assert "Email Opened" not in by_event(result)
        assert len(set(result.shortlist)) == len(result.shortlist)  # distinct events, property candidates included
        assert "Email Opened" not in result.shortlist


def test_annotations_and_defaults_on_the_template(scored_retention, scored_conversion):
    """template.yaml annotates data_connected only (controllability 4, clarity 5); everything else is defaulted."""
    for result in (scored_retention, scored_conversion):
        scores = by_event(result)
        connected = scores["Integration Connected"]
        assert (connected.milestone_id, connected.controllability, connected.clarity) == ("data_connected", 4, 5)
        assert connected.defaulted == ()
        assert scores["Output Generated"].milestone_id == "first_output"
        assert scores["Output Generated"].defaulted == ("controllability", "clarity")
    shared = by_event(scored_retention)["Report Shared"]
    assert (shared.milestone_id, shared.defaulted, shared.controllability, shared.clarity) == (
        None, ("controllability", "clarity"), 3, 3)


def test_scores_add_up_and_are_ordered(scored_retention):
    scores = scored_retention.scores
    assert all(s.total == s.predictiveness + s.proximity + s.controllability + s.clarity for s in scores)
    keys = [(-s.total, -s.predictiveness, s.rank) for s in scores]
    assert keys == sorted(keys)
    assert [s.event for s in scores if s.shortlisted] == list(scored_retention.shortlist)
    assert len({s.event for s in scores}) == len(scores)


def test_times_match_a_direct_count(project, scored_retention):  # noqa: F811
    """Median signup → paid (mature converters) and signup → 3rd Report Shared in 14 days (eligible users), in SQL."""
    con = project.store.raw
    as_of = scored_retention.as_of
    paid, n = con.execute("""
        SELECT median(epoch(reach_time) - epoch(t0)), count(*) FROM aha_state
        WHERE milestone_id = '_paid' AND entity_type = 'user' AND reach_time IS NOT NULL AND window_end <= ?""",
                          [as_of]).fetchone()
    assert (scored_retention.median_seconds_to_paid, scored_retention.converters) == (pytest.approx(paid), n)
    third = con.execute("""
        WITH u AS (SELECT s.entity_id, s.t0 FROM aha_entities s JOIN aha_retention r USING (entity_id)
                   WHERE s.entity_type = 'user' AND r.window_end <= ?),
             e AS (SELECT epoch(e.timestamp) - epoch(u.t0) AS dt,
                          row_number() OVER (PARTITION BY u.entity_id ORDER BY e.timestamp) AS n
                   FROM events e JOIN u ON e.user_id = u.entity_id
                   WHERE e.event = 'Report Shared' AND e.timestamp >= u.t0 AND e.timestamp < u.t0 + INTERVAL 14 DAY)
        SELECT median(dt) FROM e WHERE n = 3""", [as_of]).fetchone()[0]
    shared = by_event(scored_retention)["Report Shared"]
    assert shared.median_seconds_to_candidate == pytest.approx(third)
    assert shared.proximity_ratio == pytest.approx(third / paid)


def test_json(scored_retention, scored_conversion):
    for result in (scored_retention, scored_conversion):
        payload = json.loads(json.dumps(to_jsonable(result, "scoring"), allow_nan=False))
        assert payload["kind"] == "scoring" and payload["shortlist"] == list(result.shortlist)


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, so `score` and `discover` are subcommands as in the real `aha`
        pass

    score_cmd.register(app)
    discover_cmd.register(app)
    return app


def test_cli_table_and_json(project, scored_retention):  # noqa: F811
    runner, app = CliRunner(), cli()
    args = ["score", "--db", str(project.store.path), "--config", str(TEMPLATE)]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "shortlist: " + ", ".join(scored_retention.shortlist) in " ".join(table.output.split())
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["shortlist"] == list(scored_retention.shortlist)


# -- aha discover --write --------------------------------------------------------------------------------------------

def uncommented(block: str) -> str:
    """What a user gets by deleting the leading "# " of every entry line of the block."""
    return "\n".join(line[2:] for line in block.splitlines() if re.match(r"# +(- id:|[a-z]+:|#)", line)) + "\n"


def test_write_appends_commented_milestones_once(tmp_path):
    path = tmp_path / "aha.yaml"
    original = TEMPLATE.read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    defs = load(path)
    status, block = scoring.append_shortlist(path, hand_made(), defs, today=date(2026, 5, 2))
    assert status == "appended"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original) and text.count("# aha discover --write, 2026-05-02") == 1
    assert text[len(original):] == "\n" + block
    assert load(path) == defs  # commented: nothing changes until the user uncomments
    assert block.splitlines()[3:9] == [
        "#   - id: setup_done_1_in_1d",
        '#     name: "Setup Done 1+ time in 1 days"',
        '#     event: "Setup Done"',
        "#     count: 1",
        "#     within: 1d",
        "#     # lift 3.70 (95% CI 3.20–4.20), q = 0.001; score 19 = predictiveness 5 + proximity 5 + "
        "controllability 5 + clarity 4",
    ]
    assert scoring.append_shortlist(path, hand_made(), defs, today=date(2026, 5, 3))[0] == "duplicate"
    assert path.read_text(encoding="utf-8") == text  # a second call with the same shortlist adds nothing

    uncommented_path = tmp_path / "uncommented.yaml"
    uncommented_path.write_text(original + uncommented(block), encoding="utf-8")
    grown = load(uncommented_path)
    added = {m.id: m for m in grown.milestones[len(defs.milestones):]}
    assert sorted(added) == ["setup_done_1_in_1d", "shared_3_in_7d", "viewed_1_in_14d"]
    assert (added["shared_3_in_7d"].events, added["shared_3_in_7d"].count,
            added["shared_3_in_7d"].within.days) == (["Shared"], 3, 7)

    changed = hand_made(paid_seconds=2.5 * DAY)
    assert scoring.append_shortlist(path, changed, defs, today=date(2026, 5, 3))[0] == "appended"
    assert path.read_text(encoding="utf-8").count("# aha discover --write, ") == 2
    assert load(path) == defs


def test_write_avoids_taken_ids_and_odd_names(tmp_path):
    path = tmp_path / "aha.yaml"
    text = yaml.safe_dump({**DEFINITIONS, "milestones": [*DEFINITIONS["milestones"], {
        "id": "setup_done_1_in_1d", "event": "Setup Done", "within": "1d"}]}, sort_keys=False)
    path.write_text(text.rstrip("\n"), encoding="utf-8")  # no final newline: the block still starts on its own line
    defs = load(path)
    odd = discovery((candidate('Clicked "Yes": 50%', 14, 2, 3.1, rank=1), candidate("Setup Done", 1, 1, 3.2, rank=2),
                     candidate("Shared", 7, 3, 2.1, rank=3)))
    result = scoring.summarise(odd, defs, {}, 10 * DAY, 40)
    assert scoring.append_shortlist(path, result, defs)[0] == "appended"
    assert load(path) == defs
    grown = load_text(tmp_path, text + "\n" + uncommented(path.read_text(encoding="utf-8")[len(text):]))
    assert [m.id for m in grown.milestones[-3:]] == ["setup_done_1_in_1d_2", "clicked_yes_50_2_in_14d",
                                                     "shared_3_in_7d"]
    assert grown.milestones[-2].events == ['Clicked "Yes": 50%']


def load_text(folder: Path, text: str) -> Definitions:
    path = folder / "check.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def test_discover_write_on_the_sample(project, scored_retention, tmp_path):  # noqa: F811
    config = tmp_path / "aha.yaml"
    config.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["discover", "--db", str(project.store.path), "--config", str(config), "--write", "--json"]
    app = cli()
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["kind"] == "discovery"  # the JSON on stdout stays clean
    text = config.read_text(encoding="utf-8")
    assert text.count("# aha discover --write, ") == 1
    assert [line for line in text.splitlines() if line.startswith("#     event: ")] == [
        f"#     event: {json.dumps(e)}" for e in scored_retention.shortlist]
    assert load(config) == load(TEMPLATE)
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and config.read_text(encoding="utf-8") == text


def test_the_legend_states_the_rules_the_scores_follow() -> None:
    """The table's caption is made from the cut points the scores use: r < 0.1 is the closest (5)."""
    from aha.analyses.scoring import PROXIMITY_CUTS, PROXIMITY_SCORES, proximity

    text = score_cmd.legend(PROXIMITY_CUTS, PROXIMITY_SCORES)
    assert text == "<0.1 → 5, <0.25 → 4, <0.5 → 3, <1 → 2, ≥1 → 1"
    assert (proximity(0.05), proximity(0.1), proximity(0.3), proximity(0.99), proximity(1.0)) == (5, 4, 3, 2, 1)
