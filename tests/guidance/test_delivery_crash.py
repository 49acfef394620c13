"""A SIGKILL of `aha serve` while a webhook is in flight (issue 15.4): the rule is at-least-once with a stable
`webhook-id`. Every firing is delivered; only the one in flight at the kill (its receiver got it, aha never heard the
answer) is sent again after the restart, with the same `webhook-id` and a valid signature, so a receiver that
deduplicates on it acts once. Firings delivered before the kill stay delivered (the rules pass commits each step)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from aha.guidance.delivery import message_id
from aha.guidance.rules import FIRINGS
from aha.store import open_store
from tests.guidance.conftest import SECRET, Receiver, nudge_definitions
from tests.journeys import write_events
from tests.serving import Server, free_port, rows

USERS = 6


def _wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_sigkill_mid_delivery_sends_again_only_the_firing_in_flight(tmp_path: Path, receiver: Receiver) -> None:
    # Signed up two hours ago (the server's rules run as of the wall clock): the 1-hour nudge is due for everyone.
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    db = tmp_path / "aha.duckdb"
    store = open_store(db)
    write_events(store, [(f"u{i}", "Signed Up", (now - timedelta(hours=2, minutes=i)).isoformat())
                         for i in range(USERS)])
    store.close()
    (tmp_path / "aha.yaml").write_text(nudge_definitions(receiver.url))
    receiver.hold_at = 3  # two deliveries answered, the third in flight when the server dies
    args = ("--config", str(tmp_path / "aha.yaml"), "--rules-every", "0.2")
    server = Server(db, free_port(), args=args).start()
    try:
        _wait_for(receiver.holding.is_set, "the third delivery")
    finally:
        server.kill()
    receiver.release.set()

    server = Server(db, free_port(), args=args).start()
    try:
        _wait_for(lambda: len({h["webhook-id"] for h, _ in receiver.received}) == USERS, "every firing delivered")
        _wait_for(lambda: receiver.requests >= USERS + 1, "the in-flight firing sent again")
    finally:
        server.stop()

    ids = Counter(h["webhook-id"] for h, _ in receiver.received)
    fired = {message_id("connect_nudge", f"u{i}") for i in range(USERS)}
    in_flight = receiver.received[2][0]["webhook-id"]
    assert set(ids) == fired
    assert ids == {i: (2 if i == in_flight else 1) for i in fired}
    hook = Webhook(SECRET)
    for headers, body in receiver.received:
        hook.verify(body, headers)  # raises on a bad signature
    assert rows(db, f"SELECT status, count(*) FROM {FIRINGS} GROUP BY status") == [("delivered", USERS)]
