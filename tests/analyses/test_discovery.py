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
    ranked = [k.event.split(" where ")[0] for k in conversion.candidates if k.rank is not None]
    first_distinct = list(dict.fromkeys(ranked))
    assert first_distinct[0] == "Output Generated"
    assert "Project Created" in first_distinct[:4] and "Integration Connected" in first_distinct[:8]


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
    assert all(k.a + k.b >= retention.min_support for k in ranked)
    assert retention.min_support == max(30, round(0.01 * retention.population))
    assert all(k.rank is None for k in retention.candidates if not k.supported)


def test_candidates_match_a_direct_count(project, retention):
    """One candidate recomputed straight from the events with plain SQL, as a second method."""
    k = next(k for k in retention.candidates if (k.event, k.window_days, k.threshold) == ("Report Shared", 14, 3))
    con = project.store.raw
    a, reached = con.execute("""
        WITH u AS (SELECT s.entity_id, s.t0, r.retained_at IS NOT NULL AS won FROM aha_entities s
                   JOIN aha_retention r USING (entity_id)
                   WHERE s.entity_type = 'user' AND r.window_end <= ?),
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


def test_planted_step_size_is_within_the_interval(retention):
    """docs/sample.md: Report Shared is drawn independently of everything else, and ≥ 3 in 14 days adds 25 points of
    Day-30 retention (a little less after clipping to [0.02, 0.95]); its observed difference must bracket that."""
    k = next(k for k in retention.candidates if (k.event, k.window_days, k.threshold) == ("Report Shared", 14, 3))
    low, high = k.comparison.difference_low, k.comparison.difference_high
    assert low is not None and high is not None
    assert low <= 0.25 <= high or low <= 0.24 <= high
    assert low > 0.15
