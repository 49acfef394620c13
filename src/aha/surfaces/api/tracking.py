"""Segment's tracking routes (/v1/track … /v1/batch) and the one error shape, over a `Sink`.

A sink checks write keys and makes records durable. In the process that owns the store it is the `Ingestor`
itself (`LocalSink`); in a worker process of `aha serve --workers N` it is the channel to that process
(`aha.ingest.channel`), so both answer every request the same way, from the same code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from aha.ingest import bodies, channel, payloads
from aha.ingest.records import DeadLetter, Record, encode
from aha.ingest.service import Ingestor, now_utc
from aha.surfaces.api.limits import StrangerLetters

RETRY_AFTER_SECONDS = 1
RETRY_AFTER_UNWRITABLE = 5  # the spool cannot be written (a full disk): give the operator a moment
CALL_ROUTES = ("track", "identify", "group", "alias", "page", "screen")


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an answer that quotes what a client sent (a messageId, a key
    holding a lone surrogate) always encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_body(status: int, field: str, reason: str, errors: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one error shape of every route (datasette's error_body idea)."""
    return {
        "ok": False,
        "status": status,
        "field": field,
        "reason": reason,
        "errors": list(errors) if errors is not None else [{"field": field, "reason": reason}],
    }


def error_response(status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return AsciiJSONResponse(error_body(status, field, reason), status_code=status, headers=headers)


def _some_id(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": ["string", "integer"], "minLength": 1}}}


def _request_schema(call_type: str | None) -> dict[str, Any]:
    """The body as far as JSON Schema can say it. In a batch each call is judged on its own (a bad one is listed in
    `rejected` of a 200), so its items may be anything; `sentAt` and `writeKey` that are not strings are ignored."""
    if call_type is None:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {"batch": {"type": "array", "items": {}, "maxItems": payloads.MAX_BATCH_EVENTS}},
            "required": ["batch"],
        }
    else:
        schema = payloads.MODELS[call_type].model_json_schema()
        ids = ("userId",) if call_type == "alias" else ("userId", "anonymousId")  # alias: userId is the new id
        schema["anyOf"] = [_some_id(name) for name in ids]  # not null, not empty
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "status": {"type": "integer"}, "field": {"type": "string"},
                   "reason": {"type": "string"}, "errors": {"type": "array", "items": {"type": "object"}}},
    "required": ["ok", "status", "field", "reason", "errors"],
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for code, text in (
        (400, "a bad call or body: field and reason"),
        (401, "missing or invalid write key"),
        (403, "a read key cannot write (a write key cannot read)"),
        (408, "the body did not arrive within the server's timeout"),
        (411, "no Content-Length (nor chunked encoding): the body cannot be read"),
        (413, "body, call or batch over the spec's limits"),
        (429, "busy: retry after Retry-After seconds"),
        (503, "the calls cannot be stored now (e.g. a full disk): retry after Retry-After seconds"),
    )
}


class Sink(Protocol):
    async def check(self, key: str | None) -> tuple[str, str] | None:
        """(source name, kind) of a valid key, else None; ConnectionError when it cannot be told now."""

    async def store(self, records: Sequence[Record]) -> int:
        """channel.OK once durable; BUSY past the in-flight bound (nothing written); FAILED when not written."""


class LocalSink:
    """The store's own process: the ingestor's key ring and spool."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def check(self, key: str | None) -> tuple[str, str] | None:
        assert self.ingestor.keys is not None
        return self.ingestor.keys.check(key)

    async def store(self, records: Sequence[Record]) -> int:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def resolve(error: str | None) -> None:
            if not future.done():
                future.set_result(error)

        def done(error: str | None) -> None:
            loop.call_soon_threadsafe(resolve, error)

        if not self.ingestor.submit(records, done):
            return channel.BUSY
        return channel.OK if await future is None else channel.FAILED


class ChannelSink:
    """A worker process: keys are checked, and encoded lines spooled, by the store's process over the channel."""

    def __init__(self, link: channel.Channel) -> None:
        self.link = link

    async def check(self, key: str | None) -> tuple[str, str] | None:
        if not key or not key.isascii():  # keys are ASCII: nothing else can match
            return None
        status, payload = await self.link.ask(channel.KEY, key.encode("ascii"))  # ConnectionError: 503, not 401
        if status != channel.OK:
            return None
        name, _, kind = payload.decode().partition("\0")
        return name, kind

    async def store(self, records: Sequence[Record]) -> int:
        data = b"".join(encode(r) for r in records)
        try:
            status, _ = await self.link.ask(channel.SPOOL, data)
        except ConnectionError:
            return channel.FAILED
        return status


