"""A hostile client against the real server's HTTP layer (uvicorn's httptools protocol, protocol.BoundedProtocol; issue
12): request smuggling shapes, pipelining with a bad request, Upgrade and CONNECT, bodies past the limits, encoded
slashes and dot segments in a checklist id, a key that is not ASCII. Each answer is the server's own, asserted on
its status line and reason; at the end the store holds exactly the calls answered 200, once each.

Raw sockets throughout: an HTTP client library would refuse to send most of these.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator

import pytest

from tests.serving import Server, create_key, free_port, rows, sample_db, settled


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    db = sample_db(tmp_path_factory.mktemp("attacks"), users=20)
    key = create_key(db)
    read = create_key(db, "reader", "read")
    running = Server(db, free_port(), args=("--timeout", "3")).start()
    yield running, key, read
    running.stop()


def exchange(server: Server, data: bytes, half_close: bool = False) -> bytes:
    """Everything the server answers to `data` (one write) until it closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(30)  # a safety net far above the server's own deadlines
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def statuses(answer: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def call(user: str) -> bytes:
    return json.dumps({"userId": user, "event": "E", "messageId": f"attack-{user}"}).encode()


def post(key: str, headers: str = "", path: str = "/v1/track") -> bytes:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\n"
            f"{headers}\r\n").encode()


def chunked(body: bytes, size: int = 8192) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


def connection_close(request: bytes) -> bytes:
    return request[:-2] + b"Connection: close\r\n\r\n"


HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
# the users of the calls answered 200 below
STORED = ["before-no-host", "expect", "h2c", "pipelined", "tiny-chunks", "websocket"]


def test_a_bad_request_pipelined_behind_good_ones_is_answered_after_them(server: tuple[Server, str, str]) -> None:
    """llhttp parses a whole read: uvicorn answered the bad request at once and closed, so the tracking call before
    it (stored) got no answer and its client read the 400 as its own. Now: each answer in order, the 400 last."""
    running, key, _ = server
    body = call("pipelined")
    answer = exchange(running, post(key, f"Content-Length: {len(body)}\r\n") + body + HEALTH + b"GARBAGE\r\n\r\n")
    assert statuses(answer) == [200, 200, 400], answer
    assert b'"accepted":1' in answer and b'"in_flight"' in answer
    assert answer.endswith(b"Invalid HTTP request received: Invalid method encountered.")


