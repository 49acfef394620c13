"""`aha sample --nudges`: the impact report recovers the planted nudge effect inside its interval and does not flag
the rule planted without one (issue 15, "What must be shown")."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import aha
from tests.serving import aha as run_aha


def test_impact_recovers_the_sample_truth(tmp_path: Path):
    done = run_aha("sample", "--users", "3000", "--nudges", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(tmp_path / "aha.duckdb"), str(tmp_path / "aha.yaml"))
        truth = json.loads(project.store.scalar("SELECT value FROM aha_meta WHERE key = 'sample_nudge_truth'"))
        moved = project.impact("connect_nudge")
        none = project.impact("invite_prompt")
        project.close()
    assert truth["moved"] > 100 and 15 < truth["planted_points"] < 35
    assert moved.difference_low < truth["planted_points"] < moved.difference_high
    assert moved.verdict.startswith("works")
    assert not none.verdict.startswith(("works", "backfires"))
    listed = run_aha("interventions", "--impact", "connect_nudge", cwd=tmp_path)
    assert listed.returncode == 0 and "works:" in listed.stdout
    # each arm's rate beside its numerator and denominator (closed windows only), as every rate aha prints
    for arm in (moved.nudged, moved.held_out):
        assert arm.reached.denominator == arm.eligible - arm.still_open
        assert f"{arm.reached.numerator:,} / {arm.reached.denominator:,}" in listed.stdout
