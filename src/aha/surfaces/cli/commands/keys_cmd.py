"""`aha keys create|list|revoke`: write keys for sources (each key's name is the source of its events), read keys."""

from __future__ import annotations

import json
from pathlib import Path

import typer

keys_app = typer.Typer(help="API keys: write keys send events; read keys query. Stored hashed.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


DB = typer.Option(Path("aha.duckdb"), "--db", help="The DuckDB store.")


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Source name, e.g. web or backend; stored with every event."),
    kind: str = typer.Option("write", "--kind", help="write (send events) or read (query)."),
    db: Path = DB,
) -> None:
    """Create a key and print it once (only its hash is kept: store it now)."""
    from aha.ingest.keys import create_key
    from aha.store import open_store
    from aha.store.urls import require_file
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.shown_console import Console

    require_file(db, "aha keys create")
    served = remote.post(db, "/v1/admin/keys", {"name": name, "kind": kind})
    if served is not None:
        key = str(served["key"])
    else:
        store = open_store(db)
        try:
            key = create_key(store, name, kind)
        finally:
            store.close()
    typer.echo(key)
    Console(stderr=True, highlight=False).print(
        f"{kind} key {name!r} created; it is shown only now."
        + (" The running `aha serve` accepts it already." if served is not None else "")
    )


@keys_app.command("list")
def list_(db: Path = DB, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Keys by name, kind and state (the keys themselves cannot be shown: only hashes are stored)."""
    from aha.ingest.keys import KeyInfo, list_keys
    from aha.results import from_jsonable
    from aha.store import open_store
    from aha.surfaces.cli import remote

    served = remote.post(db, "/v1/query/keys")
    if served is not None:
        keys = [from_jsonable(KeyInfo, k) for k in served]
    else:
        store = open_store(db, read_only=True)
        try:
            keys = list_keys(store)
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps([{"name": k.name, "kind": k.kind, "created_at": k.created_at.isoformat() + "Z",
                                "revoked": k.revoked_at is not None} for k in keys]))
        return
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        typer.echo(f"{k.name}\t{k.kind}\t{state}\tcreated {k.created_at:%Y-%m-%d %H:%M}")


@keys_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name."), db: Path = DB) -> None:
    """Revoke a key: its calls get 401 (a running server applies it at once)."""
    from aha.ingest.keys import revoke_key
    from aha.store import open_store
    from aha.surfaces.cli import remote

    if remote.post(db, f"/v1/admin/keys/{name}/revoke") is None:
        store = open_store(db)
        try:
            revoke_key(store, name)
        finally:
            store.close()
    typer.echo(f"revoked {name}")
