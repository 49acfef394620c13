"""Email nudges whose address or subject comes from hostile traits, sent to a real SMTP server (aiosmtpd on
127.0.0.1): a trait naming several addresses (or none that is one) sends nothing and says why, naming the trait; a
CR or LF in a trait filled into the subject is a space, not a failed attempt (nor a header of its own)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from aha.definitions import parse
from aha.guidance.rules import FIRINGS
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_traits
from tests.serving import free_port

START = datetime(2026, 1, 1)
RULES = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
rules:
  - id: mail
    when: {not_reached: connected, after: 1h}
    then: {email: {subject: "Hi {{ user.name }}", body: "Connect a source."}}
"""
# user → (email trait, name trait)
USERS = {
    "list": ("victim@example.com, attacker@evil.com", "A"),
    "semicolon": ("victim@example.com;attacker@evil.com", "B"),
    "display": ("Evil <attacker@evil.com>", "C"),
    "header": ("d@example.com\r\nBcc: attacker@evil.com", "D"),
    "two_at": ("a@b@c", "E"),
    "bare_at": ("@", "F"),
    "crlf_name": ("g@example.com", "Bob\r\nBcc: attacker@evil.com"),
    "plain": ("h@example.com", "Hanna"),
    "utf8": ("ü@exämple.com", "Ülla"),
}


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch) -> Iterator[Inbox]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AHA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AHA_SMTP_PORT", str(port))
    monkeypatch.setenv("AHA_SMTP_FROM", "aha@example.com")
    yield handler
    controller.stop()


def test_a_nudge_goes_to_the_one_address_a_trait_holds_or_nowhere(tmp_path, inbox):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, "Signed Up", (START + timedelta(minutes=i)).isoformat()) for i, u in enumerate(USERS)])
    write_traits(store, {u: {"email": e, "name": n} for u, (e, n) in USERS.items()})
    project = Project(store, parse(RULES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(hours=12))
    recipients = sorted(r for rcpt, _ in inbox.received for r in rcpt)
    assert recipients == ["g@example.com", "h@example.com", "ü@exämple.com"]  # never evil.com, never "<>"
    assert (result.delivered, result.retrying) == (3, 6)
    mails = [message_from_bytes(m, policy=policy.default) for _, m in inbox.received]
    subjects = {str(mail["To"]): str(mail["Subject"]) for mail in mails}
    assert subjects["g@example.com"] == "Hi Bob Bcc: attacker@evil.com"  # one line: the CR LF is a space
    errors = dict(store.raw.execute(f"SELECT user_id, last_error FROM {FIRINGS} WHERE status = 'pending'").fetchall())
    assert set(errors) == {"list", "semicolon", "display", "header", "two_at", "bare_at"}
    assert errors["list"] == ("not one email address: the user's 'email' trait holds 'victim@example.com, "
                              "attacker@evil.com'; nudges go to one bare address (name@example.com), not a list or "
                              "a display name")
    assert all(e.startswith("not one email address: the user's 'email' trait holds ") for e in errors.values())
