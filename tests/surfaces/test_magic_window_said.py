"""`aha discover` with the retention rule on day 7 and the default magic-number window (14d): no window of 14 days
closes before day 7's bracket opens, so there are no magic numbers in it, and the command says so and which windows
it compared, instead of an empty table. The 7d window is compared but, with the landmark, holds nobody (active after
day 7 and before day 7 is empty): said too.

Hand-counted log (as of 2026-03-01): 60 users sign up on 2026-01-01, one a minute; the first 30 do X once in their
first hour; every user is active on day 5 (Z), and X-doers also on day 7 (retained), so X ≥ 1 in 1d ranks.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from tests.surfaces.test_cli_errors import imported, run

YAML = """signup: {event: Signed Up}
retention: {day: 7}
milestones:
  - {id: x, event: X, within: 3d, level: primary}
"""


def _events() -> str:
    lines = ["user_id,event,timestamp"]
    for n in range(60):
        t0 = datetime(2026, 1, 1) + timedelta(minutes=n)
        lines.append(f"u{n:02d},Signed Up,{t0.isoformat()}Z")
        lines.append(f"u{n:02d},Z,{(t0 + timedelta(days=5)).isoformat()}Z")
        if n < 30:
            lines.append(f"u{n:02d},X,{(t0 + timedelta(minutes=30)).isoformat()}Z")
            lines.append(f"u{n:02d},Z,{(t0 + timedelta(days=7, hours=1)).isoformat()}Z")
    return "\n".join(lines) + "\n"


def test_an_empty_magic_number_window_is_explained(tmp_path: Path) -> None:
    folder = imported(tmp_path, YAML, _events())
    done = run("discover", "--as-of", "2026-03-01T00:00:00", cwd=folder)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "X ≥ 1 in 1d" in text  # ranked: 30 of 30 retained vs 0 of 30
    assert ("no magic numbers in the 14d window: retention is measured on day 7, and only windows that close before "
            "it are compared (1d, 3d, 7d)") in text, done.stdout
    done = run("discover", "--as-of", "2026-03-01T00:00:00", "--window", "7d", "--json", cwd=folder)
    result = json.loads(done.stdout)
    assert result["magic_numbers"] == [] and [p["users"] for p in result["populations"]] == [60, 60, 0]
    assert result["notes"] == ["no magic numbers in the 7d window: nobody is compared in it (with the landmark, "
                               "only users seen active after the window and before the outcome is measured)"]
