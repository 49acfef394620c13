"""Webhook receivers that answer badly, on 127.0.0.1 (a raw socket: the receiver decides every byte): a body of
hundreds of megabytes, headers sent one line at a time for ever. A send reads only the receiver's status and
headers, within `ANSWER_SECONDS` in all; a receiver that gave no answer is not tried again in the same pass (one
slow receiver held the server's reader thread, so every dashboard page and query, for hours)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from aha.guidance import delivery
from aha.guidance.rules import FIRINGS
from tests.guidance.conftest import Receiver
from tests.guidance.test_delivery import START, make_project, run

OFFERED = 256 * 2**20  # the body a hostile receiver offers
DRIPPED = 100  # header lines a slow receiver sends, 0.2 s apart (20 s: far past the deadline the tests set)


class RawReceiver:
    """Answers every connection by `mode`: "huge" (200, then OFFERED bytes of body), "drip" (200, then one header
    line every 0.2 s, DRIPPED of them). Counts connections and the body bytes it managed to send."""

    def __init__(self, mode: str) -> None:
        self.mode, self.connections, self.sent = mode, 0, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                if self.mode == "huge":
                    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {OFFERED}\r\n\r\n".encode())
                    chunk = b"x" * 2**20
                    while self.sent < OFFERED and not self.stopped.is_set():
                        conn.sendall(chunk)
                        self.sent += len(chunk)
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(DRIPPED):
                        if self.stopped.is_set():
                            return
                        conn.sendall(b"X-Slow: 1\r\n")
                        time.sleep(0.2)
                    conn.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the sender closed the connection
                pass

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


@pytest.fixture
def raw_receiver(request: pytest.FixtureRequest) -> Iterator[RawReceiver]:
    r = RawReceiver(request.param)
    yield r
    r.close()


@pytest.mark.parametrize("raw_receiver", ["huge"], indirect=True)
def test_a_huge_answer_is_not_read(tmp_path, raw_receiver):
    project = make_project(tmp_path, raw_receiver.url, users=1)
    result = run(project, START + timedelta(hours=12))
    assert result.delivered == 1  # the status (200) is the answer
    # Read whole, the body took 2 GB of memory per 1 GB offered; now the send stops at the headers (what the
    # socket buffers took before the close is a few MB).
    assert raw_receiver.sent < 32 * 2**20


@pytest.mark.parametrize("raw_receiver", ["drip"], indirect=True)
def test_a_receiver_that_never_finishes_its_answer_is_given_up_and_not_tried_again_in_the_pass(
        tmp_path, raw_receiver, monkeypatch):
    # Each header line comes well within the 10 s read timeout: only a deadline on the whole answer ends it.
    monkeypatch.setattr(delivery, "ANSWER_SECONDS", 1.0, raising=False)
    project = make_project(tmp_path, raw_receiver.url, users=6)
    result = run(project, START + timedelta(hours=12))
    errors = sorted(e for (e,) in project.store.raw.execute(
        f"SELECT last_error FROM {FIRINGS} WHERE status <> 'held_out'").fetchall())
    nudged = len(errors)  # 6 users, a quarter held out by hash: 4 here
    assert nudged >= 2 and (result.sent, result.delivered, result.retrying) == (nudged, 0, nudged)
    assert raw_receiver.connections == 1  # the others wait for the next pass
    assert errors[0] == "TimeoutError: the receiver did not answer within 1 s"
    assert errors[1:] == ["not sent: an earlier send to this receiver in the same pass failed (TimeoutError: the "
                           "receiver did not answer within 1 s)"] * (nudged - 1)


def test_a_send_from_inside_a_running_event_loop_works(receiver: Receiver) -> None:
    """A notebook runs an event loop in its main thread: `project.run_rules()` there must still send."""

    async def inside() -> int:
        return delivery.http_post(receiver.url, b"{}", {"content-type": "application/json"})

    assert asyncio.run(inside()) == 204 and len(receiver.received) == 1
