"""Email nudges to a real SMTP server (aiosmtpd on 127.0.0.1): templates filled from traits and state in a sandbox,
a missing trait fails the attempt with its name, a hostile template is refused, held-out users get nothing."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from aha.definitions import parse
from aha.definitions.errors import DefinitionError
from aha.guidance.rules import FIRINGS
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_identities, write_traits
from tests.serving import free_port

START = datetime(2026, 1, 1)
RULES = """
signup: {{event: Signed Up}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary, guidance: Connect a source}}
rules:
  - id: connect_mail
    when: {{not_reached: connected, after: 1h}}
    then:
      email:
        subject: "{subject}"
        body: "Hi {{{{ user.first_name }}}}, next: {{{{ state.next_milestone }}}}."
    holdout: 0.25
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch) -> Iterator[Inbox]:
    handler = Inbox()
    port = handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AHA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AHA_SMTP_PORT", str(port))
    monkeypatch.setenv("AHA_SMTP_FROM", "aha@example.com")
    yield handler
    controller.stop()


def project_with(tmp_path, subject: str = "Your next step, {{ user.first_name }}") -> Project:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(f"u{i}", "Signed Up", (START + timedelta(minutes=i)).isoformat()) for i in range(12)])
    traits = {f"u{i}": {"email": f"u{i}@example.com", "first_name": f"Name{i}"} for i in range(11)}
    traits["u11"] = {"email": "u11@example.com"}  # no first_name: the template cannot be filled
    write_traits(store, traits)
    return Project(store, parse(RULES.format(subject=subject)))


def test_emails_are_rendered_and_sent(tmp_path, inbox):
    project = project_with(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(hours=12))
    statuses = dict(project.store.raw.execute(f"SELECT user_id, status FROM {FIRINGS}").fetchall())
    nudged = {u for u, s in statuses.items() if s != "held_out"}
    received = {message_from_bytes(m)["To"]: message_from_bytes(m) for m in inbox.messages}
    assert set(received) == {f"{u}@example.com" for u in nudged - {"u11"}}
    some = sorted(nudged - {"u11"})[0]
    mail = received[f"{some}@example.com"]
    assert mail["Subject"] == f"Your next step, Name{some[1:]}"
    assert mail.get_payload().strip() == f"Hi Name{some[1:]}, next: connected."
    if "u11" in nudged:
        (error,) = project.store.raw.execute(f"SELECT last_error FROM {FIRINGS} WHERE user_id = 'u11'").fetchone()
        assert "first_name" in error and result.retrying == 1


