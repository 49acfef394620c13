"""Discovery on the bundled sample (docs/sample.md, 20,000 users, seed 0) recovers what was planted."""

from __future__ import annotations

import json

import pytest

from aha.definitions import load
from aha.project import Project
from aha.results import to_jsonable
from aha.sample import generate, load_into
from aha.store import open_store
from tests.analyses.test_sample_truth import TEMPLATE


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    out = tmp_path_factory.mktemp("discovery")
    generate(out / "files", users=20_000, seed=0)
    store = open_store(out / "aha.duckdb")
    load_into(store, out / "files")
    return Project(store, load(TEMPLATE))


@pytest.fixture(scope="module")
def retention(project):
    return project.discover(outcome="retention")


@pytest.fixture(scope="module")
def conversion(project):
    return project.discover(outcome="conversion")


@pytest.fixture(scope="module")
def retention_everyone(project):
    """Without the landmark: every eligible user, however early they left."""
    return project.discover(outcome="retention", landmark=False)


# docs/sample.md: the events of the planted milestones (core_workflow = Project Created + Output Generated,
# data_connected = Integration Connected of some types, collaboration = Invite Accepted, which comes with an Invite
# Sent, and the Report Shared step).
PLANTED = {"Output Generated", "Project Created", "Integration Connected", "Invite Accepted", "Invite Sent",
           "Report Shared"}


def distinct_ranked(result):
    return list(dict.fromkeys(k.event.split(" where ")[0] for k in result.candidates if k.rank is not None))


def magic(result, event):
    return next(m for m in result.magic_numbers if m.event == event)


def test_planted_step_is_the_magic_number(retention):
    """docs/sample.md: ≥ 3 Report Shared in 14 days adds 25 points of Day-30 retention; 1 or 2 add nothing."""
    m = magic(retention, "Report Shared")
    assert m.threshold == 3
    assert 15 < m.rise_points < 35
    rates = {b.lower: b.rate.value for b in m.bands}
    assert abs(rates[1] - rates[0]) < 0.03 and abs(rates[2] - rates[0]) < 0.03  # no effect below the step


def test_pure_noise_is_never_flagged(retention, conversion):
    for result in (retention, conversion):
        flagged = [(k.window_days, k.threshold) for k in result.candidates if k.event == "Email Opened" and
                   k.significant]
        assert flagged == []
        assert magic(result, "Email Opened").threshold is None


def test_planted_milestones_rank_first_for_conversion(conversion):
    """core_workflow (Project Created + Output Generated) ×3 and data_connected ×2 are the planted causes."""
    first_distinct = distinct_ranked(conversion)
    assert first_distinct[:3] == ["Output Generated", "Project Created", "Integration Connected"]


def test_planted_milestones_rank_first_for_retention(retention):
    """Every planted retention milestone (docs/sample.md) outranks every event that only tracks engagement or being
    around (Page Viewed, Message Sent, Help Article Viewed, Settings Changed) and the noise."""
    first_distinct = distinct_ranked(retention)
    assert set(first_distinct[:len(PLANTED)]) == PLANTED, first_distinct
    assert first_distinct[:2] == ["Output Generated", "Project Created"]


def test_without_the_landmark_activity_outranks_every_milestone(retention_everyone):
    """The trap the landmark avoids: users who leave in the first days stop viewing pages, so "≥ 1 Page Viewed in
    14 days" looks like the strongest cause of staying although it has no effect of its own."""
    assert not retention_everyone.landmark
    assert distinct_ranked(retention_everyone)[0] == "Page Viewed"
    pv = next(k for k in retention_everyone.candidates if k.rank == 1)
    assert pv.comparison.lift > 20  # a reverse-causation artefact, not a lever


def test_landmark_populations_are_the_users_still_active_after_each_window(project, retention):
    """Each window's population, counted straight from the events: eligible users with an active event (any but
    Signed Up and Email Opened, the template's rule) in [t0 + w days, t0 + 30 days)."""
    assert retention.landmark and [p.window_days for p in retention.populations] == [1, 3, 7, 14]
    sizes = project.store.raw.execute("""
        WITH u AS (SELECT s.entity_id, s.t0, r.retained_at IS NOT NULL AS won FROM aha_entities s
                   JOIN aha_retention r USING (entity_id) WHERE s.entity_type = 'user' AND r.window_end <= ?),
             last AS (SELECT u.entity_id, max(e.timestamp) AS t FROM u JOIN events e ON e.user_id = u.entity_id
                      WHERE e.event NOT IN ('Signed Up', 'Email Opened') AND e.timestamp < u.t0 + INTERVAL 30 DAY
                      GROUP BY u.entity_id)
        SELECT w, count(*), count(*) FILTER (WHERE won) FROM u JOIN last USING (entity_id),
               (VALUES (1), (3), (7), (14)) v(w)
        WHERE last.t >= u.t0 + w * INTERVAL 1 DAY GROUP BY w ORDER BY w""", [retention.as_of]).fetchall()
    assert [(p.window_days, p.users, p.outcome_users) for p in retention.populations] == sizes
    assert retention.population > sizes[0][1] > sizes[-1][1] > 0.3 * retention.population


def test_property_candidates_split_a_planted_milestone(conversion):
    """data_connected counts postgres/bigquery/salesforce only: slack and csv connections must not be flagged."""
    flagged = {k.event for k in conversion.candidates if k.significant}
    assert "Integration Connected where integration_type = postgres" in flagged
    assert not {"Integration Connected where integration_type = slack",
                "Integration Connected where integration_type = csv"} & flagged