def test_a_bad_request_behind_one_is_answered_after_it_when_the_client_half_closes(
        server: tuple[Server, str, str]) -> None:
    running, _, _ = server
    answer = exchange(running, HEALTH + b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", half_close=True)
    assert statuses(answer) == [200, 400], answer
    assert answer.endswith(b"Invalid HTTP request received: Invalid header value char.")


@pytest.mark.parametrize(("user", "upgrade"), [
    ("h2c", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
    ("websocket", "Connection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
], ids=["h2c", "websocket"])
def test_an_upgrade_header_is_ignored(server: tuple[Server, str, str], user: str, upgrade: str) -> None:
    """llhttp skips an upgrade request's body and stops parsing: the call reached the app empty (400 "not valid
    JSON") and the request behind it was never answered. This server speaks no other protocol: Upgrade is ignored
    (java.net.http asks for h2c on its first request to an http:// URL, a POST's body included)."""
    running, key, _ = server
    body = call(user)
    framings = ((f"Content-Length: {len(body)}\r\n", body), ("Transfer-Encoding: chunked\r\n", chunked(body)))
    for framing, sent in framings:
        answer = exchange(running, post(key, upgrade + framing) + sent + connection_close(HEALTH))
        assert statuses(answer) == [200, 200], answer
        assert b'"accepted":1' in answer


@pytest.mark.parametrize("target", [b"evil.example:443", b"/v1/track"])
def test_connect_is_refused_with_405(server: tuple[Server, str, str], target: bytes) -> None:
    running, _, _ = server
    answer = exchange(running, b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTH)
    assert statuses(answer) == [405], answer
    assert answer.endswith(b"The CONNECT method is not supported (this server is no proxy).")


@pytest.mark.parametrize("authorization", [b"Basic \xff\xfe", b"Basic \xc3\xa9t\xc3\xa9", b"Basic //79"],
                         ids=["latin-1", "utf-8", "base64 of bytes that are not utf-8"])
def test_a_basic_key_that_is_not_ascii_gets_401(server: tuple[Server, str, str], authorization: bytes) -> None:
    """A header's bytes reach the app as latin-1 text: base64 of it raised ValueError, a 500 (also under h11)."""
    running, _, _ = server
    body = call("latin1")
    answer = exchange(running, b"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization +
                      b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
    assert statuses(answer) == [401], answer
    assert b'"field":"writeKey"' in answer


SMUGGLING = {
    "content-length and chunked": "Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n",
    "two content-lengths": "Content-Length: {n}\r\nContent-Length: 5\r\n",
    "the same content-length twice": "Content-Length: {n}\r\nContent-Length: {n}\r\n",
    "a content-length list": "Content-Length: {n}, {n}\r\n",
    "obs-fold": "X-A: a\r\n b\r\nContent-Length: {n}\r\n",
    "chunked, identity": "Transfer-Encoding: chunked, identity\r\n",
    "gzip transfer coding": "Transfer-Encoding: gzip\r\nContent-Length: {n}\r\n",
    "chunked twice": "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "space before the colon": "Transfer-Encoding : chunked\r\n",
    "signed content-length": "Content-Length: +{n}\r\n",
}


@pytest.mark.parametrize("framing", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_ambiguous_framing_is_refused_and_nothing_is_stored(server: tuple[Server, str, str], framing: str) -> None:
    """Any head whose body length two parsers could read differently is refused 400 and the connection closed: the
    request after it (which a proxy in front might take as this one's body) is never served."""
    running, key, _ = server
    body = call("smuggled")
    answer = exchange(running, post(key, framing.format(n=len(body))) + chunked(body) + HEALTH)
    assert statuses(answer) == [400], answer
    assert b"Invalid HTTP request received" in answer


@pytest.mark.parametrize("hosts", ["", "Host: a\r\nHost: b\r\n"], ids=["none", "two"])
def test_an_http_1_1_request_without_exactly_one_host_gets_400(server: tuple[Server, str, str], hosts: str) -> None:
    """RFC 9112 3.2 (h11 answered 400; llhttp lets it through). Nothing pipelined behind it is served, not even a
    valid tracking call."""
    running, key, _ = server
    body = call("behind-no-host")
    answer = exchange(running, f"GET /health HTTP/1.1\r\n{hosts}\r\n".encode()
                      + post(key, f"Content-Length: {len(body)}\r\n") + body)
    assert statuses(answer) == [400], answer
    assert answer.endswith(f"an HTTP/1.1 request needs one Host header (this one has {hosts.count('Host')}).".encode())


def test_a_host_refusal_pipelined_behind_a_call_comes_after_its_answer(server: tuple[Server, str, str]) -> None:
    running, key, _ = server
    body = call("before-no-host")
    answer = exchange(running, post(key, f"Content-Length: {len(body)}\r\n") + body + b"GET /health HTTP/1.1\r\n\r\n")
    assert statuses(answer) == [200, 400], answer


@pytest.mark.parametrize("where", ["trailer", "chunk extension"])
def test_trailers_or_chunk_lines_past_16_kb_get_431_and_nothing_is_stored(
        server: tuple[Server, str, str], where: str) -> None:
    """httptools gathers a trailer field like a header line, by concatenation and with no bound of its own: a 50 MB
    trailer held 0.4 GB and seconds of CPU until the body deadline (h11 refused it past 16 KB)."""
    running, key, _ = server
    body = call("trailer")
    framing = (b"%x\r\n%s\r\n0\r\nX-Trailer: %s\r\n\r\n" % (len(body), body, b"a" * 1_000_000) if where == "trailer"
               else b"%x;x=%s\r\n%s\r\n0\r\n\r\n" % (len(body), b"a" * 1_000_000, body))
    answer = exchange(running, post(key, "Transfer-Encoding: chunked\r\n") + framing)
    assert statuses(answer) == [431], answer
    assert answer.endswith(b"Request trailer fields or chunk lines too large (more than 16384 bytes beside the body).")


def test_small_trailers_and_many_one_byte_chunks_are_stored(server: tuple[Server, str, str]) -> None:
    running, key, _ = server
    body = call("tiny-chunks")
    answer = exchange(running, connection_close(post(key, "Transfer-Encoding: chunked\r\n"))
                      + chunked(body, size=1)[:-2] + b"X-Trailer: a\r\n\r\n")
    assert statuses(answer) == [200], answer
    assert b'"accepted":1' in answer


@pytest.mark.parametrize(("path", "size"), [("/v1/track", 40_000), ("/v1/batch", 600_000)])
def test_a_chunked_body_past_the_limit_gets_413(server: tuple[Server, str, str], path: str, size: int) -> None:
    running, key, _ = server
    body = b'{"userId": "big", "event": "E", "properties": {"p": "' + b"a" * size + b'"}}'
    answer = exchange(running, post(key, "Transfer-Encoding: chunked\r\n", path) + chunked(body))
    assert statuses(answer) == [413], answer
    assert b'"field":"body"' in answer


@pytest.mark.parametrize("bad", [b"zz\r\n", b"ffffffffffffffffff\r\n", b"5\nabcde\n0\n\n"])
def test_a_bad_chunk_size_gets_400(server: tuple[Server, str, str], bad: bytes) -> None:
    running, key, _ = server
    answer = exchange(running, post(key, "Transfer-Encoding: chunked\r\n") + bad + call("badchunk") + b"\r\n0\r\n\r\n")
    assert statuses(answer) == [400], answer


def test_expect_100_continue_with_a_body_past_the_limit_gets_413_without_continue(
        server: tuple[Server, str, str]) -> None:
    running, key, _ = server
    answer = exchange(running, post(key, "Expect: 100-continue\r\nContent-Length: 99000000\r\n", "/v1/batch"))
    assert statuses(answer) == [413], answer


def test_expect_100_continue_gets_continue_then_stores(server: tuple[Server, str, str]) -> None:
    running, key, _ = server
    body = call("expect")
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.settimeout(30)
        sock.sendall(connection_close(post(key, f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n")))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        answer = sock.recv(65536)
    assert statuses(answer) == [200] and b'"accepted":1' in answer


@pytest.mark.parametrize(("encoded", "field"), [
    ("u1%2F..%2F..%2Fhealth", "path"), ("u1%2Fmilestones", "path"), ("u1%2F..%2F..%2Faccounts%2Fw1", "path"),
    ("%2E%2E", "id"), (".", "id"), ("u1%00", "id"), ("u1%2e%2e", "id"),
])
def test_an_encoded_slash_or_dot_segment_reaches_no_other_route(
        server: tuple[Server, str, str], encoded: str, field: str) -> None:
    """The path is decoded before routing and never normalised: an encoded slash makes a path no route matches
    (404 naming `path`), an encoded dot segment is the id itself (404 naming `id`); never another route (/health's
    answer) nor another entity's checklist, on the fast path as on FastAPI's."""
    running, _, read = server
    answer = exchange(running, f"GET /v1/users/{encoded}/milestones HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                               f"{read}\r\nConnection: close\r\n\r\n".encode())
    assert statuses(answer) == [404], answer
    assert f'"field":"{field}"'.encode() in answer and b'"in_flight"' not in answer and b'"kind"' not in answer


@pytest.mark.parametrize("path", ["/v1/users/u1/../u2/milestones", "/v1/users/../accounts/w1/milestones",
                                  "//v1/users/u1/milestones", "/v1//users/u1/milestones"])
def test_a_raw_dot_segment_or_empty_segment_matches_no_route(server: tuple[Server, str, str], path: str) -> None:
    running, _, read = server
    answer = exchange(running, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {read}\r\n"
                               "Connection: close\r\n\r\n".encode())
    assert statuses(answer) == [404], answer
    assert b'"field":"path"' in answer


@pytest.mark.parametrize("path", ["/health", "/v1/users/u1/milestones"])
def test_head_on_the_fast_path_routes_gets_405_with_no_body(server: tuple[Server, str, str], path: str) -> None:
    running, _, read = server
    answer = exchange(running, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {read}\r\n\r\n".encode()
                      + connection_close(HEALTH))
    assert statuses(answer) == [405, 200], answer
    assert answer.split(b"\r\n\r\n")[1].startswith(b"HTTP/1.1 200 ")  # the 405 has no body


def test_a_client_leaving_mid_chunk_stores_nothing(server: tuple[Server, str, str]) -> None:
    """Half a chunk, then the client closes: no answer is owed and nothing is stored (the last test counts)."""
    running, key, _ = server
    body = call("mid-chunk")
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.sendall(post(key, "Transfer-Encoding: chunked\r\n") + b"%x\r\n" % len(body) + body[:20])
    assert settled(running)["in_flight"] == 0


def test_an_upgrade_head_trickled_byte_by_byte_is_served_too(server: tuple[Server, str, str]) -> None:
    running, key, _ = server
    body = call("h2c")  # stored already: a duplicate, answered as accepted
    data = post(key, f"Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: {len(body)}\r\n") + body
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.settimeout(30)
        for at in range(len(data)):
            sock.sendall(data[at:at + 1])
        sock.sendall(connection_close(HEALTH))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert statuses(answer) == [200, 200], answer


def test_the_store_holds_each_call_answered_200_once(server: tuple[Server, str, str]) -> None:
    running, _, _ = server
    assert settled(running)["in_flight"] == 0
    running.stop()
    stored = rows(running.db, "SELECT user_id, count(*) FROM events WHERE message_id LIKE 'attack-%' "
                              "GROUP BY ALL ORDER BY 1")
    assert stored == [(user, 1) for user in STORED]
