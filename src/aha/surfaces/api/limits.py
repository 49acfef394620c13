"""What bounds a client's hold on the server: header and body deadlines, a connection bound, quiet repeated logs.

Why: uvicorn's keep-alive timeout only runs between requests, so a client that connects and sends nothing (or half a
header, or a Content-Length larger than its body) held a socket forever; enough of them exhaust the file descriptors,
and then asyncio logs "socket.accept() out of system resource" on every loop turn (hundreds of MB a minute), which
fills the disk. Here: a connection must deliver its request headers within `header_seconds` of opening (or of the
previous response), and its body within `body_seconds` of its headers (else 408); connections past `max_connections`
are closed as soon as they are accepted; identical log lines repeat at most once per REPEAT_SECONDS; credentials in
a query string never reach the access log.

The access log (`aha serve --access-log`) has by default a line for each answer of status 400 or more only: at
thousands of requests a second a line per answer is ~10% of the server's CPU and gigabytes of log a day, and the
answers an operator acts on are the failures (a proxy in front keeps per-request logs where they are wanted);
`all` is uvicorn's line per request, `off` none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from aha.surfaces.api.protocol import HEADER_SECONDS, MAX_CONNECTIONS, BoundedProtocol

BODY_SECONDS = 30.0
KEEP_ALIVE_SECONDS = 5
FDS_KEPT_FREE = 64  # for the database, the spool, logs, and sockets accepted before the bound closes them
ACCEPT_BACKLOG = 16  # asyncio accepts up to `backlog` sockets per loop turn before any is closed: keep it small
REPEAT_SECONDS = 10.0
LOOP = "asyncio"  # not uvloop (uvicorn takes it when installed): no gain measured, docs/ingest.md "The HTTP layer"
STRANGER_LETTERS_PER_MINUTE = 60  # dead letters kept for requests without a valid key (the rest: answered only)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyDeadline:
    """ASGI middleware: the whole body must arrive within `seconds` of the request's headers, else 408.

    On the deadline it answers 408 itself (if the app has not started answering), tells the app the client left
    (`http.disconnect`, which Starlette raises as ClientDisconnect) and drops whatever the app sends after that.
    """

    def __init__(self, app: ASGIApp, seconds: float, answer: Callable[..., dict[str, Any]]) -> None:
        self.app, self.seconds, self.answer = app, seconds, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        state = {"body_done": False, "started": False, "timed_out": False}

        async def timed_receive() -> Message:
            if state["body_done"] or state["timed_out"]:
                return await receive() if not state["timed_out"] else {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                state["timed_out"] = True
                if not state["started"]:
                    state["started"] = True
                    reason = f"the body did not arrive within {self.seconds:g} seconds"
                    body = json.dumps(self.answer(408, "body", reason), separators=(",", ":")).encode()
                    await send({"type": "http.response.start", "status": 408,
                                "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                            (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)


class StopAnswer:
    """ASGI middleware (outermost): a request still running when the server stops answers 503, without a traceback.

    uvicorn waits `timeout_graceful_shutdown` seconds for open requests, then cancels them, and logs each cancelled
    one as "Exception in ASGI application" with a traceback (a client still sending its body at the stop, say).
    Here the cancellation is answered: 503 with Retry-After when nothing was sent yet (the call was not accepted:
    the client sends it again), the connection closed otherwise, and one line in the log. The cancellation is not
    raised again: uvicorn only waits for the task to end.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("uvicorn.error")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def marked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, marked_send)
        except asyncio.CancelledError:
            self.log.info("A request still open when the server stopped was answered 503: %s %s",
                          scope.get("method", ""), scope.get("path", ""))
            if started:
                return  # uvicorn closes the connection: "returned without completing response", one line
            reason = "the server is stopping; send the call again"
            error = {"field": "server", "reason": reason}  # the shape of every route's errors (tracking.error_body)
            body = json.dumps({"ok": False, "status": 503, **error, "errors": [error]}, separators=(",", ":")).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                    (b"retry-after", b"1"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class ErrorAccessLog:
    """ASGI middleware: uvicorn's access log line (same logger and format, so RedactFilter applies) for answers of
    status 400 or more; uvicorn's own line per request is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("uvicorn.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        http: Any = scope  # an HTTPScope

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.log.info('%s - "%s %s HTTP/%s" %d', get_client_addr(http), http["method"],
                              get_path_with_query_string(http), http["http_version"], message["status"])
            await send(message)

        await self.app(scope, receive, logged_send)


class StrangerLetters:
    """A bound on the dead letters kept for unauthenticated requests, so strangers cannot fill the disk with them."""

    def __init__(self, per_minute: int = STRANGER_LETTERS_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._window = 0
        self._count = 0

    def admit(self) -> bool:
        window = int(time.monotonic() // 60)
        if window != self._window:
            self._window, self._count = window, 0
        self._count += 1
        return self._count <= self.per_minute


def max_connections(wanted: int = MAX_CONNECTIONS) -> int:
    """Open connections allowed: `wanted`, within the file-descriptor limit (raised to its hard cap first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + FDS_KEPT_FREE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, min(wanted, soft - FDS_KEPT_FREE))


class RepeatFilter(logging.Filter):
    """Lets each (logger, message template) through at most once per `seconds`; says how many it held back."""

    def __init__(self, seconds: float = REPEAT_SECONDS) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).split("\n", 1)[0][:200])  # asyncio's lines differ after the first
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (-self.seconds, 0))
            if now - last < self.seconds:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
            if len(self._last) > 10_000:
                self._last.clear()
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.seconds:g} s)"
        return True


_SECRET_PARAMS = re.compile(r"(?i)([?&][^=&#]*(?:key|token|secret|password|auth)[^=&#]*=)[^&#\s]*")


def redact_query(path: str) -> str:
    """A request path as it may be logged: values of credential-like query parameters removed."""
    return _SECRET_PARAMS.sub(r"\1[removed]", path)


class RedactFilter(logging.Filter):
    """uvicorn's access log line without credentials from the query string (`?writeKey=…`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) and "=" in a else a for a in record.args)
        return True


def install_log_filters() -> None:
    """Quiet repeats on the loggers a flood writes to; redact the access log."""
    repeat = RepeatFilter()
    for name in ("asyncio", "uvicorn.error", "aha.ingest", "aha.query"):
        logging.getLogger(name).addFilter(repeat)
    logging.getLogger("uvicorn.access").addFilter(RedactFilter())


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, *, header_seconds: float = HEADER_SECONDS,
          connections: int = MAX_CONNECTIONS, sockets: list[socket.socket] | None = None,
          access_log: str = "errors", log_level: str = "info") -> None:
    """uvicorn with the bounds above (httptools: the protocol whose connections this module bounds); on `sockets`
    already listening, when given (`aha serve --workers`), instead of binding `host`:`port`; `access_log`: all,
    errors (ErrorAccessLog) or off."""
    bound = max_connections(connections)
    protocol = type("Protocol", (BoundedProtocol,), {"header_seconds": header_seconds, "max_connections": bound,
                                                     "log_requests": access_log == "all"})
    install_log_filters()
    config = uvicorn.Config(StopAnswer(ErrorAccessLog(app) if access_log == "errors" else app), host=host, port=port,
                            log_level=log_level, timeout_graceful_shutdown=10, http=protocol,
                            timeout_keep_alive=KEEP_ALIVE_SECONDS, limit_concurrency=bound + 1,
                            backlog=ACCEPT_BACKLOG, loop=LOOP,
                            access_log=access_log != "off")  # off: uvicorn drops the access logger's handlers
    uvicorn.Server(config).run(sockets=sockets)
