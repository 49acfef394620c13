"""The read API: `POST /v1/query/{analysis}` runs the same `Project` method the CLI runs, on the server's database.

Why: DuckDB lets no other process open a file a writer holds, so while `aha serve` runs, the CLI asks the server
(`aha.surfaces.cli.remote`). The request carries the definitions file's text (the server needs no config path) and
the command's options; the answer is `to_jsonable(result, kind)`, which the CLI turns back into the result object.

Reads run on one reader thread with its own DuckDB connection to the server's database (`Store.cursor`), each
analysis in one transaction: a consistent snapshot while the writer keeps committing, and the materialised state
tables analyses write are never built by two readers at once. A write-write conflict with the writer (both touch
`aha_meta`) rolls the reader's transaction back and runs it again.

Keys: read keys (`aha keys create --kind read`) and the server's local token (in `<db>.server.json`, mode 0600) may
read; write keys get 403. Only the local token may administer (create/revoke keys, replay dead letters).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, TypeVar

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from aha.definitions import Definitions, parse
from aha.errors import UserError
from aha.ingest import bodies
from aha.ingest.service import Ingestor, now_utc
from aha.results import to_jsonable
from aha.store.database import Store
from aha.surfaces.api.options import NEEDS_DEFINITIONS, OPTIONS, KeyBody, Options, QueryBody, RunRulesOptions

log = logging.getLogger("aha.query")
T = TypeVar("T")
CONFLICT_RETRIES = 5
MAX_QUERY_BYTES = 1_000_000
PARSE_WORKERS = 2  # threads that decode request bodies and parse definitions, off the event loop and the reader
MAX_PARSES_WAITING = 16  # past this many bodies being parsed, a read is answered 429 rather than queued
# Answers that show users' data (a checklist, in-app messages, an analysis) are never stored by a browser or a proxy:
# a checklist read with `user_hash` has no Authorization header, which is what keeps a shared cache from storing it.
PRIVATE = {"Cache-Control": "no-store"}


class Reader:
    """One thread, one connection: every read and admin action on the server's database goes through `run`."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self._executor: ThreadPoolExecutor | None = None
        self._parser: ThreadPoolExecutor | None = None
        self._parsing = 0  # bodies handed to `_parser` and not yet done (touched on the event loop only)
        self._store: Store | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aha-reader")
        self._parser = ThreadPoolExecutor(max_workers=PARSE_WORKERS, thread_name_prefix="aha-parse")
        self._store = self.ingestor.store.cursor()

    def stop(self) -> None:
        if self._parser is not None:
            self._parser.shutdown(wait=True, cancel_futures=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.close()
        self._executor = self._parser = self._store = None

    async def parse(self, fn: Callable[[], T]) -> T | None:
        """Run `fn` (decoding a body, parsing definitions: bounded work on what a client sent) on the parse threads,
        so neither the event loop (ingestion, /health) nor the reader waits for it; None when too many wait."""
        if self._parser is None:
            raise RuntimeError("reader not started")
        if self._parsing >= MAX_PARSES_WAITING:
            return None
        self._parsing += 1
        try:
            return await asyncio.wrap_future(self._parser.submit(fn))
        finally:
            self._parsing -= 1

    async def run(self, fn: Callable[[Store], T], transaction: bool = True) -> T:
        if self._executor is None:
            raise RuntimeError("reader not started")
        return await asyncio.wrap_future(self._executor.submit(self._retrying, fn, transaction))

    def _retrying(self, fn: Callable[[Store], T], transaction: bool) -> T:
        store = self._store
        assert store is not None
        for attempt in range(CONFLICT_RETRIES):
            try:
                if not transaction:
                    return fn(store)
                with store.transaction():
                    return fn(store)
            except duckdb.TransactionException:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                log.info("read conflicted with the writer; running it again")
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")


def _run_analysis(store: Store, analysis: str, definitions: Definitions | None, source: str, options: Options) -> Any:
    from aha.project import Project

    if analysis == "keys":
        from dataclasses import replace

        from aha.ingest.keys import list_keys

        return [replace(k, key_id="") for k in list_keys(store)]  # the id is part of the key: not shown
    if analysis == "dead-letters":
        from aha.ingest.deadletters import summarise

        return [asdict(g) for g in summarise(store)]
    if analysis == "notes":
        from aha.store.notes import all_notes

        return all_notes(store)  # the drop-off notes, for `aha report --html` while the server holds the file
    if definitions is None:
        raise UserError(f"{analysis}: the request needs `definitions`, the definitions file's text.")
    if analysis == "validate":
        from aha.analyses import checks

        return checks.run(definitions, source, store)
    project = Project(store, definitions, None)
    kwargs = options.model_dump(exclude_unset=True)
    if kwargs.get("days") is not None:
        kwargs["days"] = tuple(kwargs["days"])
    return getattr(project, analysis)(**kwargs)


def read_access(request: Request, reader: Reader, local_token: str | None,
                error_response: Callable[..., JSONResponse]) -> tuple[bool, JSONResponse | None]:
    """(is the local token, refusal): read keys and the local token read; write keys are refused."""
    key = bodies.key_from_header(request.headers.get("authorization"))
    if key is not None and local_token is not None and hmac.compare_digest(key.encode(), local_token.encode()):
        return True, None
    keys = reader.ingestor.keys
    found = keys.check(key) if keys is not None else None
    if found is None:
        return False, error_response(401, "authorization", "missing or invalid read key")
    if found[1] != "read":
        return False, error_response(403, "authorization", "a write key cannot read; use a read key")
    return False, None

MAX_FIELD_CHARS = 80


def _field(loc: tuple[Any, ...]) -> str:
    """pydantic's location as a dotted path, cut: a client's unknown key is part of it and may be any length."""
    text = ".".join(str(p) for p in loc)
    return text if len(text) <= MAX_FIELD_CHARS else text[: MAX_FIELD_CHARS - 1] + "…"


def add_routes(app: FastAPI, reader: Reader, local_token: str | None,
               error_response: Callable[..., JSONResponse], responses: dict[int | str, dict[str, Any]]) -> None:
    """Mount the read and admin routes on the server's app (errors in the app's one shape)."""

    def who(request: Request) -> tuple[bool, JSONResponse | None]:
        return read_access(request, reader, local_token, error_response)

    def busy() -> JSONResponse:
        return error_response(429, "request", "too many queries are being read; retry later", {"Retry-After": "1"})

    async def body_of(request: Request, model: type[BaseModel]) -> BaseModel | JSONResponse:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_QUERY_BYTES:
                return error_response(413, "body", f"body exceeds {MAX_QUERY_BYTES} bytes")

        def decode() -> BaseModel | JSONResponse:
            try:
                return model.model_validate(json.loads(bytes(data) or b"{}"))
            except RecursionError:
                return error_response(400, "body", "JSON nested too deep")
            except ValueError as exc:
                if isinstance(exc, ValidationError) and exc.errors():
                    first = exc.errors()[0]
                    return error_response(400, _field(first["loc"]) or "body", str(first["msg"]))
                return error_response(400, "body", "not valid JSON")

        parsed = await reader.parse(decode)
        return busy() if parsed is None else parsed

    async def answer(fn: Callable[[Store], Any], transaction: bool = True) -> JSONResponse:
        try:
            result = await reader.run(fn, transaction)
        except UserError as exc:
            return error_response(422, getattr(exc, "path", "options"), str(exc))
        kind = getattr(result, "kind", None)
        return JSONResponse(to_jsonable(result, kind if isinstance(kind, str) else None), headers=PRIVATE)

    query_schema = {"requestBody": {"required": False, "content": {
        "application/json": {"schema": QueryBody.model_json_schema()}}}}
    read_responses: dict[int | str, dict[str, Any]] = {
        **{k: v for k, v in responses.items() if k in (400, 401, 403, 413)},
        404: {**responses[400], "description": "no such analysis"},
        422: {**responses[400], "description": "a user error in the definitions or options"},
    }

    @app.post("/v1/query/{analysis}", openapi_extra=query_schema, responses=read_responses,
              summary="Run an analysis (report, evaluate, retention, discover, funnel, timing, activation, validate, "
                      "score, paths, revalidate, keys, dead-letters) with a read key")
    async def query(analysis: str, request: Request) -> JSONResponse:
        local, refused = who(request)
        if refused is not None:
            return refused
        if analysis not in OPTIONS:
            return error_response(404, "analysis", f"no analysis {analysis!r}; one of {', '.join(OPTIONS)}")
        parsed = await body_of(request, QueryBody)
        if isinstance(parsed, JSONResponse):
            return parsed
        assert isinstance(parsed, QueryBody)
        given = parsed.options
        try:
            options = await reader.parse(lambda: OPTIONS[analysis].model_validate(given))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = _field(first["loc"])
            return error_response(422, f"options.{field}" if field else "options", f"{field}: {first['msg']}")
        if options is None:
            return busy()
        if isinstance(options, RunRulesOptions) and not options.dry_run and not local:
            # A rules run writes firings and sends webhooks and emails, to URLs the body's definitions name: with a
            # read key that was a write and a request to any address (a read key may ask for a dry run).
            return error_response(403, "authorization", "only the server's local token may run rules (they record "
                                  "firings and send); a read key may ask for a dry run: options.dry_run = true")
        text, source = parsed.definitions, parsed.source
        definitions: Definitions | None = None
        if text is not None and analysis in NEEDS_DEFINITIONS:
            try:
                definitions = await reader.parse(lambda: parse(text, source=source))
            except UserError as exc:
                return error_response(422, getattr(exc, "path", "definitions"), str(exc))
            if definitions is None:
                return busy()
        return await answer(lambda store: _run_analysis(store, analysis, definitions, source, options))

    admin_responses: dict[int | str, dict[str, Any]] = {
        **read_responses, 403: {**responses[403], "description": "only the local token administers"}}
    admin_responses.pop(404)

    def admin(request: Request) -> JSONResponse | None:
        local, refused = who(request)
        if refused is None and not local:
            return error_response(403, "authorization", "only the server's local token may administer")
        return refused

    @app.post("/v1/admin/keys", responses=admin_responses, summary="Create a key (local token only)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": KeyBody.model_json_schema()}}}})
    async def create_key(request: Request) -> JSONResponse:
        refused = admin(request)
        if refused is not None:
            return refused
        parsed = await body_of(request, KeyBody)
        if isinstance(parsed, JSONResponse):
            return parsed
        assert isinstance(parsed, KeyBody)
        from aha.ingest import keys

        def create(store: Store) -> dict[str, str]:
            key = keys.create_key(store, parsed.name, parsed.kind)
            return {"key": key}

        response = await answer(create, transaction=False)
        await reader.run(reload_keys, transaction=False)
        return response

    @app.post("/v1/admin/keys/{name}/revoke", responses=admin_responses, summary="Revoke a key (local token only)")
    async def revoke_key(name: str, request: Request) -> JSONResponse:
        refused = admin(request)
        if refused is not None:
            return refused
        from aha.ingest import keys

        def revoke(store: Store) -> dict[str, str]:
            keys.revoke_key(store, name)
            return {"revoked": name}

        response = await answer(revoke, transaction=False)
        await reader.run(reload_keys, transaction=False)
        return response

    @app.post("/v1/admin/dead-letters/replay", responses=admin_responses,
              summary="Replay dead letters (local token only)")
    async def replay_dead_letters(request: Request) -> JSONResponse:
        refused = admin(request)
        if refused is not None:
            return refused
        from aha.ingest.deadletters import replay

        return await answer(lambda store: asdict(replay(store, now_utc())), transaction=False)

    def reload_keys(store: Store) -> None:
        if reader.ingestor.keys is not None:
            reader.ingestor.keys.reload(store)
