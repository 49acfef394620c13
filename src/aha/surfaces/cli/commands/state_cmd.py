"""`aha state ID`: one user's (or account's) milestones as a checklist, the numbers `aha report` counts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.surfaces.amounts import amount, measured
from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from rich.table import Table

    from aha.guidance.checklist import ChecklistItem, ChecklistResult

MARKS = {"reached": ("✓", "green"), "in_progress": ("…", "yellow"), "missed": ("✗", "red"), "not_applicable": ("–", "")}


def register(app: typer.Typer) -> None:
    app.command("state")(state)


def state(
    entity_id: str = typer.Argument(..., metavar="ID", help="A user id (or, with --account, an account id)."),
    account: bool = typer.Option(False, "--account", help="ID is an account: its account milestones."),
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    as_of: str | None = options.AS_OF,
) -> None:
    """One user's milestone checklist: status, progress, deadline, guidance, the next milestone to push, a score."""
    from aha.guidance.checklist import ChecklistResult
    from aha.surfaces.cli import remote

    if account:
        result = remote.analysis(ChecklistResult, db, config, "account_state", account_id=entity_id, as_of=as_of)
    else:
        result = remote.analysis(ChecklistResult, db, config, "user_state", user_id=entity_id, as_of=as_of)
    if output.machine(result, "checklist", as_json, as_csv):
        return
    output.console().print(render(result))


def render(r: ChecklistResult) -> Table:
    from rich.table import Table
    from rich.text import Text

    from aha.guidance.checklist import STATUS_LABELS

    activated = {True: "activated", False: "not activated", None: ""}[r.activated]
    paid = f", paid {r.paid_at:%Y-%m-%d %H:%M}" if r.paid_at else ""
    title = (f"{r.entity_type.capitalize()} {r.entity_id}: signed up {r.signed_up_at:%Y-%m-%d %H:%M} UTC, "
             f"score {r.score:g}/100{', ' + activated if activated else ''}{paid}")
    next_up = next((i for i in r.items if i.id == r.next_milestone), None)
    caption = (f"next: {next_up.name}" + (f" — {next_up.guidance}" if next_up.guidance else "")
               if next_up else "no milestone left to push (every funnel milestone reached or its window closed)")
    t = Table(title=title, title_justify="left", caption=f"as of {r.as_of:%Y-%m-%d %H:%M} UTC; {caption}",
              caption_justify="left")
    for col in ("", "milestone", "level", "progress", "reached", "deadline", "guidance"):
        t.add_column(col, justify="right" if col == "progress" else "left")
    for item in r.items:
        said = STATUS_LABELS.get(item.status, item.status)
        t.add_row(Text(*MARKS.get(item.status, ("?", ""))), item.name, item.level, _progress(item),
                  f"{item.reached_at:%Y-%m-%d %H:%M}" if item.reached_at else said,
                  f"{item.deadline:%Y-%m-%d %H:%M}", item.guidance or "")
    return t


def _progress(item: ChecklistItem) -> str:
    if item.status == "reached":
        return f"{measured(item.progress, item.measure)} (needed {amount(item.threshold)})"
    return f"{amount(item.progress)} of {measured(item.threshold, item.measure)}"
