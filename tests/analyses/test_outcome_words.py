"""The outcomes in words (`aha evaluate`'s titles, the dashboard's /milestones, discovery's outcome) say the
horizon and bracket as aha.yaml gives them: whole days and hours were assumed, so `paid: {within: 36h}` read
"within 1d of signup" (36 // 24) and `bracket: 30m` read "(bracket 0h)"."""

from __future__ import annotations

import pytest

from aha.analyses.validation import describe
from aha.definitions import parse

YAML = """
signup: {{event: Sign Up}}
paid: {{event: Start Subscription, within: {within}}}
retention: {{day: 7, bracket: {bracket}}}
milestones:
  - {{id: project, event: Create Project, within: 7d, level: primary}}
"""


@pytest.mark.parametrize(("within", "bracket", "conversion", "retention"), [
    ("36h", "30m", "Start Subscription within 36h of signup", "active on day 7 after signup (bracket 30m)"),
    ("30d", "1d", "Start Subscription within 30d of signup", "active on day 7 after signup (bracket 24h)"),
    ("90m", "7d", "Start Subscription within 90m of signup", "active on day 7 after signup (bracket 168h)"),
])
def test_horizon_and_bracket_as_written(within: str, bracket: str, conversion: str, retention: str) -> None:
    said = describe(parse(YAML.format(within=within, bracket=bracket)))
    assert said == {"conversion": conversion, "retention": retention}
