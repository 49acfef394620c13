"""A real webhook receiver on 127.0.0.1 for the delivery tests."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET = "whsec_" + base64.b64encode(b"a-test-secret-of-some-length").decode()


def nudge_definitions(url: str, holdout: float = 0.0) -> str:
    """Definitions with one webhook rule: nudge users who have not connected 1 hour after signing up."""
    return f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
rules:
  - id: connect_nudge
    when: {{not_reached: connected, after: 1h}}
    then: {{webhook: "{url}", secret: "{SECRET}"}}
    holdout: {holdout}
"""


class Receiver:
    """A webhook endpoint: answers `fail` requests with 500 first, then 204; keeps what it accepted. With `hold_at`
    = n, the n-th request is kept (received) but not answered until `release` is set: a delivery in flight."""

    def __init__(self) -> None:
        self.fail = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.hold_at: int | None = None
        self.requests = 0
        self.holding = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests += 1
                if outer.requests == outer.hold_at:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.holding.set()
                    outer.release.wait(timeout=120)
                    return  # never answered: the sender is gone
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(500)
                else:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.release.set()
    r.server.shutdown()


