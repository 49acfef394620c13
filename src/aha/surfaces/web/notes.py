"""Notes beside each drop-off (keyed by the milestone users stall before): `POST /drop-off/notes`, a form on the
drop-off page, stored with author and time.

Cross-site request forgery: the form carries this server's token (random per app, compared in constant time), which
a page on another site cannot read; a request whose Origin names another host is refused as well. Off the loopback
interface the read-key guard applies to the form too. Text is bounded, stored as typed, and escaped when shown.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import ClientDisconnect

from aha.errors import UserError
from aha.store import notes as store_notes
from aha.store.database import Store
from aha.surfaces.web.pages import Results
from aha.surfaces.web.views import Filters

MAX_FORM_BYTES = 16_384
STEP_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class NoteForms:
    def __init__(self, results: Results) -> None:
        self.results = results
        self.token = secrets.token_urlsafe(32)

    async def by_step(self) -> dict[str, list[store_notes.Note]]:
        found: list[store_notes.Note] = await self.results.run(store_notes.all_notes)
        grouped: dict[str, list[store_notes.Note]] = defaultdict(list)
        for note in found:
            grouped[note.step].append(note)
        return dict(grouped)


def _refuse(status: int, reason: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>note not saved</title><p>{reason}</p>", status_code=status)


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to be longer than `limit` bytes: a declared length past it
    is refused before anything is read, and a chunked body is read only until it passes it. Reading the whole body
    first (`request.body()`) held a 400 MB note in the server's memory before refusing it, and a chunked body without
    an end kept its connection waiting for ever."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def add_routes(app: FastAPI, forms: NoteForms, guard: Callable[[Request], HTMLResponse | None]) -> None:
    @app.post("/drop-off/notes", include_in_schema=False)
    async def add_note(request: Request) -> Response:
        refused = guard(request)
        if refused is not None:
            return refused
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return _refuse(403, "This form was sent from another site; open the dashboard and write the note there.")
        try:
            data = await bounded_body(request, MAX_FORM_BYTES)
        except ClientDisconnect:  # the client left, or its body missed the deadline (answered 408): nobody reads this
            return Response(status_code=400)
        if data is None:
            return _refuse(413, f"The note is over {MAX_FORM_BYTES:,} bytes; shorten it.")
        form = {k: v[0] for k, v in parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if not hmac.compare_digest(form.get("csrf", "").encode(), forms.token.encode()):
            return _refuse(403, "The form has expired (the server restarted); reload the drop-off page and send again.")
        step, author, body = (form.get(k, "").strip() for k in ("step", "author", "body"))
        problems = [m for m, bad in (
            (f"author: 1 to {store_notes.MAX_AUTHOR} characters", not 0 < len(author) <= store_notes.MAX_AUTHOR),
            (f"note: 1 to {store_notes.MAX_BODY} characters", not 0 < len(body) <= store_notes.MAX_BODY),
            ("step: not a milestone id", not STEP_ID.fullmatch(step))) if bad]
        if problems:
            return _refuse(422, "Note not saved: " + "; ".join(problems) + ".")
        note = store_notes.Note(step, author, body, datetime.now(UTC).replace(tzinfo=None, microsecond=0))

        def save(store: Store) -> None:
            store_notes.add(store, note)

        await forms.results.run(save)
        asked = {k: v[0] for k, v in parse_qs(urlsplit(form.get("back", "")).query).items()}
        try:  # only back to this server's own page, with the page's own filters (views.Filters), nothing else
            kept = Filters.parse(asked)
        except UserError:
            kept = Filters()
        back = "/drop-off" + kept.query()
        return RedirectResponse(f"{back}#step-{step}", status_code=303)


def context(forms: NoteForms, found: dict[str, list[store_notes.Note]]) -> dict[str, Any]:
    return {"notes": found, "csrf": forms.token}
