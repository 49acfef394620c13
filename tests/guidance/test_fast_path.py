"""The fast path (aha.surfaces.api.fast) answers exactly what FastAPI's routes answer: two real servers on copies of
one sample, one with the fast path and one without (`AHA_FAST_READS=0`), are asked the same raw requests in the same
order; every answer's status line, headers (but `date`) and body are the same bytes. Every user and account of the
sample, then the error and edge cases: keys missing, wrong or for writing, browsers with right and wrong HMACs,
unknown and overlong ids, CORS from an allowed and a foreign origin, `as_of`, paths FastAPI would not match."""

from __future__ import annotations

import os
import shutil
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import aha
from aha.surfaces.api.fast import FAST_READS_ENV
from aha.surfaces.api.state import IDENTITY_SECRET_ENV, user_hash
from tests.serving import Server, create_key, free_port

SECRET = "fast-path-identity-secret"
ORIGIN = "https://app.example"


def exchange(port: int, request: bytes) -> bytes:
    """One request on a new connection (`Connection: close`): the whole answer, `date` header taken out."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(120)
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")) + b"\n" + body


def same_second(fast: Server, routed: Server, request: bytes) -> tuple[bytes, bytes]:
    """The fast server's answer and the routed one's, asked within one second of the fast server's clock (a
    checklist is as of now, to the second): fast, routed, fast again, until both fast answers are the same."""
    for _ in range(5):
        first, other, again = (exchange(server.port, request) for server in (fast, routed, fast))
        if first == again:
            break
    return first, other


def get(path: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.fixture(scope="module")
def servers(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, str, str]]:
    read_key = create_key(sample_db, "fast-reader", "read")
    write_key = create_key(sample_db, "fast-writer", "write")
    started = []
    os.environ[IDENTITY_SECRET_ENV] = SECRET
    try:
        for fast in ("1", "0"):
            folder = tmp_path_factory.mktemp(f"fast{fast}")
            shutil.copy(sample_db, folder / "aha.duckdb")
            shutil.copy(sample_db.parent / "aha.yaml", folder / "aha.yaml")
            os.environ[FAST_READS_ENV] = fast
            started.append(Server(folder / "aha.duckdb", free_port(),
                                  args=("--config", str(folder / "aha.yaml"), "--cors-origin", ORIGIN)).start())
        yield started[0], started[1], read_key, write_key
    finally:
        for server in started:
            server.stop()
        os.environ.pop(IDENTITY_SECRET_ENV, None)
        os.environ.pop(FAST_READS_ENV, None)


@pytest.fixture(scope="module")
def entities(sample_db: Path) -> list[tuple[str, str]]:
    """(entity type, id) of every user and account of the sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(sample_db), str(sample_db.parent / "aha.yaml"))
        frame = project.state().to_frame()
        project.close()
    return sorted(set(zip(frame.entity_type, frame.entity_id, strict=True)))


def test_every_user_and_account_is_the_same_bytes(servers: tuple[Server, Server, str, str],
                                                  entities: list[tuple[str, str]]) -> None:
    fast, routed, read_key, _ = servers
    assert {kind for kind, _ in entities} == {"user", "account"} and len(entities) > 300
    auth = f"Authorization: Bearer {read_key}"
    for kind, entity in entities:
        request = get(f"/v1/{kind}s/{entity}/milestones", auth)
        answer, other = same_second(fast, routed, request)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"items":[' in answer
        assert answer == other, (kind, entity)


def test_errors_cors_and_edges_are_the_same_bytes(servers: tuple[Server, Server, str, str],
                                                  entities: list[tuple[str, str]]) -> None:
    fast, routed, read_key, write_key = servers
    account = next(i for kind, i in entities if kind == "account")
    user, other = [i for kind, i in entities if kind == "user"][:2]
    auth = f"Authorization: Bearer {read_key}"
    cases = {
        "no key": (get(f"/v1/users/{user}/milestones"), 401),
        "bad key": (get(f"/v1/users/{user}/milestones", "Authorization: Bearer aha_read_0000_nope"), 401),
        "write key": (get(f"/v1/users/{user}/milestones", f"Authorization: Bearer {write_key}"), 403),
        "browser": (get(f"/v1/users/{user}/milestones?user_hash={user_hash(SECRET, user)}"), 200),
        "wrong hmac": (get(f"/v1/users/{user}/milestones?user_hash={user_hash(SECRET, other)}"), 403),
        "hmac of an account": (get(f"/v1/accounts/{account}/milestones?user_hash={user_hash(SECRET, account)}"),
                               403),
        "hmac and key": (get(f"/v1/users/{user}/milestones?user_hash=nope", auth), 200),
        "unknown user": (get("/v1/users/nobody/milestones", auth), 404),
        "unknown account": (get("/v1/accounts/nobody/milestones", auth), 404),
        "overlong id": (get(f"/v1/users/{'x' * 1025}/milestones", auth), 400),
        "escaped id": (get("/v1/users/no%20body%2Fx/milestones", auth), 404),
        "unicode id": (get("/v1/users/%C3%BC-1/milestones", auth), 404),
        "cors allowed": (get(f"/v1/users/{user}/milestones", auth, f"Origin: {ORIGIN}"), 200),
        "cors foreign": (get(f"/v1/users/{user}/milestones", auth, "Origin: https://evil.example"), 200),
        "cors error": (get("/v1/users/nobody/milestones", f"Origin: {ORIGIN}"), 401),
        "as_of": (get(f"/v1/users/{user}/milestones?as_of=2026-11-01", auth), 200),
        "bad as_of": (get(f"/v1/users/{user}/milestones?as_of=tomorrow", auth), 422),
        "trailing slash": (get(f"/v1/users/{user}/milestones/", auth), 307),
        "empty id": (get("/v1/users//milestones", auth), 404),
        "head": (get(f"/v1/users/{user}/milestones", auth, method="HEAD"), 405),
        "other kind": (get(f"/v1/groups/{user}/milestones", auth), 404),
        "health": (get("/health"), 200),
        "health with cors": (get("/health", f"Origin: {ORIGIN}"), 200),
    }
    for name, (request, status) in cases.items():
        answer, other = same_second(fast, routed, request)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (name, answer[:300])
        assert answer == other, name
    assert b"access-control-allow-origin: " + ORIGIN.encode() in exchange(fast.port, cases["cors allowed"][0])


def test_the_fast_path_is_in_the_app_unless_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers above differ by the fast path alone: it is among the app's middleware, and not with
    AHA_FAST_READS=0."""
    from aha.surfaces.api import create_app
    from aha.surfaces.api.fast import FastReads

    def has_it() -> bool:
        return any(m.cls is FastReads for m in create_app(tmp_path / "aha.duckdb", fsync=False).user_middleware)

    monkeypatch.delenv(FAST_READS_ENV, raising=False)
    assert has_it()
    monkeypatch.setenv(FAST_READS_ENV, "0")
    assert not has_it()
