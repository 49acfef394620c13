"""The dashboard's `/nudges` page: each rule's impact (nudged vs held out, with denominators and the interval) and its
outbox, equal to the firings counted straight from the store and to `aha interventions --impact`."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import aha
from tests.serving import aha as run_aha
from tests.serving import dashboard_page, rows
from tests.surfaces.test_web import metrics


@pytest.fixture(scope="module")
def nudged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nudges")
    done = run_aha("sample", "--users", "2000", "--nudges", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb"


def page(db: Path, config: Path, path: str = "/nudges") -> str:
    return dashboard_page(db, config, path)


def test_each_rule_shows_its_arms_and_outbox_as_counted_in_the_store(nudged: Path):
    config = nudged.parent / "aha.yaml"
    # counted straight from the outbox: firings per rule and status, and the held-out share of each rule's firings
    counted: dict[str, dict[str, int]] = {}
    for rule_id, status, n in rows(nudged, "SELECT rule_id, status, count(*) FROM aha_firings GROUP BY ALL"):
        counted.setdefault(str(rule_id), {})[str(status)] = int(str(n))
    assert set(counted) == {"connect_nudge", "invite_prompt"}
    html = page(nudged, config)
    shown = metrics(html)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(nudged), str(config))
        impacts = {r: project.impact(r) for r in counted}
        project.close()
    for rule_id, statuses in counted.items():
        assert shown[f"nudges.{rule_id}.outbox.total"] == f"{sum(statuses.values()):,}"
        for status, n in statuses.items():
            assert f"{n:,} {status.replace('_', ' ')}" in html
        impact = impacts[rule_id]
        # every firing is in exactly one arm: held out by status, nudged otherwise (intention to treat)
        assert impact.held_out.eligible == statuses.get("held_out", 0)
        assert impact.nudged.eligible == sum(statuses.values()) - statuses.get("held_out", 0)
        for arm, key in ((impact.nudged, "nudged"), (impact.held_out, "held_out")):
            assert arm.reached.denominator == arm.eligible - arm.still_open  # open windows in no rate
            assert shown[f"nudges.{rule_id}.{key}.rate"] == f"{arm.reached.value:.1%}"
            assert f"{arm.reached.numerator:,} / {arm.reached.denominator:,}" in html
        assert shown[f"nudges.{rule_id}.difference"] == f"{impact.difference_points:+.1f} pts"
        assert shown[f"nudges.{rule_id}.verdict"] == impact.verdict
        cli = run_aha("interventions", "--impact", rule_id, cwd=nudged.parent)
        assert cli.returncode == 0 and impact.verdict.split(":")[0] in cli.stdout
    assert shown["nudges.connect_nudge.verdict"].startswith("works")  # the planted effect
    assert not shown["nudges.invite_prompt.verdict"].startswith(("works", "backfires"))  # planted without one


def test_definitions_without_rules_say_how_to_add_one(nudged: Path, tmp_path: Path):
    config = nudged.parent / "aha.yaml"
    text = config.read_text(encoding="utf-8")
    without = tmp_path / "aha.yaml"
    without.write_text(text[:text.index("\nrules:")] + "\n", encoding="utf-8")
    html = page(nudged, without)
    assert "No rules in the definitions" in html and 'data-metric="nudges.' not in html


def test_the_page_is_in_the_navigation(nudged: Path):
    html = page(nudged, nudged.parent / "aha.yaml", "/")
    assert 'href="/nudges' in html
