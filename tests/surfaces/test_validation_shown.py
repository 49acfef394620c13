"""The validation table as a reader sees it, on a hand-counted log: each rate with its denominator and 95% interval,
the difference with its interval, and the lift with its interval, or ∞ when nobody who missed the milestone had
the outcome. Expected values are computed here from the counts (Wilson, Newcombe, Katz), not read from aha."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.serving import LOCAL, aha

DEFINITIONS = """
signup: {event: signup}
paid: {event: purchase, within: 14d}
retention: {day: 7, bracket: 1d}
funnel: [connect, invite]
milestones:
  - {id: connect, name: Connected, level: primary, event: connect, within: 7d}
  - {id: invite, name: Invited twice, level: secondary, event: invite, count: 2, within: 7d}
"""

# Seven users, every window closed on 2026-04-01. Connected: u1 u2 (paid), u3 u4 (not); missed: u5 u6 u7 (none
# paid) → a/b/c/d = 2/2/0/3. Invited twice: u1 (paid), u3 (not); u2 paid without it → 1/1/1/4.
EVENTS = [
    ("u1", "signup", "2026-03-01T00:00:00"), ("u1", "connect", "2026-03-01T01:00:00"),
    ("u1", "invite", "2026-03-01T02:00:00"), ("u1", "invite", "2026-03-01T03:00:00"),
    ("u1", "purchase", "2026-03-02T00:00:00"),
    ("u2", "signup", "2026-03-01T00:00:00"), ("u2", "connect", "2026-03-01T05:00:00"),
    ("u2", "purchase", "2026-03-03T00:00:00"),
    ("u3", "signup", "2026-03-01T00:00:00"), ("u3", "connect", "2026-03-02T00:00:00"),
    ("u3", "invite", "2026-03-02T01:00:00"), ("u3", "invite", "2026-03-02T02:00:00"),
    ("u4", "signup", "2026-03-01T00:00:00"), ("u4", "connect", "2026-03-04T00:00:00"),
    ("u5", "signup", "2026-03-01T00:00:00"), ("u6", "signup", "2026-03-01T00:00:00"),
    ("u7", "signup", "2026-03-01T00:00:00"), ("u7", "ping", "2026-04-01T00:00:00"),
]


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    centre, half = (k + z * z / 2) / (n + z * z), z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def newcombe(a: int, n1: int, c: int, n2: int) -> tuple[float, float]:
    (l1, u1), (l2, u2), p1, p2 = wilson(a, n1), wilson(c, n2), a / n1, c / n2
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)


def katz(a: int, n1: int, c: int, n2: int) -> tuple[float, float, float]:
    rr, se = (a / n1) / (c / n2), math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
    return rr, rr * math.exp(-1.959963984540054 * se), rr * math.exp(1.959963984540054 * se)


def store(folder: Path) -> Path:
    lines = [json.dumps({"user_id": u, "event": e, "timestamp": t + "Z"}) for u, e, t in EVENTS]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "aha.yaml").write_text(DEFINITIONS, encoding="utf-8")
    done = aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb"


def test_aha_evaluate_shows_the_lift_and_the_differences_interval(tmp_path: Path):
    """Before: the table had no lift column at all (its help promises "lift with 95% CI") and the difference had no
    interval, so 'Connected +50.0 pts' on 4 and 3 users read as a finding."""
    store(tmp_path)
    done = aha("evaluate", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("Milestones vs retention")[0]
    connected = next(line for line in table.splitlines() if "Connected" in line)
    low, high = newcombe(2, 4, 0, 3)
    assert "2 / 2 / 0 / 3" in connected
    assert f"+50.0 pts ({100 * low:+.1f} to {100 * high:+.1f})" in connected  # (-16.2 to +85.0)
    assert re.search(r"│\s+∞\s+│", connected), connected
    invited = next(line for line in table.splitlines() if "Invited twice" in line)
    rr, rr_low, rr_high = katz(1, 2, 1, 5)
    assert "1 / 1 / 1 / 4" in invited
    assert f"{rr:.2f} ({rr_low:.2f}–{rr_high:.2f})" in invited  # 2.50 (0.27–23.36)
    low, high = newcombe(1, 2, 1, 5)
    assert f"+30.0 pts ({100 * low:+.1f} to {100 * high:+.1f})" in invited


def test_aha_retention_gives_each_curve_point_its_denominator(tmp_path: Path):
    """Day 1 = [t0 + 1d, t0 + 2d): u1 (purchase) and u3 (connect, invites) of the 4 who connected were active, none
    of the 3 who did not. Before, the cell read "50.0% / 0.0%": 2 of 4 and 500 of 1,000 looked alike."""
    store(tmp_path)
    done = aha("retention", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    connected = next(line for line in done.stdout.splitlines() if "Connected" in line)
    assert connected.split("│")[2].strip() == "50.0% of 4 / 0.0% of 3", connected


def test_the_milestones_page_shows_each_rates_denominator_and_interval(tmp_path: Path):
    """Before: the page showed '50.0%' and '0.0%' with no 'of how many' nor interval, and '—' for an infinite lift
    (the CLI's by-month table says ∞)."""
    from aha.surfaces.web.local import create_dashboard

    db = store(tmp_path)
    with TestClient(create_dashboard(db, tmp_path / "aha.yaml"), base_url=LOCAL) as client:
        page = client.get("/milestones")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    (l1, h1), (l2, h2) = wilson(2, 4), wilson(0, 3)
    assert f"50.0% 2 of 4 · {l1:.1%}–{h1:.1%} 0.0% 0 of 3 · {l2:.1%}–{h2:.1%} ∞" in text
    rr, rr_low, rr_high = katz(1, 2, 1, 5)
    (l1, h1), (l2, h2) = wilson(1, 2), wilson(1, 5)
    assert (f"50.0% 1 of 2 · {l1:.1%}–{h1:.1%} 20.0% 1 of 5 · {l2:.1%}–{h2:.1%} {rr:.2f}× "
            f"{rr_low:.2f}–{rr_high:.2f}") in text
