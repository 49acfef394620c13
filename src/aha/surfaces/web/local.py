"""`aha dashboard`: the dashboard's pages on a database without the tracking server (nothing is ingested).

The store is opened on one worker thread, as the server's reader does: DuckDB connections are not shared between
threads, and the analyses' materialised state is never built by two requests at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from aha.store.database import Store
from aha.surfaces.api.limits import BODY_SECONDS, BodyDeadline
from aha.surfaces.api.tracking import error_body
from aha.surfaces.web import pages


def create_dashboard(db: Path, config: Path, requires_key: bool = False, body_seconds: float = BODY_SECONDS) -> FastAPI:
    """The dashboard's app; a request's body must arrive within `body_seconds` of its headers (else 408), as on
    `aha serve` (aha.surfaces.api.limits)."""
    from aha.definitions import load
    from aha.surfaces.api.state import DefinitionsFile

    load(config)  # the file's own mistakes are reported before the server starts
    definitions = DefinitionsFile(config)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aha-dashboard")
    held: dict[str, Any] = {}

    def open_store() -> None:
        from aha.ingest.keys import KeyRing
        from aha.store import open_store as open_file

        held["store"] = open_file(db)
        held["keys"] = KeyRing(held["store"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.wrap_future(executor.submit(open_store))
        try:
            yield
        finally:
            await asyncio.wrap_future(executor.submit(lambda: held["store"].close()))
            executor.shutdown(wait=True)

    async def run(fn: Callable[[Store], Any]) -> Any:
        def in_transaction() -> Any:
            store: Store = held["store"]
            with store.transaction():
                return fn(store)

        return await asyncio.wrap_future(executor.submit(in_transaction))

    app = FastAPI(title="aha dashboard", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    pages.add_routes(app, pages.Results(run, definitions.get),
                     pages.key_checker(requires_key, pages.read_key_check(lambda: held.get("keys"))))
    app.add_middleware(BodyDeadline, seconds=body_seconds, answer=error_body)
    return app
