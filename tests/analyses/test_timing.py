"""Time to milestone: percentiles among reachers (numpy's linear interpolation) and Kaplan–Meier over everyone."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analyses.conftest import AS_OF


def test_percentiles_and_kaplan_meier_hand_counted(project):
    (group,) = project.timing(as_of=AS_OF).groups
    m1 = next(m for m in group.milestones if m.milestone_id == "m1")
    hours = [1, 2, 1, 1, 1]  # f1, f2, f3, f5, f6 reach m1
    assert (m1.eligible, m1.reached) == (7, 5)
    assert m1.median_seconds == 3600
    assert m1.p90_seconds == pytest.approx(np.percentile(np.array(hours) * 3600, 90))  # 5760 s
    # Kaplan–Meier: at 1h, 4 of 7 at risk reach it → S = 3/7 < 0.5, so the median is 1h;
    # at 2h, 1 of 3 → S = 2/7; f4 and f7 are censored at their 1d window → 5/7 reach it.
    assert m1.km_median_seconds == 3600
    assert m1.km_reached_share == pytest.approx(5 / 7)
    assert {b.label: b.entities for b in m1.histogram}["1–4h"] == 5
    # the curve the dashboard draws: 0 before 1h, 4/7 from 1h, 5/7 from 2h to the end of the 1d follow-up
    curve = {p.seconds: p.reached_share for p in m1.km_curve}
    assert m1.km_curve[-1].seconds == m1.km_followed_seconds == 86400
    step = 86400 / 120
    assert curve[0.0] == 0 and curve[step * 4] == 0  # 48 min
    assert curve[step * 5] == pytest.approx(4 / 7)  # 60 min
    assert curve[step * 10] == pytest.approx(5 / 7) and m1.km_curve[-1].reached_share == pytest.approx(5 / 7)


def test_open_windows_are_censored_not_failed(project):
    (group,) = project.timing(as_of=AS_OF).groups
    paid = next(m for m in group.milestones if m.milestone_id == "_paid")
    # f1 (24h) and f5 (2h) paid; the median among payers is 13h, but most never pay: KM median undefined
    assert paid.reached == 2 and paid.median_seconds == 13 * 3600
    assert paid.km_median_seconds is None


def test_a_report_does_not_import_pandas(project):
    """A report reads its results through Arrow into Python values: nothing in it needs pandas, whose import costs
    0.3–0.8 s of every command (Ibis's DuckDB result mapper and pyarrow's `to_numpy` both import it)."""
    import subprocess
    import sys

    path = project.store.path
    project.report(as_of=AS_OF)  # the state is built and cached in the file
    project.store.close()  # (the last test of this module: the subprocess needs the file's lock)
    code = ("import sys\nfrom aha.project import Project\n"
            "from aha.store import open_store\nfrom tests.analyses.conftest import AS_OF, DEFINITIONS\n"
            f"p = Project(open_store({str(path)!r}, read_only=True), DEFINITIONS)\n"
            "r = p.report(as_of=AS_OF)\nassert r.timing.groups\nprint('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
