"""`GET /v1/users/{id}/milestones` and `GET /v1/accounts/{id}/milestones`: one checklist, as `aha state` prints it;
`GET /v1/users/{id}/messages` and `POST /v1/users/{id}/messages/{message_id}/ack`: the user's in-app nudges.

The server reads the definitions file given to `aha serve --config` and reloads it when the file changes (its
modification time and size are looked at no more than once a second: a change shows within a second). The checklist
is the same state `aha report` counts: without `as_of`, read by primary key from the server's copy of it as of now
(aha.guidance.lookup, kept current after each stored batch by aha.surfaces.api.live); with `as_of`,
`Project.user_state` as of that moment.

Who may read:
- read keys and the server's local token: any user or account;
- a browser, with no key: only its own user, proven by `user_hash` = hex HMAC-SHA256 of the user id under the
  server's identity secret (`AHA_IDENTITY_SECRET`), which the product's backend computes and hands to its page (the
  scheme of Intercom's identity verification). Without a configured secret, browsers cannot read;
- write keys: never (403).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import os
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from aha.errors import UserError, UserNote
from aha.guidance.checklist import ChecklistItem, ChecklistResult, UnknownEntity, explained
from aha.results import RESULT_SCHEMA_VERSION, to_jsonable
from aha.store.database import Store
from aha.surfaces.api.query import PRIVATE, Reader, read_access

if TYPE_CHECKING:
    from aha.guidance.lookup import ChecklistLookup

log = logging.getLogger("aha.rules")
IDENTITY_SECRET_ENV = "AHA_IDENTITY_SECRET"
MAX_ID_LENGTH = 1024
STAT_EVERY_SECONDS = 1.0


def user_hash(secret: str, user_id: str) -> str:
    """What a product's backend computes for its page: hex HMAC-SHA256 of the user id under the identity secret."""
    return hmac.new(secret.encode(), user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class DefinitionsFile:
    """The server's definitions, parsed again only when the file changes. Its modification time and size are looked
    at no more than once every `every` seconds (a stat per request was 2% of a checklist answer's CPU), so a changed
    file is picked up within that time; `clock`: monotonic seconds (injectable, for tests)."""

    def __init__(self, path: Path | None, every: float = STAT_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.every, self.clock = path, every, clock
        self._seen: tuple[float, int] | None = None
        self._parsed: Any = None
        self._looked: float | None = None  # the clock when the file was last looked at
        self._lock = threading.Lock()  # read by requests and by the live checklists' updates

    def get(self) -> Any:
        from aha.definitions import load

        looked, now = self._looked, self.clock()
        if looked is not None and now - looked < self.every:
            return self._parsed
        if self.path is None:
            raise UserError("this server has no definitions: start it with `aha serve --config aha.yaml`.")
        try:
            stat = self.path.stat()
        except OSError:
            raise UserError(f"the server's definitions file {self.path} cannot be read; restore it.") from None
        seen = (stat.st_mtime, stat.st_size)
        with self._lock:
            if seen != self._seen:
                self._parsed, self._seen = load(self.path), seen
            self._looked = now  # after a successful parse: a file that fails to parse is read again next time
            return self._parsed


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(ChecklistItem))
_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(ChecklistResult) if f.name != "items")
_item_values = attrgetter(*_ITEM_FIELDS)
_result_values = attrgetter(*_RESULT_FIELDS)
_encoder = msgspec.json.Encoder()


def checklist_body(result: ChecklistResult) -> bytes:
    """`to_jsonable(result, "checklist")` as JSONResponse writes it (compact JSON, UTF-8) in about a third of the CPU:
    the dataclasses' fields read by `attrgetter`, msgspec encodes. A datetime is written as to_jsonable writes it
    (its wall time to the second, with `Z`) by msgspec: given as UTC with no microseconds. NaN and infinity are null,
    as in to_jsonable. The same numbers; only a float of 1e16 or more (or under 1e-4) is spelled differently (`1e16`,
    json.dumps: `1e+16`)."""
    body: dict[str, Any] = {"kind": ChecklistResult.kind, "schema_version": RESULT_SCHEMA_VERSION}
    body.update(zip(_RESULT_FIELDS, [_second(v) if type(v) is datetime else v for v in _result_values(result)],
                    strict=True))
    body["items"] = [dict(zip(_ITEM_FIELDS, [_second(v) if type(v) is datetime else v for v in _item_values(item)],
                              strict=True)) for item in result.items]
    return _encoder.encode(body)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0, tzinfo=UTC)


