"""Discovery where nobody had the outcome: every candidate's lift is undefined (0 of n on both sides), so there is
nothing to rank. Before, the candidates were ranked 1, 2, 3, … by a lift of "0" (ties, in sort order) and
`aha discover` printed "#1 x ≥ 1 in 1d" as a finding."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serving import aha

DEFINITIONS = """
signup: {event: signup}
retention: {day: 30, bracket: 1d}
milestones:
  - {id: did_x, level: primary, event: x, within: 14d}
"""


def log(folder: Path, retained: int) -> None:
    """80 users signed up on 1 Jan 2026, the even ones do `x` on day 0 (1 to 3 times), everyone is active on
    day 16 (the landmark: still there after every window); the first `retained` even users are active on day 30."""
    lines = []
    for i in range(80):
        user = f"u{i:02d}"
        lines.append({"user_id": user, "event": "signup", "timestamp": "2026-01-01T00:00:00Z"})
        if i % 2 == 0:
            lines += [{"user_id": user, "event": "x", "timestamp": f"2026-01-01T0{1 + n}:00:00Z"}
                      for n in range(1 + i % 3)]
        lines.append({"user_id": user, "event": "ping", "timestamp": "2026-01-17T00:00:00Z"})
        if i % 2 == 0 and i // 2 < retained:
            lines.append({"user_id": user, "event": "ping", "timestamp": "2026-01-31T06:00:00Z"})
    lines.append({"user_id": "u00", "event": "ping", "timestamp": "2026-03-01T00:00:00Z"})
    (folder / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    (folder / "aha.yaml").write_text(DEFINITIONS, encoding="utf-8")
    done = aha("import", "e.jsonl", cwd=folder)
    assert done.returncode == 0, done.stderr


def test_nobody_with_the_outcome_ranks_nothing(tmp_path: Path):
    log(tmp_path, retained=0)
    found = json.loads(aha("discover", "--json", cwd=tmp_path).stdout)
    assert found["population"] == 80 and found["outcome_users"] == 0
    assert found["candidates"] and all(k["rank"] is None for k in found["candidates"])
    shown = aha("discover", cwd=tmp_path).stdout
    assert shown.startswith("Nothing ranked as of 2026-03-01 00:00 UTC: none of the 80 users eligible had the "
                            "outcome"), shown


def test_with_the_outcome_the_same_log_ranks_its_candidates(tmp_path: Path):
    """20 of the 40 who did `x` retained, none of the 40 who did not: `x ≥ 1 in 14d` has an infinite lift, ranked."""
    log(tmp_path, retained=20)
    found = json.loads(aha("discover", "--json", cwd=tmp_path).stdout)
    assert found["outcome_users"] == 20
    best = next(k for k in found["candidates"] if k["rank"] == 1)
    assert (best["a"], best["b"], best["c"], best["d"]) == (20, 20, 0, 40)
    assert best["comparison"]["lift_code"] == "infinite"
