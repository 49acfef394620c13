"""`aha init` and `aha schema`: start a definitions file, and give editors its JSON Schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import typer

from aha.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("schema")(schema)


def init(
    path: Path = typer.Argument(Path("aha.yaml"), help="Where to write the definitions file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    db: Path | None = typer.Option(None, "--db", help="Read this event store and propose definitions from its "
                                   "events (signup, paid, retention, candidate milestones with counts)."),
) -> None:
    """Write a commented aha.yaml to start from: the bundled example, or with --db one proposed from your events."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it, or choose another path.")
    if db is not None:
        return _from_events(path, db)
    text = resources.files("aha.definitions").joinpath("template.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}: edit the event names to match your data, then run `aha validate`.")


def _from_events(path: Path, db: Path) -> None:
    from aha.analyses.proposal import propose, to_yaml
    from aha.definitions.models import Signup
    from aha.store import open_store, urls
    from aha.surfaces.cli import remote

    if not db.exists() and urls.parse(db).is_file:  # a location read in place (parquet:, spark:) is no file
        raise UserError(f"--db {db}: no such database. Import your events first: `aha import FILE --db {db}`.")
    remote.refuse_while_serving(db, "aha init --db", "write the file with `aha init` and edit it")
    store = open_store(db, read_only=True)
    try:
        proposal = propose(store)
    finally:
        store.close()
    first_seen = "first_seen" in Signup.model_fields
    path.write_text(to_yaml(proposal, str(db), first_seen), encoding="utf-8")
    from aha.surfaces.visible import visible

    # Said as the file says it: the file took first_seen while this line named the usual first event.
    signup = proposal.signup or ("first seen (no signup-like event: t0 = each user's first event)" if first_seen else
                                 f"{proposal.start} (no signup-like event: the event users most often start with)")
    typer.echo(visible(f"wrote {path} from {proposal.users:,} users: signup {signup}; paid "  # event names: data
                       f"{proposal.paid or 'none found (add a paid: section)'}; retention day "
                       f"{proposal.retention_day}. Check it, then run `aha report`."))


def schema() -> None:
    """Print the JSON Schema of the definitions file (for editor completion and checks)."""
    from aha.definitions import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
