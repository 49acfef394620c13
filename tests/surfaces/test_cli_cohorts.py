"""`aha report`'s cohort table under a signup range (docs/semantics.md, "signup date range"): a week the range cuts
holds only its users inside the range, and says so, as the dashboard's table does."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serving import aha


def test_a_week_cut_by_the_range_is_marked_in_the_cli_table(tmp_path: Path):
    """Signups Mon 2 Mar, Wed 4 Mar, Tue 10 Mar, Thu 12 Mar 2026. --from 2026-03-04 --to 2026-03-11 keeps the
    Wednesday and the Tuesday: the week of 2 Mar counts 1 of its 2 users, the week of 9 Mar 1 of 2. Before, the
    CLI printed "2026-03-02 │ 1" as if the week had one signup; only --json said `clipped`."""
    (tmp_path / "aha.yaml").write_text("signup: {event: signup}\nmilestones:\n"
                                       "  - {id: c, level: primary, event: connect, within: 1d}\n", encoding="utf-8")
    days = ("2026-03-02", "2026-03-04", "2026-03-10", "2026-03-12")
    lines = [json.dumps({"user_id": f"u{i}", "event": "signup", "timestamp": f"{d}T12:00:00Z"})
             for i, d in enumerate(days)] + [json.dumps({"user_id": "u0", "event": "x", "timestamp": "2026-04-01"})]
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert aha("import", "e.jsonl", cwd=tmp_path).returncode == 0
    done = aha("report", "--from", "2026-03-04", "--to", "2026-03-11", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ 2026-03-")]
    assert [r.split("│")[1].strip() for r in rows] == ["2026-03-02 (cut by the range)", "2026-03-09 (cut by the range)"]
    assert [r.split("│")[2].strip() for r in rows] == ["1", "1"]
    whole = aha("report", cwd=tmp_path)
    assert "cut by the range" not in whole.stdout
    assert [r.split("│")[2].strip() for r in whole.stdout.splitlines() if r.startswith("│ 2026-03-")] == ["2", "2"]
