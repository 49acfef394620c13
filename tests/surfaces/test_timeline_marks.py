"""The user page's timeline marks a window's end with the checklist's own signs (`aha state`: ✗ missed, … open),
characters the fonts of a stock Debian chromium draw. The stopwatch U+23F1 it used is in none of them (fc-list
:charset=23f1 is empty there): every missed window showed as an empty box."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.serving import LOCAL, aha


def test_window_ends_are_marked_missed_or_open_with_the_checklists_signs(tmp_path: Path):
    (tmp_path / "aha.yaml").write_text("""
signup: {event: signup}
milestones:
  - {id: connect, name: Connected, level: primary, event: connect, within: 7d}
  - {id: invite, name: Invited, level: secondary, event: invite, within: 30d}
""", encoding="utf-8")
    events = [("u", "signup", "2026-03-01T00:00:00Z"), ("u", "ping", "2026-03-20T00:00:00Z")]
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps({"user_id": u, "event": e, "timestamp": t})
                                                for u, e, t in events) + "\n", encoding="utf-8")
    assert aha("import", "e.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    from aha.surfaces.web.local import create_dashboard

    with TestClient(create_dashboard(tmp_path / "aha.duckdb", tmp_path / "aha.yaml"), base_url=LOCAL) as client:
        page = client.get("/users/u").text
    rows = {re.sub(r"<[^>]+>", "", m.group(2)): m.group(1)
            for m in re.finditer(r'<td class="[^"]*" aria-hidden="true">([^<]*)</td><td data-metric="[^"]+">'
                                 r"(.*?)</td>", page)}
    assert rows["window ends: Connected"] == "✗"  # 2026-03-08, missed as of 2026-03-20
    assert rows["window ends: Invited"] == "…"  # 2026-03-31, still open
    assert "⏱" not in page