def add_error_handlers(app: FastAPI) -> None:
    """Every error the framework raises answers in the one shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = "path" if exc.status_code in (404, 405) else "request"
        return error_response(exc.status_code, field, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("request",), "msg": "invalid"}
        return error_response(400, ".".join(str(p) for p in first["loc"]), str(first["msg"]))

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # nobody reads it; no traceback for an everyday event

def add_tracking_routes(app: FastAPI, sink: Sink, strangers: StrangerLetters) -> None:
    """POST /v1/track, identify, group, alias, page, screen, batch and import."""

    async def durable(records: list[Record]) -> JSONResponse | None:
        """Wait until `records` are on disk (None); else the answer: 429 too busy, 503 cannot be written."""
        if not records:
            return None
        status = await sink.store(records)
        if status == channel.OK:
            return None
        if status == channel.BUSY:
            return error_response(429, "request", "the server is busy storing earlier calls; retry later",
                                  {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return error_response(503, "request", "the server cannot store calls now (its disk is full or failing); "
                              "retry later", {"Retry-After": str(RETRY_AFTER_UNWRITABLE)})

    async def refuse(refused: bodies.Refused, source: str | None, received_at: Any) -> JSONResponse:
        """The refusal's answer, after its dead letter is durable (a stranger's only while under the rate bound)."""
        raw = refused.raw if source is not None else refused.raw[: bodies.UNAUTHENTICATED_RAW_CHARS]
        if source is not None or strangers.admit():
            await durable([DeadLetter(received_at, source, None, refused.field, refused.reason, raw)])
        return error_response(refused.status, refused.field, refused.reason)

    async def handle(request: Request, call_type: str | None) -> JSONResponse:
        received_at = now_utc()
        limit = bodies.limit_for(call_type)
        header_key = bodies.key_from_header(request.headers.get("authorization"))
        source: str | None = None
        if header_key is not None:
            found = await sink.check(header_key)
            source = found[0] if found else None
            if found is None:
                return await refuse(bodies.Refused(401, "writeKey", "invalid write key"), None, received_at)
            if found[1] != "write":
                return await refuse(bodies.Refused(403, "writeKey", "a read key cannot write"), None, received_at)
        try:
            declared = bodies.content_length(request.headers.get("content-length"))
            if declared is not None and declared > 2 * limit:
                raise bodies.Refused(413, "body", f"body is {declared} bytes; the limit is {limit}")
            data = bytearray()
            async for chunk in request.stream():
                data += chunk
                if len(data) > 2 * limit:
                    raise bodies.Refused(413, "body", f"body exceeds {limit} bytes")
            if not data and declared is None and "transfer-encoding" not in request.headers:
                raise bodies.Refused(411, "Content-Length", "required: without it (or chunked encoding) the body "
                                     "cannot be read (HTTP/1.0 clients must send it)")
            decoded = bodies.decode_body(bytes(data), request.headers.get("content-encoding"), limit)
            doc = decoded.doc
        except bodies.Refused as refused:
            return await refuse(refused, source, received_at)
        if source is None:
            found = await sink.check(bodies.key_from_body(doc))
            if found is None:
                no_key = bodies.Refused(401, "writeKey", "missing or invalid write key", bodies.raw_text(doc))
                return await refuse(no_key, None, received_at)
            if found[1] != "write":
                return await refuse(bodies.Refused(403, "writeKey", "a read key cannot write"), None, received_at)
            source = found[0]
        try:
            if call_type is None:
                outcome = bodies.batch(doc, source, received_at,
                                       bodies.decoded_size(len(data), request.headers.get("content-encoding")),
                                       decoded.escaped, decoded.nesting)
            else:
                outcome = bodies.BatchOutcome([bodies.single_call(doc, call_type, source, received_at,
                                                                       decoded.escaped, decoded.nesting)], 1)
        except bodies.Refused as refused:
            return await refuse(refused, source, received_at)
        failed = await durable(outcome.records)
        if failed is not None:
            return failed
        rejected = [{"index": r.index, "messageId": r.message_id, "field": r.field, "reason": r.reason}
                    for r in outcome.rejected]
        return AsciiJSONResponse({"ok": True, "success": True, "accepted": outcome.accepted, "rejected": rejected})

    def add_route(path: str, call_type: str | None) -> None:
        async def route(request: Request) -> JSONResponse:
            try:
                return await handle(request, call_type)
            except ConnectionError:  # a worker whose store process is gone: a valid key must not hear 401
                return error_response(503, "request", "the server is restarting; retry later",
                                      {"Retry-After": str(RETRY_AFTER_UNWRITABLE)})

        route.__name__ = f"post_{path.strip('/').replace('/', '_')}"
        app.post(path, openapi_extra=_request_schema(call_type), responses=ERROR_RESPONSES,
                 summary=f"Segment {call_type or 'batch'} call{'s' if call_type is None else ''}")(route)

    for name in CALL_ROUTES:
        add_route(f"/v1/{name}", name)
    add_route("/v1/batch", None)
    add_route("/v1/import", None)
