"""Options shared by the analysis commands, so every command spells them the same way."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from aha.surfaces.cli.main import CONFIG as DEFAULT_CONFIG
from aha.surfaces.cli.main import DB as DEFAULT_DB

DB = typer.Option(Path(DEFAULT_DB), "--db", help="The DuckDB event store.")
CONFIG = typer.Option(Path(DEFAULT_CONFIG), "--config", "-c", help="The definitions file.")
JSON = typer.Option(False, "--json", help="Print the result objects as JSON (shape in docs/results.md).")
CSV = typer.Option(False, "--csv", help="Print the result's rows as CSV (the columns of .to_frame()).")
SEGMENT = typer.Option(None, "--segment", "-s", metavar="<trait>",
                       help="Break down by a user trait or signup-event property.")
AS_OF = typer.Option(None, "--as-of", metavar="<date|time>",
                     help="Analyse as of this UTC date or time (default: the latest event).")


class Level(StrEnum):
    user = "user"
    account = "account"


LEVEL = typer.Option(Level.user, "--level", help="The unit counted: user, or account (an account signs up with its "
                     "earliest member and converts when any member pays inside the horizon).")
ACCOUNT_NOTE = ("accounts as the unit: an account signs up with its earliest member, its milestones are the account "
                "milestones, and it converts when any member pays inside the horizon from its signup")


def level_options(level: Level) -> dict[str, str]:
    """`level` as a Project option, only when not the default (a server of an older aha knows no `level`)."""
    return {"level": level.value} if level == Level.account else {}


SIGNUPS_FROM = typer.Option(None, "--from", metavar="<YYYY-MM-DD>",
                            help="Only users who signed up on or after this UTC day (signup cohorts).")
SIGNUPS_TO = typer.Option(None, "--to", metavar="<YYYY-MM-DD>",
                          help="Only users who signed up before this UTC day (excluded: --from 2026-03-01 "
                               "--to 2026-04-01 is March).")