def test_outcome_events_never_leak_into_candidates(retention, conversion):
    for result in (retention, conversion):
        events = {k.event for k in result.candidates}
        assert "Subscription Started" not in events and "Signed Up" not in events
        assert set(result.excluded_events) == {"Signed Up", "Subscription Started"}


def test_ranking_and_support(retention):
    ranked = [k for k in retention.candidates if k.rank is not None]
    lows = [k.comparison.lift_low for k in ranked]
    assert lows == sorted(lows, reverse=True)
    assert all(k.a + k.b >= retention.min_support and k.c + k.d >= retention.min_support for k in ranked)
    assert retention.min_support == max(30, round(0.01 * retention.population))
    assert all(k.rank is None for k in retention.candidates if not k.supported)


def test_candidates_match_a_direct_count(project, retention):
    """One candidate recomputed straight from the events with plain SQL, as a second method."""
    k = next(k for k in retention.candidates if (k.event, k.window_days, k.threshold) == ("Report Shared", 14, 3))
    con = project.store.raw
    a, reached = con.execute("""
        WITH u AS (SELECT s.entity_id, s.t0, r.retained_at IS NOT NULL AS won FROM aha_entities s
                   JOIN aha_retention r USING (entity_id)
                   WHERE s.entity_type = 'user' AND r.window_end <= ?
                     AND EXISTS (SELECT 1 FROM events a WHERE a.user_id = s.entity_id
                                 AND a.event NOT IN ('Signed Up', 'Email Opened')
                                 AND a.timestamp >= s.t0 + INTERVAL 14 DAY AND a.timestamp < s.t0 + INTERVAL 30 DAY)),
             n AS (SELECT u.entity_id, count(e.event) AS n FROM u LEFT JOIN events e
                   ON e.user_id = u.entity_id AND e.event = 'Report Shared'
                  AND e.timestamp >= u.t0 AND e.timestamp < u.t0 + INTERVAL 14 DAY GROUP BY u.entity_id)
        SELECT count(*) FILTER (WHERE n >= 3 AND won), count(*) FILTER (WHERE n >= 3)
        FROM u JOIN n USING (entity_id)""", [retention.as_of]).fetchone()
    assert (k.a, k.a + k.b) == (a, reached)


def test_json(retention):
    payload = json.loads(json.dumps(to_jsonable(retention, "discovery"), allow_nan=False))
    assert payload["kind"] == "discovery" and payload["magic_numbers"]


def test_discovery_within_one_segment_value(project, retention):
    """`--segment persona=admin`: the same one-pass discovery among admins only, with its own population."""
    admins = project.discover(outcome="retention", segment="persona=admin")
    assert (admins.segment_by, admins.segment) == ("persona", "admin")
    assert 0 < admins.population < retention.population
    assert admins.min_support == max(30, round(0.01 * admins.population))
    k = next(k for k in retention.candidates if k.rank == 1)
    same = next(x for x in admins.candidates if (x.event, x.window_days, x.threshold) ==
                (k.event, k.window_days, k.threshold))
    assert same.a + same.b < k.a + k.b


def test_planted_step_size_is_within_the_interval(retention_everyone):
    """docs/sample.md: Report Shared is drawn independently of everything else, and ≥ 3 in 14 days adds 25 points of
    Day-30 retention (a little less after clipping to [0.02, 0.95]); its observed difference must bracket that.
    The planted effect is over all signups, so it is read without the landmark."""
    k = next(k for k in retention_everyone.candidates
             if (k.event, k.window_days, k.threshold) == ("Report Shared", 14, 3))
    low, high = k.comparison.difference_low, k.comparison.difference_high
    assert low is not None and high is not None
    assert low <= 0.25 <= high or low <= 0.24 <= high
    assert low > 0.15


def test_events_without_the_property_of_a_property_candidate(tmp_path) -> None:
    """Integration Connected is split by integration_type; events of it without that property (another export
    of the same event) are counted under the event alone and under no value: they used to crash discovery."""
    import datetime as dt

    from aha.store.importer import import_files

    generate(tmp_path / "files", users=1000, seed=1)
    store = open_store(tmp_path / "aha.duckdb")
    load_into(store, tmp_path / "files")
    signups = store.raw.execute("SELECT user_id, timestamp FROM events WHERE event = 'Signed Up' "
                                "ORDER BY user_id LIMIT 40").fetchall()
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"user_id": u, "event": "Integration Connected", "properties": {},
                                         "timestamp": (t + dt.timedelta(hours=1)).isoformat() + "Z"}) + "\n"
                             for u, t in signups))
    import_files(store, [extra])
    project = Project(store, load(TEMPLATE))
    result = project.discover(outcome="conversion")
    labels = {k.event for k in result.candidates}
    assert "Integration Connected" in labels
    split = {label for label in labels if label.startswith("Integration Connected where integration_type")}
    assert split and not any("None" in label or "null" in label or label.endswith("= ") for label in split)
    assert project.score(outcome="conversion").rows()


def test_discovery_by_every_segment_value(project, retention):
    """`project.discover_segments("persona")`: one group per persona, each the same as discovering within that
    value alone; the populations add up to everyone's."""
    breakdown = project.discover_segments("persona", outcome="retention")
    assert breakdown.segment_by == "persona"
    groups = {g.segment: g for g in breakdown.groups}
    assert len(groups) >= 2 and sum(g.population for g in groups.values()) == retention.population
    admins = project.discover(outcome="retention", segment="persona=admin")
    assert [(k.event, k.window_days, k.threshold, k.a, k.b, k.rank) for k in groups["admin"].candidates] == \
        [(k.event, k.window_days, k.threshold, k.a, k.b, k.rank) for k in admins.candidates]