def test_a_template_that_reaches_for_python_internals_is_refused(tmp_path, inbox):
    project = project_with(tmp_path, subject="{{ user.__class__.__mro__ }}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(hours=12))
    assert inbox.messages == [] and result.delivered == 0
    rows = project.store.raw.execute(f"SELECT last_error FROM {FIRINGS} WHERE status = 'pending'").fetchall()
    errors = {r[0] for r in rows}
    assert errors and all("sandbox" in e for e in errors)


def test_a_template_that_does_not_parse_is_a_definition_error():
    with pytest.raises(DefinitionError, match="subject template does not parse"):
        parse(RULES.format(subject="{{ unclosed"))


LOOP_FOREVER = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize("subject,reason", [
    (LOOP_FOREVER, "longer than 2 s"),  # 10^10 iterations: hours
    ("{{ ''|center(10**10) }}", "MB to render|longer than 2 s"),  # 10 GB in one call
    ("{% for a in range(100000) %}{{ user.email }}{% endfor %}", "longer than 100,000 characters"),
    ("{{ ''.__class__ }}", "sandbox"),
])
def test_a_template_that_would_run_forever_or_exhaust_memory_fails_its_attempts(tmp_path, inbox, subject, reason):
    """Every attempt fails with the bound it passed, the pass ends, and the next pass with a good template sends
    every email: a hostile template stops neither delivery nor the process that runs it."""
    project = project_with(tmp_path, subject=subject)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(hours=12))
    assert inbox.messages == [] and result.delivered == 0
    errors = [r[0] for r in project.store.raw.execute(
        f"SELECT last_error FROM {FIRINGS} WHERE status = 'pending'").fetchall()]
    assert len(errors) == result.retrying > 0
    assert all(e.startswith("template: ") and re.search(reason, e) for e in errors), errors
    good = Project(project.store, parse(RULES.format(subject="Your next step")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = good.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(days=2))
    assert again.delivered == len(inbox.messages) == result.retrying - ("u11" in _nudged(project))


def _nudged(project: Project) -> set[str]:
    return {u for (u,) in project.store.raw.execute(f"SELECT user_id FROM {FIRINGS} WHERE status != 'held_out'")
            .fetchall()}


def test_an_smtp_server_that_does_not_answer_costs_one_timeout_per_pass(tmp_path, inbox, monkeypatch):
    """A server that accepts and never greets (down behind a proxy, a firewall holding the port) cost each email its
    timeout: up to 500 per pass, the reader (every dashboard page and read of the server) waiting behind them. Now the
    first send's failure is the pass's answer for the rest, and the next pass, with the server back, sends them all."""
    import socket
    import threading

    from aha.guidance import email

    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(silent.accept()[0])  # accepted, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setattr(email, "TIMEOUT_SECONDS", 1.0)
    monkeypatch.setenv("AHA_SMTP_PORT", str(silent.getsockname()[1]))
    project = project_with(tmp_path, subject="Your next step")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(hours=12))
    finally:
        silent.close()
        for connection in held:
            connection.close()
    nudged = _nudged(project)
    assert result.retrying == len(nudged) > 1 and result.delivered == 0
    assert len(held) == 1  # one connection; before, one per email
    errors = sorted(r[0] for r in project.store.raw.execute(
        f"SELECT last_error FROM {FIRINGS} WHERE status = 'pending'").fetchall())
    later = [e for e in errors if e.startswith("not sent: an earlier send to the SMTP server in the same pass failed")]
    assert len(later) == len(nudged) - 1
    monkeypatch.setenv("AHA_SMTP_PORT", str(inbox.port))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = project.run_rules(as_of="2026-01-01T12:00", now=START + timedelta(days=2))
    assert again.delivered == len(inbox.messages) == len(nudged - {"u11"})  # u11 has no first_name for the body


def test_an_email_recorded_before_a_merge_goes_to_the_merged_users_address_in_their_time_zone(tmp_path, inbox):
    """old1 signs up without traits and is recorded at 02:00 (not sent yet); at 03:00 an alias merges it into new1,
    whose traits hold the address and the zone (new1@example.com, Asia/Tokyo). Quiet hours 22:00–08:00: at 14:00
    UTC it is 23:00 in Tokyo, so the email is deferred to 23:00 UTC (08:00 there), then sent to new1's address,
    filled with new1's name. Before, old1's own (empty) traits were read: the attempt at 14:00 failed with "no email
    address" and would have gone out in UTC's day."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("old1", "Signed Up", "2026-01-01T00:00")])
    project = Project(store, parse(RULES.format(subject="Your next step, {{ user.first_name }}") + """
nudges:
  quiet_hours: {start: "22:00", end: "08:00"}
"""))
    assert project.run_rules(as_of="2026-01-01T02:00", deliver=False).rules[0].new == 1
    write_identities(store, [("old1", "new1", "2026-01-01T03:00")])
    write_traits(store, {"new1": {"email": "new1@example.com", "first_name": "Ada", "timezone": "Asia/Tokyo"}})
    write_events(store, [("new1", "Page Viewed", "2026-01-01T05:00")])
    quiet = project.run_rules(as_of="2026-01-01T06:00", now=datetime(2026, 1, 1, 14))
    assert (quiet.deferred, quiet.sent, inbox.messages) == (1, 0, [])
    (row,) = project.store.raw.execute("SELECT status, attempts, next_attempt_at FROM aha_firings").fetchall()
    assert row == ("pending", 0, datetime(2026, 1, 1, 23))
    sent = project.run_rules(as_of="2026-01-01T06:00", now=datetime(2026, 1, 1, 23))
    assert (sent.delivered, len(inbox.messages)) == (1, 1)
    message = message_from_bytes(inbox.messages[0])
    assert (message["To"], message["Subject"]) == ("new1@example.com", "Your next step, Ada")
