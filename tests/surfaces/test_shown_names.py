"""Names that would act on a screen (ANSI escapes, a bidi override, CR, a one-byte CSI, a zero-width space) are
stored as sent and shown escaped on every surface (docs/semantics.md, "Names shown"; aha.surfaces.visible): the
CLI's report in a pipe, and the dashboard's pages and charts in Debian's chromium against `aha serve`. Before, Rich
wrote ESC, U+202E and U+009B to the terminal as they were, and the pages and charts drew them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.serving import aha, rows, running
from tests.surfaces.test_browser import VIEWS, browser, page, settled  # noqa: F401  (fixtures)

SPOOF = ["\x1b[2J\x1b[31mRED", "txt\u202eexe.cmd", "Sign\u200bUp", "over\rwrite", "csi\x9b31m", "two\nlines"]
RAW = ["\x1b", "\u202e", "\u200b", "\r", "\x9b"]  # none of these may reach a screen
ESCAPED = ["\\u001b[2J\\u001b[31mRED", "txt\\u202eexe.cmd", "Sign\\u200bUp", "over\\u000dwrite", "csi\\u009b31m"]


@pytest.fixture(scope="module")
def spoof_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spoof")
    done = aha("sample", "--users", "200", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    db = folder / "aha.duckdb"
    signups = rows(db, "SELECT user_id, min(timestamp) FROM events WHERE event = 'Signed Up' GROUP BY 1 "
                       "ORDER BY 1 LIMIT 60")
    lines = [json.dumps({"user_id": user, "event": SPOOF[k % len(SPOOF)], "properties": {"kind": SPOOF[k % 3]},
                         "timestamp": (t + timedelta(minutes=5)).isoformat() + "Z"})
             for k, (user, t) in enumerate(signups) if isinstance(t, datetime)]
    (folder / "spoof.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = aha("import", "spoof.jsonl", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    stored = {name for (name,) in rows(db, "SELECT DISTINCT event FROM events")}
    assert set(SPOOF) <= stored  # stored as sent
    config = folder / "aha.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "".join(
        f"\n  - id: spoof{i}\n    name: {json.dumps(name)}\n    event: {json.dumps(name)}\n    within: 1d\n"
        for i, name in enumerate(SPOOF)), encoding="utf-8")
    return db


@pytest.fixture(scope="module")
def served(spoof_db: Path) -> Iterator[Any]:
    with running(spoof_db) as server:
        yield server


def test_the_cli_report_writes_no_character_that_acts_on_the_terminal(spoof_db: Path):
    done = aha("report", "--db", "aha.duckdb", cwd=spoof_db.parent)
    assert done.returncode == 0, done.stderr
    assert [c for c in RAW if c in done.stdout] == []
    for name in ESCAPED:
        assert name in done.stdout  # shown, escaped, not dropped


def test_the_dashboard_and_its_charts_show_such_names_escaped(served: Any, page: Any):  # noqa: F811
    seen = ""
    for path in VIEWS:
        page.goto(served.url + path)
        settled(page)
        text = str(page.inner_text("body")) + "".join(str(t) for t in page.locator("svg").all_text_contents())
        assert [c for c in RAW if c in text] == [], path
        seen += text
    for name in ESCAPED:
        assert name in seen  # shown, escaped, on some page
    assert page.problems == []


@pytest.mark.parametrize("name", ["🙂" * 50, "a🙂" * 30, "👨‍👩‍👧" * 10, "x" * 10_000, "txt\u202eexe.cmd"])
def test_a_chart_with_a_long_emoji_or_spoofing_name_renders(name: str):
    """vl-convert's own cut of a label wider than its limit split an emoji's UTF-16 pair and failed the whole chart
    ("unexpected end of hex escape"), and took 19 s of CPU for a 10,000-character name: texts are cut before."""
    import altair as alt

    from aha.surfaces.web import charts

    chart = charts._config(alt.Chart(alt.Data(values=[{"m": name, "v": 1}, {"m": "Signed Up", "v": 2}]))
                           .mark_bar().encode(y="m:N", x="v:Q", color="m:N"))
    assert charts.png(chart).startswith(b"\x89PNG")
    svg = charts.svg(chart)
    assert "Signed Up" in svg and "\u202e" not in svg


def test_an_error_quoting_a_users_value_shows_its_brackets(tmp_path: Path):
    """The error line is Rich markup (`[bold red]error:[/]`); a value quoted in it was parsed as markup too, so an id
    `[red]m[/red]` was shown as `'m'`, which the message then said did not match the pattern."""
    (tmp_path / "aha.yaml").write_text('signup: {event: S}\nmilestones:\n'
                                       '  - {id: "[red]m[/red]", event: E, within: 1d, level: primary}\n')
    done = aha("validate", "aha.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "'[red]m[/red]'" in done.stderr, done.stderr


def test_emoji_codes_in_names_and_values_are_shown_as_written(tmp_path: Path):
    """Rich replaced `:x:`, `:+1:` and every other emoji code in any string it printed: a segment value `:x: pro`
    was shown as `❌ pro`, a Slack-style event `Reacted :+1:` as `Reacted 👍` (and `--db MotherDuck:x` as
    `MotherDuck❌`). Hand-made: 3 users, each a signup with plan `:x: pro` and one `Reacted :+1:` an hour later."""
    lines = [json.dumps({"event": event, "user_id": f"u{u}", "timestamp": f"2024-01-0{u + 1}T{hour}:00:00Z",
                         "properties": props})
             for u in range(3) for event, hour, props in (("Signed Up", 10, {"plan": ":x: pro"}),
                                                          ("Reacted :+1:", 11, {}))]
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert aha("import", "e.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    (tmp_path / "aha.yaml").write_text('version: 1\nsignup: {event: Signed Up}\nmilestones:\n'
                                       '  - {id: r, name: "Reacted :+1:", level: primary, event: "Reacted :+1:", '
                                       'within: 1d}\n', encoding="utf-8")
    done = aha("report", "--db", "aha.duckdb", "--segment", "plan", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ":x: pro" in done.stdout and "Reacted :+1:" in done.stdout
    assert "\u274c" not in done.stdout and "\U0001f44d" not in done.stdout
    missing = aha("report", "--db", "no:x:", cwd=tmp_path)
    assert "no:x:" in missing.stderr and "\u274c" not in missing.stderr, missing.stderr
