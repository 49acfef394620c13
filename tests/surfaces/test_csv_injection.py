"""`--csv` never hands a spreadsheet a formula: a segment named by a user's property value (`=cmd|…`, `@SUM`, `+1`,
`-2+3`) is written with a leading `'` (OWASP "CSV Injection"), through the real console script. Numbers, even
negative ones, stay numbers. Before: the cells were written as sent, and a spreadsheet opening the export ran them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.surfaces.test_cli_errors import imported, run

YAML = """signup: {event: Signed Up}
segments: [plan]
milestones:
  - {id: first, event: Used, within: 1d, level: primary}
"""
PLANS = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3", "pro"]
EVENTS = "user_id,event,timestamp,plan\n" + "".join(
    f'u{i},Signed Up,2026-01-01T09:00:00Z,"{plan}"\nu{i},Used,2026-01-01T10:00:00Z,\n'
    for i, plan in enumerate(PLANS))


def test_a_segment_value_that_is_a_formula_is_written_as_text(tmp_path: Path) -> None:
    folder = imported(tmp_path, YAML, EVENTS)
    done = run("report", "--segment", "plan", "--csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    cells = [cell for row in csv.reader(io.StringIO(done.stdout)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) or (c.startswith("-") and not
                c.lstrip("-").replace(".", "", 1).isdigit())]
    shown = {c for c in cells if c.lstrip("'") in PLANS}
    assert shown == {"'" + p for p in PLANS[:4]} | {"pro"}
