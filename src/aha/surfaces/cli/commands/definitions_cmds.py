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
) -> None:
    """Write a commented aha.yaml to start from."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it, or choose another path.")
    text = resources.files("aha.definitions").joinpath("template.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}: edit the event names to match your data, then run `aha validate`.")


def schema() -> None:
    """Print the JSON Schema of the definitions file (for editor completion and checks)."""
    from aha.definitions import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
