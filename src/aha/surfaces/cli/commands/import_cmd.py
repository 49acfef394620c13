"""`aha import`: load event or user-trait files into the store, with a progress bar and a closing summary."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.errors import UserError

if TYPE_CHECKING:
    from rich.progress import TaskID

SHOWN_REASONS = 5


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)


def parse_map(items: list[str]) -> dict[str, str]:
    """`--map user_id=distinct_id,event=event_name` (repeatable, comma-separated) -> {canonical: source column}."""
    mapping: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            target, sep, column = part.partition("=")
            if not sep or not target.strip() or not column.strip():
                raise UserError(f"--map {part!r}: write CANONICAL=COLUMN, e.g. --map user_id=distinct_id.")
            mapping[target.strip()] = column.strip()
    return mapping


def import_command(
    files: list[str] = typer.Argument(
        ..., help="Files or quoted globs: .csv .tsv .jsonl .ndjson .json .parquet (.gz ok)."),
    db: Path = typer.Option(Path("aha.duckdb"), "--db", help="The DuckDB store (created if missing)."),
    map_: list[str] = typer.Option(
        [], "--map", help="canonical=source column, repeatable or comma-separated: --map user_id=distinct_id."
    ),
    timestamp_format: str | None = typer.Option(
        None, "--timestamp-format", help="strptime format of the timestamp column, e.g. '%d/%m/%Y %H:%M'."
    ),
    timezone: str = typer.Option("UTC", "--timezone", help="Zone of timestamps without an offset (IANA name)."),
    users: bool = typer.Option(False, "--users", help="The files hold user traits keyed by user_id."),
    source: str | None = typer.Option(None, "--source", help="Source name stored with each row (default: file name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_rejects: bool = typer.Option(
        False, "--allow-rejects", help="Import a file even when most of its rows are rejected (kept as dead letters)."
    ),
) -> None:
    """Import events (or, with --users, user traits); idempotent, bad rows go to dead letters.

    A file most of whose rows would be rejected is refused whole (exit 2) unless --allow-rejects is given."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aha.store import open_store
    from aha.store.files import resolve_paths
    from aha.store.importer import ImportSummary, import_files
    from aha.store.urls import require_file
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.shown_console import Console

    mapping = parse_map(map_)
    require_file(db, "aha import")
    remote.refuse_while_serving(db, "aha import", "send the events to the server's /v1/batch with a write key")
    resolve_paths(tuple(files))  # a missing file or a folder is refused before the database is made: it left an
    # empty aha.duckdb behind, which the next `aha report` read as "no events"
    console = Console(stderr=True, highlight=False)
    store = open_store(db)
    try:
        with Progress(
            TextColumn("{task.description}", markup=False),  # a file's name, as written
            BarColumn(),
            TextColumn("{task.fields[step]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=as_json,
            disable=as_json or not console.is_terminal,
        ) as bar:
            tasks: dict[str, TaskID] = {}
            steps = {0: "reading", 1: "checking", 2: "writing", 3: "done"}

            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total, step="")
                bar.update(tasks[name], completed=done, step=steps.get(done, ""))

            summary: ImportSummary = import_files(
                store,
                files,
                kind="users" if users else "events",
                mapping=mapping,
                timestamp_format=timestamp_format,
                timezone=timezone,
                source=source,
                progress=progress,
                allow_rejects=allow_rejects,
            )
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    _print_summary(summary, db)


def _print_summary(summary: object, db: Path) -> None:
    from rich.text import Text

    from aha.store.importer import ImportSummary
    from aha.surfaces.amounts import counted
    from aha.surfaces.cli.shown_console import Console

    assert isinstance(summary, ImportSummary)
    out = Console(highlight=False, soft_wrap=True)
    noun = "file" if len(summary.files) == 1 else "files"
    out.print(Text.assemble(
        (f"{len(summary.files)} {noun}", "bold"), f": {counted(summary.rows_read, 'row')} read, ",
        (f"{summary.imported} imported", "green"), f", {counted(summary.duplicates, 'duplicate')} skipped, ",
        (f"{summary.rejected} rejected", "red" if summary.rejected else ""),
    ))
    extra = []
    if summary.events and summary.imported > summary.events:  # a Segment file: events and other calls
        extra.append(f"of the imported: {summary.events} events, {summary.imported - summary.events} identify, alias "
                     "or group calls")
    if summary.identities:
        extra.append(counted(summary.identities, "identity link"))
    if summary.users_updated:
        extra.append(f"{summary.users_updated} users updated")
    if summary.accounts_updated:
        extra.append(f"{summary.accounts_updated} accounts updated")
    if extra:
        out.print("  " + ", ".join(extra))
    for f in summary.files:
        if f.left_out:
            out.print(f"  {f.file}: not kept as properties (pipeline metadata, see docs/import.md): "
                      f"{', '.join(f.left_out)}", markup=False)
        for said in f.absent:
            out.print(Text.assemble("  ", ("note:", "bold yellow"), f" {f.file}: {said}"))
        if f.unmapped_ids:
            named, first = ", ".join(f.unmapped_ids), shlex.quote(f.unmapped_ids[0])
            out.print(Text.assemble(
                "  ", ("note:", "bold yellow"),
                f" {f.file}: {named} looks like each event's own id but is kept as a property: without a message id "
                "an event's id comes from its content, so the same event in another file (a warehouse's tracks table "
                f"and its per-event table) is stored twice. To count each event once, map it in every import (--map "
                f"message_id={first}), starting from a new --db: the rows imported now keep ids from their content."))
        if f.reread:
            out.print(Text.assemble("  ", ("note:", "bold yellow"), f" {f.file} was imported before, yet none of its "
                                    f"{f.imported} rows matched a stored one: if --timezone, --timestamp-format or "
                                    "--map changed, the rows read the first time are stored too (without a message "
                                    "id, a row's identity includes its time)."))
    if summary.rejected:
        for reason, n in summary.reasons[:SHOWN_REASONS]:
            out.print(f"  {n} × {reason}", markup=False)
        out.print(
            f"  rejected rows are kept in the dead_letters table of {db} "
            "(file, line, field, reason, raw); fix them and import again.",
            markup=False,
        )
