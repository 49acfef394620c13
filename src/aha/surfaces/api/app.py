"""The HTTP surface: Segment's tracking API (/v1/track … /v1/batch) over `aha.ingest`, plus /health and OpenAPI.

Routes only translate HTTP to `aha.ingest.bodies` and back; every error route answers one JSON shape
(`{"ok": false, "status", "field", "reason", "errors": [...]}`) and leaves a dead letter. Logs carry no event data:
only uvicorn's request line (method, path, status). /health and the checklist routes are also answered by a fast
path ahead of FastAPI's routing (aha.surfaces.api.fast), with the same functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from aha.ingest import running
from aha.ingest.service import Ingestor
from aha.surfaces.api import fast
from aha.surfaces.api.limits import BODY_SECONDS, BodyDeadline, StrangerLetters
from aha.surfaces.api.live import LiveState
from aha.surfaces.api.query import Reader
from aha.surfaces.api.query import add_routes as add_query_routes
from aha.surfaces.api.state import DefinitionsFile, rules_schedule
from aha.surfaces.api.state import add_routes as add_state_routes
from aha.surfaces.api.tracking import (
    ERROR_RESPONSES,
    AsciiJSONResponse,
    LocalSink,
    add_error_handlers,
    add_tracking_routes,
    error_body,
    error_response,
)
from aha.surfaces.api.worker import Workers


def create_app(
    db_path: str | Path,
    *,
    cors_origins: Sequence[str] = (),
    fsync: bool = True,
    max_in_flight: int | None = None,
    announce_url: str | None = None,
    local_token: str | None = None,
    definitions: str | Path | None = None,
    rules_every: float = 0.0,
    body_seconds: float = BODY_SECONDS,
    dashboard_requires_key: bool = False,
    workers: Workers | None = None,
) -> FastAPI:
    """The server for one database; it opens the store (and replays the spool) on startup, drains it on shutdown.

    With `announce_url`, it writes `<db>.server.json` (url, pid, `local_token`) once the store is open, so other
    `aha` commands ask it instead of opening the locked file, and removes it after the store is closed.
    With `workers`, more processes accept tracking calls and hand them to this one (`aha.surfaces.api.worker`).
    """
    ingestor = Ingestor(db_path, fsync=fsync, **({"max_in_flight": max_in_flight} if max_in_flight else {}))
    reader = Reader(ingestor)
    definitions_file = DefinitionsFile(Path(definitions) if definitions else None)
    strangers = StrangerLetters()
    from aha.guidance.lookup import ChecklistLookup

    live = LiveState(ingestor, definitions_file, ChecklistLookup())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ingestor.start)
        reader.start()
        # what start-up built (Ibis, pandas, DuckDB, FastAPI: most of the heap) is never garbage: keep the
        # collector from walking it again each time requests' short-lived JSON triggers a full collection
        gc.freeze()
        if workers is not None:
            await workers.start(ingestor.key_check, ingestor.submit_lines)
        if announce_url is not None:
            running.write(db_path, announce_url, local_token or "")
        schedule = asyncio.create_task(rules_schedule(reader, definitions_file, rules_every)) if rules_every else None
        keeping = asyncio.create_task(live.run())
        try:
            yield
        finally:
            if schedule is not None:
                schedule.cancel()
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
            if workers is not None:
                await workers.stop()  # they finish their open requests through this process's spool first
            await asyncio.to_thread(reader.stop)
            await asyncio.to_thread(ingestor.stop)
            if announce_url is not None:
                running.remove(db_path, os.getpid())

    app = FastAPI(title="aha tracking API", version="1", lifespan=lifespan,
                  description="Segment-compatible tracking: /v1/track, /v1/identify, … /v1/batch.")
    app.state.ingestor = ingestor
    add_error_handlers(app)
    add_tracking_routes(app, LocalSink(ingestor), strangers)

    add_query_routes(app, reader, local_token, error_response, ERROR_RESPONSES)
    checklist = add_state_routes(app, reader, local_token, definitions_file, error_response, ERROR_RESPONSES,
                                 live.lookup)
    from aha.surfaces.web import pages

    pages.add_routes(app, pages.Results(reader.run, definitions_file.get), pages.key_checker(
        dashboard_requires_key, pages.read_key_check(lambda: ingestor.keys, local_token)))

    def health_answer() -> JSONResponse:
        stats = ingestor.stats
        problem = ingestor.problem()
        return AsciiJSONResponse(
            {"ok": problem is None, "problem": problem, "in_flight": ingestor.in_flight,
             "stored_calls": stats.stored_calls, "duplicates": stats.duplicates, "dead_letters": stats.dead_letters,
             "replayed": stats.replayed, "write_errors": stats.write_errors, "checklists": live.health(),
             "workers": workers.health() if workers is not None else None},
            status_code=200 if problem is None else 503)

    @app.get("/health", responses={503: {"description": "the server cannot store calls now (see problem)"}})
    async def health() -> JSONResponse:
        """200 while calls can be stored; 503 (with the problem) while they cannot, e.g. a full disk."""
        return health_answer()

    # Middleware, innermost first: the body deadline, the fast path (aha.surfaces.api.fast: ahead of FastAPI's
    # routing, behind CORS), CORS.
    app.add_middleware(BodyDeadline, seconds=body_seconds, answer=error_body)
    if fast.enabled():
        app.add_middleware(fast.FastReads, checklist=checklist, health=health_answer)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["POST", "GET", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
        )

    return app
