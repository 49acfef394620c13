"""Names from a user's data or aha.yaml that look like Rich markup are shown as written by every CLI command
(docs/semantics.md, "Names shown"). Before, the CLI's consoles parsed them: an event `[bold red]signup[/]` printed
as a red "signup", `[link=https://evil.example]x[/link]` as a hyperlink "x", and a stray `[/]` failed the command
with Rich's MarkupError (a traceback)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from aha.store import open_store
from tests.journeys import write_events

RED = "[bold red]signup[/]"
LINK = "[link=https://evil.example]x[/link]"
CLOSE = "[/]"
USER = "[red]u1[/red]"  # a user id
ACCOUNT = "[i]acme[/i]"
PLAN = "[b]pro[/b]"  # a segment value
SIGNAL = "[blink]Team[/blink]"
TEAM = "[green]team milestone[/green]"
GUIDANCE = "[magenta]Connect[/magenta] now"

YAML = f"""
signup: {{event: Signed Up}}
paid: {{event: Paid, within: 10d}}
segments: [plan]
funnel: [red]
milestones:
  - {{id: red, name: "{RED}", event: "{RED}", within: 7d, level: primary, guidance: "{GUIDANCE}"}}
  - {{id: link, name: "{LINK}", event: "{LINK}", within: 7d}}
  - {{id: close, name: "{CLOSE}", event: "{CLOSE}", within: 7d}}
  - {{id: team_m, name: "{TEAM}", entity: account, members_reached: {{milestone: red, at_least: 1}}, within: 30d}}
signals:
  - {{id: team, name: "{SIGNAL}", milestones: [team_m]}}
rules:
  - {{id: nudge, when: {{not_reached: close, after: 1h}}, then: {{in_app: "{GUIDANCE}"}}, late_after: 30d}}
"""


def _events() -> list[tuple[object, ...]]:
    """80 users (enough for discovery's 30 on each side), half of whom do LINK and pay the next day."""
    rows: list[tuple[object, ...]] = []
    for k, user in enumerate([USER, CLOSE, *(f"u{i}" for i in range(78))]):
        day = f"2026-01-0{k % 5 + 1}"
        extra = {"account_id": ACCOUNT if k < 2 else "beta"}
        rows.append((user, "Signed Up", f"{day}T00:00", {"plan": PLAN if k % 2 == 0 else "free"}, extra))
        rows.append((user, RED, f"{day}T01:00", {"plan": PLAN}, extra))
        if k % 2 == 0:
            rows.append((user, LINK, f"{day}T02:00", {}, extra))
            rows.append((user, "Paid", f"{day}T09:00", {}, extra))
    return rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("markup")
    store = open_store(folder / "aha.duckdb")
    write_events(store, _events())
    store.close()
    (folder / "aha.yaml").write_text(YAML, encoding="utf-8")
    return folder


def run(folder: Path, *args: str) -> str:
    import typer
    from typer.testing import CliRunner

    from aha.surfaces.cli import app as cli

    cli._register()
    app: typer.Typer = cli.app
    with contextlib.chdir(folder):  # aha.yaml and aha.duckdb, the defaults
        done = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output and "MarkupError" not in done.output
    return done.output


AS_OF = ["--as-of", "2026-02-01T00:00:00"]
COMMANDS = [
    (["report", *AS_OF, "--segment", "plan"], [RED, PLAN]),
    (["validate"], [CLOSE, "warning: "]),  # aha's own styling is still no markup text
    (["state", USER, *AS_OF], [USER, RED, LINK, CLOSE, GUIDANCE]),
    (["accounts", *AS_OF], [ACCOUNT]),
    (["accounts", ACCOUNT, *AS_OF], [ACCOUNT, SIGNAL, USER, CLOSE]),
    (["paths", *AS_OF], [RED, TEAM]),
    (["evaluate", *AS_OF], [RED, LINK, CLOSE]),
    (["rules", "run", "--dry-run", "--as-of", "2026-01-10T00:00:00"], [USER, CLOSE]),
    (["rules", "run", "--as-of", "2026-01-10T00:00:00"], [USER, CLOSE]),
    (["interventions", "--limit", "100"], [USER, CLOSE]),
]


@pytest.mark.parametrize(("args", "names"), COMMANDS, ids=[" ".join(a[:2]) for a, _ in COMMANDS])
def test_a_name_that_looks_like_rich_markup_is_shown_as_written(folder: Path, args: list[str], names: list[str]):
    shown = run(folder, *args)
    for name in names:
        assert name in shown, name
