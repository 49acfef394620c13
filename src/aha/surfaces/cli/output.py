"""Where a command's result goes: Rich tables on a console sized to the terminal, or `--json` / `--csv` on stdout.

Every command that prints a table takes `--json` (the result object, docs/results.md) and `--csv` (the result's flat
rows, the columns of its `.to_frame()`), so a result reaches a script or a spreadsheet in one step.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aha.errors import UserError
from aha.results import to_jsonable

if TYPE_CHECKING:
    from aha.surfaces.cli.shown_console import Console

PIPED_WIDTH = 1_000  # piped or redirected: as wide as the tables need, so no cell is cut or wrapped


def console() -> Console:
    """The terminal's own width when there is one; otherwise wide enough that tables keep their natural width."""
    from aha.surfaces.cli.shown_console import Console

    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=PIPED_WIDTH)


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner with the elapsed time on stderr while `what` runs, when stderr is a terminal (never in a pipe, a
    log or `--json` output); erased when done. A cold report over 100M events takes half a minute, discovery more:
    without it the terminal looks hung."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from aha import progress as stages
    from aha.surfaces.cli import progress as shown

    class _Stage(ProgressColumn):
        """What runs now (aha.progress: the stage, its statement, DuckDB's share of it), as plain text."""

        def render(self, task: Task) -> Text:
            now = shown.describe(stages.snapshot(), elapsed=False) if shown.enabled() else ""
            return Text(f"· {now}" if now else "", style="dim")

    from aha.surfaces.cli.shown_console import Console

    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(), _Stage(),
                  console=Console(stderr=True, highlight=False), transient=True, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        progress.add_task(what, total=None)
        yield


def machine(result: Any, kind: str, as_json: bool, as_csv: bool) -> bool:
    """Print `result` as JSON or CSV when asked and return True; False means: print the tables."""
    if as_json and as_csv:
        raise UserError("--json and --csv: choose one of them.")
    if as_json:
        _echo(json.dumps(to_jsonable(result, kind), indent=2, allow_nan=False) + "\n")
    elif as_csv:
        rows = result.section_rows() if hasattr(result, "section_rows") else result.rows()
        _echo(csv_text(rows))
    return as_json or as_csv


def _echo(text: str) -> None:
    """`typer.echo` for text, without importing Typer (a kept report prints before it is imported: cli/main.py)."""
    sys.stdout.write(text)
    sys.stdout.flush()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula (OWASP, "CSV Injection")


def cell_text(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run as a formula (`=cmd|' /C calc'!A0`, a segment named by a user's
    property value) gets a leading `'`, which spreadsheets show as text; numbers (`-3`) are left as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV: the union of their keys as the header (first seen first), null as an empty cell, datetimes and
    dates in ISO 8601 as in the JSON, text that would start a formula quoted (`cell_text`)."""
    header = list(dict.fromkeys(k for row in rows for k in row))
    if not header:  # no rows: nothing to write (not even a blank header line)
        return ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell_text(k) for k in header])
    for row in rows:
        writer.writerow(["" if (v := to_jsonable(row.get(k))) is None else cell_text(v) for k in header])
    return buffer.getvalue()
