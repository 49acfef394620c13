"""The README's first run on an export without a paid event (tried from outside): `aha init --db` writes no `paid:`
section, and `aha report --html` then failed whole with 'aha paths splits users by conversion: add a `paid:`
section' (no file written). Now the page is written and says why drop-off paths are not drawn."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serving import aha


def test_report_html_and_png_without_a_paid_section(tmp_path: Path) -> None:
    lines = []
    for i in range(12):
        lines.append({"event": "signup", "user_id": f"u{i}", "timestamp": f"2026-01-{1 + i:02d}T10:00:00Z"})
        if i % 2:
            lines.append({"event": "<script>alert(1)</script>", "user_id": f"u{i}",
                          "timestamp": f"2026-01-{1 + i:02d}T11:00:00Z"})
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    for args in (("import", "e.jsonl"), ("init", "--db", "aha.duckdb")):
        done = aha(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "paid:" not in (tmp_path / "aha.yaml").read_text().replace("# paid:", "")
    done = aha("report", "--html", "r.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text()
    assert "Not drawn: drop-off paths split users by conversion; add a `paid:` section" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    done = aha("report", "--png", "charts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "charts" / "funnel.png").exists()