async def rules_schedule(reader: Reader, definitions: DefinitionsFile, every: float) -> None:
    """Inside `aha serve`: every `every` seconds, the rules evaluated as of the wall clock and due nudges sent, on the
    reader's connection (one pass at a time). A failing pass is logged and the next one runs. Delivery is at least
    once: a firing whose send was in flight when the server died is sent again, with the same `webhook-id`."""
    from aha.ingest.service import now_utc

    def one_pass(store: Store) -> Any:
        from aha.project import Project

        defs = definitions.get()
        now = now_utc()
        if not defs.rules:  # no rule left: only the waiting firings of the removed ones to withdraw
            from aha.guidance.delivery import withdraw_removed

            if withdrawn := withdraw_removed(store, [], now):
                log.info("rules: %d waiting firings withdrawn (their rules were removed)", withdrawn)
            return None
        return Project(store, defs, None).run_rules(as_of=now, now=now)

    while True:
        await asyncio.sleep(every)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserNote)  # as of now is past the latest event by design
                # Not one transaction: each firing is recorded (committed) before it is sent, and marked delivered
                # (committed) once its receiver answered, so a kill mid-pass re-sends only the one in flight.
                result = await reader.run(one_pass, transaction=False)
            if result is not None and (result.sent or result.withdrawn or any(r.new for r in result.rules)):
                log.info("rules: %d new firings, %d sent, %d delivered, %d deferred, %d failed, %d withdrawn",
                         sum(r.new for r in result.rules), result.sent, result.delivered, result.deferred,
                         result.failed, result.withdrawn)
        except Exception as exc:  # a bad definitions file or a failing store must not stop ingestion
            log.warning("rules pass failed: %s", str(exc)[:300])


Checklist = Callable[[str, str, Request], Awaitable[Response]]


def unknown_user(as_of: str | None, user_id: str, exc: UnknownEntity, store: Store) -> UnknownEntity:
    """The 404's error for a user id without a checklist, naming the user it is linked to, if any (`explained`):
    as of `as_of`, or without it every link stored (a live checklist reads as of now)."""
    from aha.analyses.as_of import resolve

    moment = resolve(store, as_of) if as_of else None
    return explained(store, moment, "user", user_id, exc)


