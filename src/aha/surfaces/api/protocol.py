"""The connection protocol of `aha serve`: uvicorn's httptools protocol (llhttp) with the bounds of
aha.surfaces.api.limits that only a protocol can keep (a header deadline, the open-connection bound, a bound on a
request head and on a chunked body's framing), llhttp's departures from h11 undone (a bad request pipelined behind
others, an Upgrade header, a missing Host), and a response's head and body written together (CoalescingTransport).
docs/ingest.md "The HTTP layer"; tests/ingest/test_limits.py and test_http_attacks.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

HEADER_SECONDS = 10.0
MAX_CONNECTIONS = 1000  # lowered to fit the file-descriptor limit (limits.max_connections)
MAX_HEADER_BYTES = 16 * 1024  # bound on an incomplete request head, and on a body's framing (BoundedProtocol)
CHUNK_LINE_BYTES = 64  # framing allowed per chunk of a chunked body (its size line and CRLFs), beside the bound
LINGER_SECONDS = 2.0  # a connection the protocol refused is read (and dropped) this long before it is closed


class CoalescingTransport:
    """A connection's transport whose writes go out together: uvicorn writes a response's head and its body apart,
    two TCP segments that wake the client twice (each wake-up a chance for the scheduler to preempt the server on a
    busy machine). Writes are gathered until the response is complete (`flush`, from the protocol) or, for anything
    else (a streamed body, an error answer), until the end of the event loop's turn; `close` sends what is gathered
    first. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (llhttp: about a third of h11's CPU per request) with a header deadline, a bound
    on the bytes of an incomplete request head and a hard bound on open connections.

    llhttp has no bound of its own on a request head (it gathers a header line until its end, however long): the
    bytes read while a head is open are counted, and past `max_header_bytes` the connection is answered 431 and
    closed. A read that completes a head and goes on into the body (or a next request) is fed up to the bound first:
    only if the head is still open there is it refused. The same bound holds for the bytes of a body that are not
    the body: a chunked body's trailer fields (which httptools gathers like header lines, by concatenation: a 50 MB
    trailer took 0.4 GB of memory and seconds of CPU, until the body deadline) and chunk lines beyond
    CHUNK_LINE_BYTES each: past it, 431.

    Two things llhttp does that h11 did not, undone here (tests/ingest/test_http_attacks.py):
    - A request llhttp cannot parse, pipelined behind requests not yet answered, is answered 400 (naming llhttp's
      reason) only after their answers: uvicorn answered it at once and closed, so the earlier requests' answers were
      lost and their client read the 400 as theirs (a stored tracking call looked refused).
    - `Connection: upgrade` with an `Upgrade` header makes llhttp skip the body and stop parsing (the rest is another
      protocol): a POST's body reached the app empty (a valid call refused as "not valid JSON") and pipelined requests
      were never answered. This server speaks no other protocol, so the Upgrade header is ignored (RFC 9110 7.8, as
      h11 did): the request's head is fed again without it to a fresh parser, with the rest of the read. CONNECT (an
      upgrade by its method) is answered 405 and the connection closed.
    """

    header_seconds = HEADER_SECONDS
    max_connections = MAX_CONNECTIONS
    max_header_bytes = MAX_HEADER_BYTES
    log_requests = True  # uvicorn's access log line per request (else only ErrorAccessLog's)
    _head_open = True  # between a response (or the connection's start) and the next request's complete head
    _head_bytes = 0  # bytes read while the head is open
    _refused = False  # answered by the protocol itself: what follows is dropped
    _deferred: tuple[int, str] | None = None  # a refusal that waits for the answers of the requests before it
    _framing = 0  # bytes read while a body is open, less its body bytes and CHUNK_LINE_BYTES per chunk
    _upgrade_head: bytes | None = None  # the head of a request llhttp took as an upgrade, without its Upgrade header

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.access_log = self.access_log and self.log_requests
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        if len(self.connections) > self.max_connections:
            logging.getLogger("uvicorn.error").warning("more than %d connections open: closing new ones",
                                                       self.max_connections)
            # counted no longer from now: connection_lost runs a loop turn later, and until then uvicorn's
            # concurrency limit (bound + 1) would answer a kept connection's request 503
            self.connections.discard(self)
            self.transport.close()
            return
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_open:
            room = self.max_header_bytes - self._head_bytes
            if len(data) > room:
                if room > 0:
                    self._feed(data[:room])  # may complete the head (or answer 400 and close)
                if self.transport.is_closing() or self._refused:
                    return
                if self._head_open:
                    self._answer(431, "Request header fields too large "
                                      f"(more than {self.max_header_bytes} bytes).")
                    return
                self.data_received(data[room:])
                return
            self._head_bytes += len(data)
            self._feed(data)
            return
        self._framing += len(data)
        self._feed(data)
        if self._framing > self.max_header_bytes and not self._head_open and not self._refused:
            self._refuse(431, f"Request trailer fields or chunk lines too large (more than {self.max_header_bytes} "
                              "bytes beside the body).")

    def on_body(self, body: bytes) -> None:
        self._framing -= len(body)
        if not self._refused:
            super().on_body(body)

    def on_chunk_header(self) -> None:
        self._framing -= CHUNK_LINE_BYTES

    def _feed(self, data: bytes) -> None:
        """uvicorn's data_received, with llhttp's reason in a 400 and an upgrade undone (see the class)."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            head, self._upgrade_head = self._upgrade_head, None
            if head is not None and not self._refused:
                self.parser = httptools.HttpRequestParser(self)
                self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's
                rest = data[upgrade.args[0]:]
                self._feed(head + rest)
                if self._head_open and not self._refused:
                    self._head_bytes = len(rest)  # at most what is still open: the bound holds
        except httptools.HttpParserError as error:
            reason = str(error).encode("ascii", "replace").decode("ascii").rstrip(".")
            self.send_400_response(f"Invalid HTTP request received: {reason}." if reason else
                                   "Invalid HTTP request received.")

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def _refuse(self, status: int, msg: str) -> None:
        """A request the protocol refuses: answered at once when it is the one being read (its body is bad: its app
        reads a disconnect, nothing is stored) or when every request before it is answered; else after their
        answers. An answer already begun for it is cut off instead."""
        cycle = self.cycle
        unanswered = cycle is not None and not cycle.response_complete
        if unanswered and not self._head_open:  # its body is bad
            assert cycle is not None
            cycle.disconnected = True
            cycle.message_event.set()
            unanswered = False
            if cycle.response_started:
                self._refused = True
                self.transport.close()
                return
        if unanswered or self.pipeline:
            self._refused, self._deferred = True, (status, msg)
            return
        self._answer(status, msg)

    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes, self._framing = False, 0, 0
        if self._refused:
            return  # what follows a refused request is not served
        hosts = sum(name == b"host" for name, _ in self.headers)
        if hosts > 1 or (hosts == 0 and self.parser.get_http_version() == "1.1"):  # RFC 9112 3.2: 400 (as h11)
            self._head_open = True  # refused as a head: the requests before it are answered first
            self._refuse(400, "Invalid HTTP request received: an HTTP/1.1 request needs one Host header "
                              f"(this one has {hosts}).")
            return
        if self.parser.should_upgrade():  # llhttp will skip the body and stop: see the class
            if self.parser.get_method() == b"CONNECT":
                self._head_open = True
                self._refuse(405, "The CONNECT method is not supported (this server is no proxy).")
            else:
                target = b" ".join([self.parser.get_method(), self.url,
                                    b"HTTP/" + self.parser.get_http_version().encode("ascii")])
                self._upgrade_head = b"".join([target, b"\r\n", *(name + b": " + value + b"\r\n" for name, value
                                                                   in self.headers if name != b"upgrade"), b"\r\n"])
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        if self._upgrade_head is not None or self._refused:
            return  # no cycle was made for it
        super().on_message_complete()

    def _answer(self, status: int, message: str) -> None:
        """A plain-text answer written by the protocol (as uvicorn's own 400), then a lingering close: the write side
        is shut and what the client still sends is read and dropped for up to LINGER_SECONDS, so that its unread
        bytes do not make the kernel reset the connection before the answer is read."""
        logging.getLogger("uvicorn.error").warning(message)
        text = message.encode("ascii")
        self.transport.write(b"".join([STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value
                                                              in self.server_state.default_headers),
                                       b"content-type: text/plain; charset=utf-8\r\n",
                                       b"content-length: %d\r\n" % len(text), b"connection: close\r\n\r\n", text]))
        self._refused = True
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """A client that half-closes after its request (HTTP/1.0 style) still gets its answer."""
        if self._refused and self._deferred is None:
            self.transport.close()
            return None
        if self._deferred is not None:
            return True  # the answers before the 400 are still to come
        return True if self.cycle is not None and not self.cycle.response_complete else None

    def on_response_complete(self) -> None:
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()
        super().on_response_complete()
        if self._deferred is not None and not self.pipeline and not self.transport.is_closing():
            assert self.cycle is not None
            if self.cycle.response_complete:
                (status, msg), self._deferred = self._deferred, None
                self._answer(status, msg)
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        previous = getattr(self, "_header_deadline", None)
        if previous is not None:
            previous.cancel()
        cycle = self.cycle  # a new request replaces it; still the same one at the deadline: no headers came

        def expire() -> None:
            if self.cycle is cycle and not self.transport.is_closing():
                self.transport.close()

        self._header_deadline = self.loop.call_later(self.header_seconds, expire)
