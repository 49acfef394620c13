"""The HTML report with hostile milestone names and event data, in Debian's chromium (docs/ingest.md, "What users
send, shown"): markup and template syntax are shown as text (no dialog, `{{7*7}}` never 49), and a 400-character
name wraps inside its cell. Before: the milestone table was 4,581 px wide on a 1,280 px page (the name never broke)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.serving import AHA, aha, rows
from tests.surfaces.test_browser import browser, page  # noqa: F401  (fixtures)

NAMES = ['"><img src=x onerror=alert(1)>', "{{7*7}}", "<script>alert(2)</script>", "A" * 400]


def test_hostile_names_in_the_html_report_are_text_and_keep_the_layout(page: Any, tmp_path: Path) -> None:  # noqa: F811
    done = aha("sample", "--users", "200", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "aha.duckdb"
    signups = rows(db, "SELECT user_id, min(timestamp) FROM events WHERE event = 'Signed Up' GROUP BY 1 "
                       "ORDER BY 1 LIMIT 40")
    lines = [json.dumps({"user_id": user, "event": NAMES[k % len(NAMES)], "properties": {NAMES[k % 3]: NAMES[k % 3]},
                         "timestamp": (t + timedelta(minutes=5)).isoformat() + "Z"})
             for k, (user, t) in enumerate(signups) if isinstance(t, datetime)]
    (tmp_path / "hostile.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = aha("import", "hostile.jsonl", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "aha.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "".join(
        f"\n  - id: hostile{i}\n    name: {json.dumps(name)}\n    event: {json.dumps(name)}\n    within: 1d\n"
        for i, name in enumerate(NAMES)), encoding="utf-8")
    out = tmp_path / "report.html"
    done = subprocess.run([AHA, "report", "--html", str(out), "--db", "aha.duckdb"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, check=False)  # a cold report: minutes at load 14
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<script>alert" not in html
    page.goto(out.as_uri())
    text = page.inner_text("body")
    for name in NAMES:
        assert name in text  # shown, as text
    assert "49" not in text.split("{{7*7}}")[0][-3:]
    assert page.problems == []  # no dialog, no script error
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