def add_routes(app: FastAPI, reader: Reader, local_token: str | None, definitions: DefinitionsFile,
               error_response: Callable[..., JSONResponse],
               responses: dict[int | str, dict[str, Any]] | None = None,
               lookup: ChecklistLookup | None = None) -> Checklist:
    """The checklist and in-app message routes; `responses` (the server's error bodies by status) documents the
    answers other than 200 in the OpenAPI document, as the query routes do. `lookup`: the checklist copy the
    server keeps current (aha.surfaces.api.live), else one made here. Returns the checklist routes' answer
    (entity type, id, request → response), which the fast path (aha.surfaces.api.fast) calls too."""
    errors = responses or {}
    documented: dict[int | str, dict[str, Any]] = {
        **{k: v for k, v in errors.items() if k in (400, 401, 403)},
        **({404: {**errors[400], "description": "no such user, account or message"},
            422: {**errors[400], "description": "a user error in the definitions or options"}}
           if 400 in errors else {}),
    }
    if lookup is None:
        from aha.guidance.lookup import ChecklistLookup

        lookup = ChecklistLookup()
    checklists = lookup  # made on the reader's thread when there is none; read on the event loop

    def allowed(request: Request, entity_type: str, entity_id: str) -> JSONResponse | None:
        given = request.query_params.get("user_hash")
        if given is not None and request.headers.get("authorization") is None:
            secret = os.environ.get(IDENTITY_SECRET_ENV)
            if entity_type != "user" or not secret:
                return error_response(403, "user_hash", "a browser may read only its own user's milestones, and "
                                      f"only where the server has {IDENTITY_SECRET_ENV} set")
            if not hmac.compare_digest(given.encode(), user_hash(secret, entity_id).encode()):
                return error_response(403, "user_hash", "user_hash does not match this user id")
            if request.query_params.get("as_of") is not None:
                # A checklist as of another moment builds the whole state as of it on the one reader (0.5 s of CPU
                # at 1M events): any user's browser sending a stream of them held every read, the dashboard and
                # the rules' passes behind its own.
                return error_response(403, "as_of", "a browser reads its user's checklist as of now; a checklist as "
                                      "of another moment needs a read key")
            return None
        return read_access(request, reader, local_token, error_response)[1]

    async def respond(entity_type: str, entity_id: str, request: Request) -> Response:
        if len(entity_id) > MAX_ID_LENGTH:
            return error_response(400, "id", f"an id is at most {MAX_ID_LENGTH} characters")
        refused = allowed(request, entity_type, entity_id)
        if refused is not None:
            return refused
        as_of = request.query_params.get("as_of")

        def read(store: Store) -> Any:
            from aha.project import Project

            if as_of is None:  # the latest state, by primary key from the lookup copy (aha.guidance.lookup)
                return checklists.checklist(store, definitions.get(), entity_type, entity_id)
            project = Project(store, definitions.get(), None)
            if entity_type == "user":
                return project.user_state(entity_id, as_of=as_of)
            return project.account_state(entity_id, as_of=as_of)

        try:
            # A fresh copy answers here, on the event loop; otherwise the reader refreshes it (or reads as of).
            cached = checklists.cached(definitions.get(), entity_type, entity_id) if as_of is None else None
            result: ChecklistResult = cached if cached is not None else await reader.run(read)
        except UnknownEntity as exc:
            if entity_type == "user":  # an id merged into another user, or an anonymous id: name that user
                exc = await reader.run(partial(unknown_user, as_of, entity_id, exc))
            return error_response(404, "id", str(exc))
        except UserError as exc:
            return error_response(422, getattr(exc, "path", "options"), str(exc))
        return Response(checklist_body(result), media_type="application/json", headers=PRIVATE)

    @app.get("/v1/users/{user_id}/messages", responses=documented,
             summary="A user's in-app messages from rules (read key, or user_hash)")
    async def user_messages(user_id: str, request: Request) -> JSONResponse:
        refused = _checked(user_id, request)
        if refused is not None:
            return refused
        from aha.guidance.delivery import in_app_messages

        try:
            messages = await reader.run(lambda store: in_app_messages(store, definitions.get().rules, user_id))
        except UserError as exc:
            return error_response(422, getattr(exc, "path", "options"), str(exc))
        return JSONResponse({"user_id": user_id, "messages": to_jsonable(messages)}, headers=PRIVATE)

    @app.post("/v1/users/{user_id}/messages/{message_id}/ack", responses=documented,
             summary="Acknowledge (shown) one in-app message")
    async def acknowledge_message(user_id: str, message_id: str, request: Request) -> JSONResponse:
        refused = _checked(user_id, request)
        if refused is not None:
            return refused
        from aha.guidance.delivery import acknowledge
        from aha.ingest.service import now_utc

        try:
            done = await reader.run(lambda store: acknowledge(store, definitions.get().rules, user_id, message_id,
                                                              now_utc()))
        except UserError as exc:
            return error_response(422, getattr(exc, "path", "options"), str(exc))
        if not done:
            return error_response(404, "message_id", "no unacknowledged message of this user with that id")
        return JSONResponse({"acknowledged": message_id})

    def _checked(user_id: str, request: Request) -> JSONResponse | None:
        if len(user_id) > MAX_ID_LENGTH:
            return error_response(400, "id", f"an id is at most {MAX_ID_LENGTH} characters")
        return allowed(request, "user", user_id)

    @app.get("/v1/users/{user_id}/milestones", responses=documented,
             summary="One user's milestone checklist (read key, or user_hash)")
    async def user_milestones(user_id: str, request: Request) -> Response:
        return await respond("user", user_id, request)

    @app.get("/v1/accounts/{account_id}/milestones", responses=documented,
             summary="One account's milestone checklist (read key)")
    async def account_milestones(account_id: str, request: Request) -> Response:
        return await respond("account", account_id, request)

    return respond
