"""How `aha serve` speaks HTTP: `--access-log` (by default a line only for answers of status 400 or more, in uvicorn's
format, keys in the query string removed; `all` a line per request; `off` none), and a response's head and body
written as one (CoalescingTransport), pipelined requests still answered in order. The real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from aha.surfaces.api.protocol import CoalescingTransport
from tests.serving import create_key, running


@pytest.mark.parametrize(("option", "ok_logged", "errors_logged"),
                         [((), False, True), (("--access-log", "all"), True, True),
                          (("--access-log", "off"), False, False)])
def test_which_answers_the_access_log_keeps(tmp_path: Path, option: tuple[str, ...], ok_logged: bool,
                                           errors_logged: bool) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    log = tmp_path / "server.log"
    with running(db, "--rules-every", "0", *option) as server:
        started = log.stat().st_size  # past the start-up lines and the start's own /health polls
        wait = 60
        assert httpx.post(server.url + "/v1/track", json={"userId": "u", "event": "E"},
                          auth=(key, ""), timeout=wait).status_code == 200
        assert httpx.get(server.url + "/health?probe=1", timeout=wait).status_code == 200
        assert httpx.get(server.url + "/v1/users/u/milestones", timeout=wait).status_code == 401
        assert httpx.post(server.url + f"/v1/track?writeKey={key}", content=b"{", timeout=wait).status_code == 400
    with log.open(encoding="utf-8") as lines:
        lines.seek(started)
        written = lines.read()
    assert ('"POST /v1/track HTTP/1.1" 200' in written) is ok_logged
    assert ('"GET /health?probe=1 HTTP/1.1" 200' in written) is ok_logged
    assert ('"GET /v1/users/u/milestones HTTP/1.1" 401' in written) is errors_logged
    assert ('"POST /v1/track?writeKey=[removed] HTTP/1.1" 400' in written) is errors_logged
    assert key.split("_", 3)[3] not in written  # the secret (aha_KIND_ID_SECRET; it may itself hold "_")


class Recorder:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


def test_writes_of_one_turn_go_out_as_one() -> None:
    async def main() -> None:
        real = Recorder()
        transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.write(b'{"ok":true}')
        assert real.writes == []
        await asyncio.sleep(0)  # the end of the loop's turn
        assert real.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']
        transport.write(b"head")
        transport.flush()  # the response is complete
        transport.write(b"bye")
        transport.close()  # sends what is gathered first
        assert real.writes[1:] == [b"head", b"bye"] and real.closed
        transport.write(b"late")
        await asyncio.sleep(0)
        assert real.writes[3:] == []  # nothing written to a closing transport
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)

    asyncio.run(main())


def test_pipelined_requests_are_answered_whole_and_in_order(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    create_key(db)
    with running(db, "--rules-every", "0") as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)  # a response's head follows the previous body
    assert statuses == [b"200", b"404", b"200"]
    assert received.count(b'"ok":true') == 2 and received.count(b'"status":404') == 1
