"""`aha discover`'s magic-number table: each count band's outcome rate with the band's range and its users, as the
dashboard's dose-response chart labels them.

Hand-counted log: 200 users sign up on 2026-01-01 (one a minute), do X 0, 1, 3, 4 or 6 times in their first hour
(40 users each), and every user is active on day 12 (Z). Converters pay on day 10 (inside the 14-day horizon, after
the 7-day window, so every user is in the landmark population). Thresholds are 1, 2, 3, 5 (the 99th percentile of
the positive counts is 6), so the bands are [0, 1), [1, 2), [2, 3), [3, 5) and [5, ∞):
  0 times: 40 users, 4 paid (10%)        1 time: 40 users, 4 paid (10%)       2 times: nobody
  3 or 4 times: 80 users, 8 + 8 paid (20%)                                    5 or more (6): 40 users, 24 paid (60%)
Before, the band [3, 5) was printed "3: 20%" (read as "exactly 3 times", while it holds 3 and 4) and no band said
how many users its rate was over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tests.surfaces.test_cli_errors import imported, run

YAML = """signup: {event: Signed Up}
paid: {event: Paid, within: 14d}
milestones:
  - {id: x, event: X, within: 7d, level: primary}
"""
PAID = {0: 4, 1: 4, 3: 8, 4: 8, 6: 24}  # times X was done → how many of its 40 users paid


def _events() -> str:
    lines = ["user_id,event,timestamp"]
    start = datetime(2026, 1, 1)
    n = 0
    for times, paid in PAID.items():
        for i in range(40):
            user, t0 = f"u{n:03d}", start + timedelta(minutes=n)
            n += 1
            lines.append(f"{user},Signed Up,{t0.isoformat()}Z")
            lines += [f"{user},X,{(t0 + timedelta(minutes=k + 1)).isoformat()}Z" for k in range(times)]
            if i < paid:
                lines.append(f"{user},Paid,{(t0 + timedelta(days=10)).isoformat()}Z")
            lines.append(f"{user},Z,{(t0 + timedelta(days=12)).isoformat()}Z")
    return "\n".join(lines) + "\n"


def test_each_band_shows_its_range_and_its_users(tmp_path: Path) -> None:
    folder = imported(tmp_path, YAML, _events())
    done = run("discover", "--outcome", "conversion", "--window", "7d", "--as-of", "2026-03-01T00:00:00",
               cwd=folder)
    assert done.returncode == 0, done.stderr
    row = " ".join(line for line in done.stdout.splitlines() if "│" in line and "X" in line.split("│")[1])
    text = " ".join(row.replace("│", " ").split())
    for band in ("0: 10% of 40", "1: 10% of 40", "3–4: 20% of 80", "5+: 60% of 40"):
        assert band in text, (band, done.stdout)
    assert "2:" not in text  # nobody did it exactly twice: no band, not "0%"
