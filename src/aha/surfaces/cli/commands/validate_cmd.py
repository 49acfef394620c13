"""`aha validate`: check a definitions file, and against a database when one is given."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from aha.surfaces.cli import options


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    config: Path = typer.Argument(Path("aha.yaml"), help="The definitions file."),
    db: Path = options.DB,
    as_json: bool = options.JSON,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
) -> None:
    """Check the definitions: schema errors exit 2; event names absent from the data are warnings."""
    from rich.text import Text

    from aha.analyses import checks
    from aha.definitions import load
    from aha.results import to_jsonable
    from aha.store import open_store, urls
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.shown_console import Console

    definitions = load(config)
    served = remote.ask(checks.ChecksResult, db, config, "validate")
    # a location read in place (parquet:, spark:) is never a file that exists: opened, not skipped as "not found"
    found = db.exists() or not urls.parse(db).is_file
    store = open_store(db, read_only=True) if served is None and found else None
    result = served or checks.run(definitions, str(config), store)
    if as_json:
        typer.echo(json.dumps(to_jsonable(result, "checks"), indent=2))
    else:
        console = Console(highlight=False, soft_wrap=True)
        against = (f" against {db} ({result.events_in_data:,} events)" if store or served
                   else f" ({db} not found: schema only)")
        console.print(Text.assemble(("ok", "green"), f" {config}: {result.milestones} milestones, primary "
                                    f"{result.primary!r}, hash {result.definitions_hash}{against}"))
        for f in result.findings:
            colour = "yellow" if f.level == "warning" else "blue"
            console.print(Text.assemble((f"{f.level}:", colour), f" {config}: {f.path}: {f.message}"))
    if strict and result.warnings:
        raise typer.Exit(1)
