"""`aha dashboard` bounds its clients as `aha serve` does, and the notes form never holds more than a note.

Before: `aha dashboard` ran plain uvicorn, so a client that sent half a request head kept its connection (and a file
descriptor) for ever, and a body that never ended kept its request waiting; the notes form read the whole body before
looking at its size, so a 400 MB POST sat in the server's memory (on `aha serve` too) until it was refused, and a
chunked body without an end was waited for. The real `aha dashboard` on 127.0.0.1, spoken to with raw sockets.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.serving import AHA, free_port, sample_db

TIMEOUT = 3.0  # `--timeout`: a request's body within 3 s of its head, the head within 1 s
WAIT = 60.0  # how long a test waits for the server's answer (far past every bound)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("dashboard")
    db = sample_db(folder, users=60)
    port = free_port()
    log = (folder / "dashboard.log").open("wb")
    process = subprocess.Popen([AHA, "dashboard", "--db", str(db), "--port", str(port), "--timeout", str(TIMEOUT)],
                               cwd=folder, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 120, False
        while not ready and time.monotonic() < deadline:
            assert process.poll() is None, (folder / "dashboard.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{url}/users", timeout=120).status_code == 200
            time.sleep(0.1)
        assert ready
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "Traceback" not in (folder / "dashboard.log").read_text()


def connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(WAIT)
    return sock


def answer(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (or WAIT passes: then a socket.timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data and b"connection: close" not in data.lower() and len(data) > 200:
            break
    return data


def test_half_a_request_head_is_closed(dashboard: str) -> None:
    with connect(dashboard) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert sock.recv(100) == b""  # closed by the server (before: held for ever, recv timed out)


def test_a_body_shorter_than_its_length_gets_408(dashboard: str) -> None:
    with connect(dashboard) as sock:
        sock.sendall(b"POST /drop-off/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\nstep=a")
        assert answer(sock).startswith(b"HTTP/1.1 408 ")


def test_a_note_longer_than_the_limit_is_refused_before_it_is_read(dashboard: str) -> None:
    page = httpx.get(f"{dashboard}/drop-off", timeout=120)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    step = re.search(r'name="step" value="([^"]+)"', page.text)
    assert token and step
    head = (b"POST /drop-off/notes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n")
    with connect(dashboard) as sock:  # 100 MB declared, none of it sent: refused on the declaration
        sock.sendall(head + b"Content-Length: 100000000\r\n\r\n")
        refused = answer(sock)
        assert refused.startswith(b"HTTP/1.1 413 ") and b"16,384 bytes" in refused
    with connect(dashboard) as sock:  # chunked, 64 KB sent and no last chunk: refused once past 16 KB
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(16):
            sock.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
        assert answer(sock).startswith(b"HTTP/1.1 413 ")
    saved = httpx.post(f"{dashboard}/drop-off/notes", timeout=120, follow_redirects=True,
                       data={"csrf": token.group(1), "step": step.group(1), "author": "ana", "body": "kept note"})
    assert saved.status_code == 200 and "kept note" in saved.text  # a note under the limit is saved and shown


IMAGE = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}


@pytest.mark.parametrize(("headers", "served"), [
    pytest.param({}, True, id="no_fetch_metadata"),  # curl, scripts, older browsers
    pytest.param({"sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, True,
                 id="address_bar"),
    pytest.param({"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, True,
                 id="own_link"),
    pytest.param({"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, True,
                 id="link_from_another_site"),
    pytest.param(IMAGE, False, id="another_sites_img"),
    pytest.param({"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}, False,
                 id="another_sites_fetch"),
    pytest.param({"sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script"}, False,
                 id="a_sibling_sites_script"),
    pytest.param({"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe"}, False,
                 id="another_sites_frame"),
])
def test_another_sites_page_cannot_make_the_dashboard_compute(dashboard: str, headers: dict[str, str],
                                                               served: bool) -> None:
    """An `<img src="http://127.0.0.1:8000/milestones?as_of=…">` on any page the user visits reached the local
    dashboard (its Host is a loopback name) and started an analysis and a discovery per distinct URL."""
    for path in ("/milestones?as_of=2026-02-01", "/funnel?as_of=2026-02-02", "/users/u00000001"):
        got = httpx.get(dashboard + path, headers=headers, timeout=120)
        if served:
            assert got.status_code in (200, 404), (path, got.status_code)
            assert "Sec-Fetch-Site" not in got.text
        else:
            assert got.status_code == 403, (path, got.status_code)
            assert "another site" in got.text and "<table" not in got.text
