"""`aha dashboard`: the dashboard on a database, read-only, without the tracking server."""

from __future__ import annotations

from pathlib import Path

import typer

from aha.surfaces.cli import options


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_command)


def dashboard_command(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; any but the loopback interface "
                             "asks browsers for a read key (`aha keys create --kind read`)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1,
                                  help="Seconds a client has to send a request's body (its headers: a third of it)."),
) -> None:
    """Serve the dashboard (/, /funnel, /time-to-value, /retention, /milestones, /users/ID) until Ctrl-C.

    No events are received: use `aha serve`, which serves the same pages beside the tracking API, for that.
    Connections are bounded as `aha serve`'s are (docs/ingest.md, "Limits"): a client that holds one open without
    sending its request is disconnected.
    """
    from aha.errors import UserError
    from aha.surfaces.cli import remote
    from aha.surfaces.web.local import create_dashboard
    from aha.surfaces.web.pages import LOOPBACK

    remote.refuse_while_serving(db, "aha dashboard", "open the running server's own dashboard at its address")
    if not db.exists():
        raise UserError(f"{db}: no such database. Create one with `aha sample` or `aha import FILE --db {db}`.")
    from aha.store import open_store

    open_store(db).close()  # a damaged file, or a lock another process holds, is one line here (as `aha serve`
    # does), not uvicorn's traceback from the app's startup and "Application startup failed"
    from aha.surfaces.api.limits import serve

    app = create_dashboard(db, config, requires_key=host not in LOOPBACK, body_seconds=timeout)
    typer.echo(f"dashboard: http://{host}:{port}/")
    # The tracking server's bounds (header and body deadlines, open connections): plain uvicorn held a connection
    # that sent half a request head for ever, and any number of them (file descriptors: then every accept fails).
    serve(app, host, port, header_seconds=timeout / 3, log_level="warning")
