"""`aha dead-letters`: what was refused, grouped by reason with an example; `--replay` stores what now passes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("dead-letters")(dead_letters_command)


def dead_letters_command(
    db: Path = typer.Option(Path("aha.duckdb"), "--db", help="The DuckDB store."),
    replay_: bool = typer.Option(False, "--replay", help="Re-validate and store the ones that now pass (idempotent)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List refused calls and rows by reason (server and import); replay them after a fix."""
    from aha.ingest.deadletters import ReasonGroup, ReplayResult, replay, summarise
    from aha.ingest.service import now_utc
    from aha.results import from_jsonable
    from aha.store import open_store
    from aha.surfaces.cli import remote

    served = remote.post(db, "/v1/admin/dead-letters/replay" if replay_ else "/v1/query/dead-letters")
    store = open_store(db, read_only=not replay_) if served is None else None
    try:
        if replay_:
            result = from_jsonable(ReplayResult, served) if store is None else replay(store, now_utc())
            if as_json:
                typer.echo(json.dumps(asdict(result)))
            else:
                typer.echo(
                    f"{result.examined} dead letters: {result.stored} stored now, {result.duplicates} duplicates of "
                    f"stored calls (kept), {result.still_rejected} still rejected, {result.not_replayable} from file "
                    "imports (re-run aha import after fixing the file)"
                )
            return
        groups = summarise(store) if store is not None else [from_jsonable(ReasonGroup, g) for g in served or []]
    finally:
        if store is not None:
            store.close()
    if as_json:
        typer.echo(json.dumps([asdict(g) for g in groups]))
        return
    if not groups:
        typer.echo("no dead letters")
        return
    from aha.surfaces.visible import visible

    # Every part of a letter is what a client sent (an unauthenticated one too: the body as it came, when it was not
    # JSON), so each is made visible: an ESC in it would act on the operator's terminal (retitle it, clear it, write
    # the clipboard through OSC 52) and a newline would forge a line of this list.
    for g in groups:
        typer.echo(f"{g.count:>7} × {visible(g.reason)}  [field {visible(g.field or '-')}; sources "
                   f"{visible(', '.join(g.sources))}]")
        typer.echo(f"          e.g. {visible(g.example)}")
        if g.locations:
            more = g.count - len(g.locations)
            typer.echo(f"          at {visible(', '.join(g.locations))}" + (f" (+{more} more)" if more > 0 else ""))
