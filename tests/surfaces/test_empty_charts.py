"""Charts with nothing to draw, as a user meets them: the page's own sentence instead of an empty axis, and
`aha report --png` naming what it did not write instead of leaving an empty folder without a word."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.serving import LOCAL, aha

DEFINITIONS = """
signup: {event: signup}
paid: {event: purchase, within: 14d}
milestones:
  - {id: connect, name: Connected, level: primary, event: connect, within: 7d}
"""


def store(folder: Path, events: list[tuple[str, str, str]]) -> Path:
    lines = [json.dumps({"user_id": u, "event": e, "timestamp": t}) for u, e, t in events]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "aha.yaml").write_text(DEFINITIONS, encoding="utf-8")
    done = aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb"


def test_png_export_without_a_signup_says_what_it_did_not_write(tmp_path: Path):
    """One user, no signup event: before, `--png charts/` printed nothing, exited 0 and left the folder empty."""
    store(tmp_path, [("x", "ping", "2026-01-01T00:00:00Z")])
    done = aha("report", "--png", "charts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "charts").iterdir()) == []
    assert "not written, nothing to draw: activation, funnel, time-to-value, kaplan-meier, drop-off, retention" \
        in done.stdout
    assert "0 signed-up users" in done.stdout
    text = aha("report", cwd=tmp_path).stdout  # before: the overview, then nothing about the other sections
    assert "Funnel, time to value, activation: nobody to count as of 2026-01-01 00:00 UTC: no signed-up user yet" \
        in text


def test_a_funnel_whose_every_window_is_open_shows_the_pages_sentence(tmp_path: Path):
    """As of the signup day of the only user (window 7d, open): every step counts 0 users. Before, the funnel
    was an empty chart on a '0'-centred axis, in the PNG and on the page, and the page's sentence for this case
    never showed; the histogram of time to value likewise when nobody had reached a milestone."""
    from aha.surfaces.web.local import create_dashboard

    db = store(tmp_path, [("s1", "signup", "2026-03-01T00:00:00Z"), ("s1", "connect", "2026-03-05T00:00:00Z"),
                          ("s1", "ping", "2026-03-20T00:00:00Z")])
    with TestClient(create_dashboard(db, tmp_path / "aha.yaml"), base_url=LOCAL) as client:
        funnel = client.get("/funnel?as_of=2026-03-01")
        timing = client.get("/time-to-value?as_of=2026-03-01")
        later = client.get("/funnel")
    assert funnel.status_code == 200 and timing.status_code == 200
    assert "Nobody to show: every signup still has a step window open." in funnel.text
    assert "Nobody has reached a milestone yet." in timing.text
    assert "Nobody to show" not in later.text and "<svg" in later.text  # as of the latest event: 1 user, drawn
    done = aha("report", "--png", "charts", "--as-of", "2026-03-01", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "charts" / "funnel.png").exists() and "funnel" in done.stdout.split("nothing to draw")[1]


def test_validation_and_retention_with_every_window_open_say_so(tmp_path: Path):
    """As of the signup day: `aha evaluate` and `aha retention` printed nothing at all (exit 0), `aha paths` on a
    store without a signup a blank line, and /milestones a validation section without a table or a word."""
    from aha.surfaces.web.local import create_dashboard

    db = store(tmp_path, [("s1", "signup", "2026-03-01T00:00:00Z"), ("s1", "connect", "2026-03-05T00:00:00Z"),
                          ("s1", "ping", "2026-04-20T00:00:00Z")])
    for command, what in (("evaluate", "Milestones vs outcomes"), ("retention", "Retention")):
        done = aha(command, "--as-of", "2026-03-01", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{what}: nobody to count as of 2026-03-01 23:59 UTC."), (command, done.stdout)
        later = aha(command, cwd=tmp_path)  # as of the latest event every window has closed: 1 user, counted
        assert "nobody to count" not in later.stdout and "│" in later.stdout, (command, later.stdout)
    with TestClient(create_dashboard(db, tmp_path / "aha.yaml"), base_url=LOCAL) as client:
        page = client.get("/milestones?as_of=2026-03-01")
    assert "Nobody to compare yet" in page.text
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    store(nobody, [("x", "ping", "2026-01-01T00:00:00Z")])  # no signup: paths has no group at all
    done = aha("paths", cwd=nobody)
    assert done.stdout.startswith("Milestone orders and drop-off: nobody to count as of 2026-01-01 00:00 UTC.")
    with TestClient(create_dashboard(nobody / "aha.duckdb", nobody / "aha.yaml"), base_url=LOCAL) as client:
        page = client.get("/funnel")  # before: "every signup still has a step window open", with no signup at all
    assert "Nobody to show: nobody has signed up" in page.text and "every signup still" not in page.text
