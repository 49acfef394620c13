"""The fast path: `GET /health`, `GET /v1/users/{id}/milestones` and `GET /v1/accounts/{id}/milestones` answered
ahead of FastAPI's routing, dependency solving and inner middleware (about a third of a checklist answer's CPU on
the server, docs/benchmarks.md "HTTP layer").

It is no second implementation: it calls the very functions the FastAPI routes call (the checklist answer of
aha.surfaces.api.state with a Starlette `Request` of the same scope, the app's health answer) and sends the response
they return. It sits among the app's middleware, outside BodyDeadline (these routes read no body) and inside CORS,
the server's error middleware and the error access log, so CORS headers, a 500's body and the log lines are the
ones FastAPI's route gets. Anything else (another path or method, a path Starlette would not match, a root path)
goes on to FastAPI unchanged. `AHA_FAST_READS=0` turns it off: every request then takes FastAPI's route
(tests/guidance/test_fast_path.py compares the two answers byte for byte).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from aha.surfaces.api.limits import ASGIApp, Receive, Scope, Send
from aha.surfaces.api.state import Checklist

FAST_READS_ENV = "AHA_FAST_READS"
KINDS = {"users": "user", "accounts": "account"}


def enabled() -> bool:
    return os.environ.get(FAST_READS_ENV, "1") not in ("0", "off", "false", "no")


class FastReads:
    """ASGI middleware: the checklist and health answers without FastAPI's routing (see the module's docstring)."""

    def __init__(self, app: ASGIApp, checklist: Checklist, health: Callable[[], Response]) -> None:
        self.app, self.checklist, self.health = app, checklist, health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            response = await self.answer(scope, receive)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive) -> Response | None:
        """The response of the route FastAPI would take, or None where this path is not one of those routes."""
        path: str = scope["path"]
        if path == "/health":
            return self.health()
        # Starlette's pattern for "/v1/users/{user_id}/milestones": the id is one or more characters but "/"
        parts = path.split("/")
        if len(parts) == 5 and parts[4] == "milestones" and parts[1] == "v1" and parts[0] == "" and parts[3]:
            kind = KINDS.get(parts[2])
            if kind is not None:
                request: Any = Request(scope, receive)
                return await self.checklist(kind, parts[3], request)
        return None
