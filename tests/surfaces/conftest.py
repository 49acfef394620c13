"""A sample whose event data is hostile: a milestone on an event named `<script>alert(1)</script>` (its label too),
and users whose plan trait is that string, to show every surface renders what users' apps send as text."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.serving import aha, rows

    folder = tmp_path_factory.mktemp("hostile")
    done = aha("sample", "--users", "300", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    db = folder / "aha.duckdb"
    signups = rows(db, "SELECT user_id, min(timestamp) FROM events WHERE event = 'Signed Up' "
                       "GROUP BY 1 ORDER BY 1 LIMIT 40")
    lines = [json.dumps({"user_id": user, "event": HOSTILE, "properties": {"kind": HOSTILE},
                         "timestamp": (t + timedelta(minutes=5)).isoformat() + "Z"})
             for user, t in signups[:20] if isinstance(t, datetime)]
    (folder / "hostile.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "users.csv").write_text("user_id,plan\n" + "".join(f"{u},{HOSTILE}\n" for u, _ in signups[20:]),
                                      encoding="utf-8")
    for args in (("hostile.jsonl",), ("users.csv", "--users")):
        done = aha("import", *args, "--db", "aha.duckdb", cwd=folder)
        assert done.returncode == 0, done.stderr
    config = folder / "aha.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\n  - id: hostile\n"
                      f"    name: {json.dumps(HOSTILE)}\n    event: {json.dumps(HOSTILE)}\n    within: 1d\n",
                      encoding="utf-8")
    return db
