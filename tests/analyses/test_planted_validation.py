"""`aha evaluate` on the bundled sample recovers the planted effects that can be recovered from observational data.

docs/sample.md: the Report Shared step (≥ 3 in 14 days) is drawn independently of everything and adds 25 points of
Day-30 retention and nothing to conversion; workspace creation and collaboration have no effect on conversion. The
core_workflow ×3 and data_connected ×2 conversion effects are confounded with engagement by design (engaged users
reach milestones more often and convert more on their own), so their observed lifts are larger than the planted
multipliers and are not asserted to match them.
"""

from __future__ import annotations

import pytest

from aha.definitions import parse
from aha.project import Project
from aha.sample import generate, load_into
from aha.store import open_store
from tests.analyses.test_sample_truth import TEMPLATE

REPORT_STEP = """
  - id: report_step
    name: Shared 3 reports
    event: Report Shared
    count: 3
    within: 14d
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("planted")
    generate(out / "files", users=20_000, seed=0)
    store = open_store(out / "aha.duckdb")
    load_into(store, out / "files")
    result = Project(store, parse(TEMPLATE.read_text(encoding="utf-8") + REPORT_STEP)).evaluate()
    return {(r.milestone_id, r.outcome): r for g in result.groups for r in g.rows}


def test_the_planted_step_adds_25_points_of_retention(rows):
    r = rows[("report_step", "retention")]
    low, high = r.comparison.difference_low, r.comparison.difference_high
    assert low is not None and high is not None
    assert low <= 0.25 <= high or low <= 0.24 <= high  # 25 points, a little less after clipping to [0.02, 0.95]
    assert r.verdict_code == "strong"


@pytest.mark.parametrize("milestone", ["report_step", "workspace", "collaboration"])
def test_milestones_planted_without_a_conversion_effect_are_not_predictive(rows, milestone):
    r = rows[(milestone, "conversion")]
    assert r.comparison.lift_low is not None and r.comparison.lift_high is not None
    assert r.comparison.lift_low <= 1.0 <= r.comparison.lift_high
    assert r.verdict_code == "not_predictive"
