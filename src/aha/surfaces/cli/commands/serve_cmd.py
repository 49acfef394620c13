"""`aha serve`: the tracking API (Segment-compatible) on one database, until Ctrl-C."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from aha.errors import UserError


class AccessLog(StrEnum):
    """`--access-log` (aha.surfaces.api.limits: why failures only by default)."""

    all = "all"
    errors = "errors"
    off = "off"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    db: Path = typer.Option(Path("aha.duckdb"), "--db", help="The DuckDB store (created if missing)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    cors: list[str] = typer.Option([], "--cors-origin", help="Origin allowed to call from a browser (repeatable)."),
    no_fsync: bool = typer.Option(False, "--no-fsync", help="Skip fsync (a crash may lose acknowledged calls)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="The definitions file behind "
                                       "/v1/users/{id}/milestones (default: aha.yaml when it exists; reloaded when "
                                       "it changes)."),
    rules_every: float = typer.Option(60.0, "--rules-every", min=0, help="Seconds between passes of the rules "
                                      "(evaluate, record, send due nudges); 0 turns the schedule off."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1,
                                  help="Seconds a client has to send a request's body (its headers: a third of it)."),
    max_connections: int = typer.Option(1000, "--max-connections", min=1,
                                        help="Open connections at most, all processes together (each process: "
                                        "its share, lowered to fit the file-descriptor limit)."),
    max_in_flight: int = typer.Option(200_000, "--max-in-flight", min=1,
                                      help="Calls acknowledged but not yet stored, at most; past it: 429."),
    workers: int | None = typer.Option(None, "--workers", min=1, max=64,
                                       help="Processes accepting HTTP: this one (the store's) and N - 1 that "
                                       "decode and validate tracking calls and hand them to it (default: one per "
                                       "core but one, at most 8; one on two cores or fewer)."),
    access_log: AccessLog = typer.Option(AccessLog.errors, "--access-log", help="A log line for each answer of "
                                         "status 400 or more (errors), for every request (all), or none (off)."),
) -> None:
    """Serve /v1/track, /v1/identify, /v1/group, /v1/alias, /v1/page, /v1/screen, /v1/batch and the read API.

    The dashboard's pages are at / (a read key is asked for when --host is not the loopback interface).
    While it runs, other aha commands on the same --db ask it (through DB.server.json) instead of opening the file.
    """
    from aha.ingest import running
    from aha.store import open_store
    from aha.store.urls import require_file
    from aha.surfaces.api import create_app
    from aha.surfaces.api.limits import ACCEPT_BACKLOG, serve
    from aha.surfaces.api.worker import Workers, default_workers, listening_socket
    from aha.surfaces.web.pages import LOOPBACK

    require_file(db, "aha serve")
    live = running.find_live(db)
    if live is not None:
        raise UserError(f"--db {db}: already served by `aha serve` (pid {live.pid}) at {live.url}. "
                        "Send events there, or stop that server first.")
    open_store(db).close()  # a bad --db, or a lock another process holds, is one line here rather than a traceback

    definitions = config if config is not None else (Path("aha.yaml") if Path("aha.yaml").exists() else None)
    if definitions is not None:
        _warn_unreachable_webhooks(definitions)
    count = workers if workers is not None else default_workers()
    per_process = max(1, max_connections // count)  # --max-connections bounds them all together
    sockets = pool = None
    if count > 1:  # every process accepts on one socket; the others reach this one over loopback
        try:
            public = listening_socket(host, port, ACCEPT_BACKLOG)
        except OSError as exc:
            raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}).") from None
        internal = listening_socket("127.0.0.1", 0, ACCEPT_BACKLOG)
        sockets = [public, internal]
        pool = Workers(count, public, running.connect_url("127.0.0.1", internal.getsockname()[1]), timeout,
                       timeout / 3, per_process, access_log.value)
    app = create_app(db, cors_origins=cors, fsync=not no_fsync, announce_url=running.connect_url(host, port),
                     local_token=running.new_token(), body_seconds=timeout, max_in_flight=max_in_flight,
                     definitions=definitions, rules_every=rules_every, dashboard_requires_key=host not in LOOPBACK,
                     workers=pool)
    serve(app, host, port, header_seconds=timeout / 3, connections=per_process, sockets=sockets,
          access_log=access_log.value)


PROBES_AT_ONCE = 16  # webhook URLs probed at the same time at startup


def _warn_unreachable_webhooks(config: Path) -> None:
    """One line per rule whose webhook cannot be reached now. Not fatal: the receiver may start later, and firings
    wait in the outbox and are retried (a bad definitions file is the reader's error, reported on use). The URLs are
    probed at the same time (PROBES_AT_ONCE at most), so the start waits about one probe's 2 s, not 2 s per
    unreachable receiver; the lines come in the rules' order."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from aha.definitions import load
    from aha.guidance import delivery

    try:
        rules = load(config).rules
    except UserError:  # reported where the definitions are used, in the API's error shape
        return
    urls = list(dict.fromkeys(rule.then.webhook for rule in rules if rule.then.webhook is not None))
    if not urls:
        return
    with ThreadPoolExecutor(min(len(urls), PROBES_AT_ONCE), thread_name_prefix="aha-probe") as pool:
        probed = dict(zip(urls, pool.map(delivery.unreachable, urls), strict=True))
    for rule in rules:
        url = rule.then.webhook
        why = probed.get(url) if url is not None else None
        if why is not None:
            print(f"warning: rule {rule.id!r}: its webhook {delivery.shown_url(url or '')} cannot be reached now "
                  f"({why}). Firings are kept and retried with backoff ({delivery.MAX_ATTEMPTS} attempts); `aha "
                  "interventions --failed` lists those that gave up and `--replay-failed` sends them again.",
                  file=sys.stderr, flush=True)
