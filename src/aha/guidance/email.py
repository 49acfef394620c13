"""Email nudges: templates rendered in Jinja2's sandbox from the user's traits and state, sent over SMTP.

Templates come from aha.yaml and are not trusted: they are rendered by aha.guidance.templates (a sandbox in a child
process bounded in time and memory); undefined names are errors (a missing trait fails the attempt with its name,
never an email with a blank), and the rendered text is bounded. SMTP settings come from the environment where aha runs:
AHA_SMTP_HOST (required), AHA_SMTP_PORT (default 25), AHA_SMTP_USER / AHA_SMTP_PASSWORD (optional),
AHA_SMTP_STARTTLS=1 to upgrade the connection, AHA_SMTP_FROM (the sender; required).
"""

from __future__ import annotations

import os
import re
import smtplib
from email.message import EmailMessage
from typing import Any

from aha.errors import UserError

TIMEOUT_SECONDS = 10.0
MAX_ADDRESS = 254  # characters of an address (RFC 5321's path limit less its brackets)
# One bare address, local@domain: no list separator, display name, comment, quote, space or control character
# (non-ASCII letters are kept: SMTPUTF8).
_ADDRESS = re.compile(r'[^\x00-\x20\x7f-\x9f\s@,;:<>()\[\]"\\]+@[^\x00-\x20\x7f-\x9f\s@,;:<>()\[\]"\\]+')
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # control characters: one space in a subject


def one_address(value: str, whose: str) -> str:
    """The single address a nudge goes to, read from a trait; ValueError naming the trait otherwise. A trait is
    sent by the product, often from what its user typed: "me@x.com, other@y.com" went to both (one user's nudge and
    checklist to a second address), and "a@b@c" or "@" was accepted by the SMTP library as sent to nobody."""
    address = value.strip()
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        raise ValueError(f"not one email address: {whose} holds {_shown(value)}; nudges go to one bare address "
                         "(name@example.com), not a list or a display name")
    return address


def _shown(value: str) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def one_line(subject: str) -> str:
    """The subject on one line: each run of control characters (a CR or LF from a trait, a tab) becomes a space.
    A header with a line break is refused by the email library, so such a trait failed every attempt."""
    return _LINE_BREAKS.sub(" ", subject).strip()


def unanswered(exc: OSError) -> bool:
    """Whether a failed send got no answer from the SMTP server (refused, timed out, disconnected: the server is
    not there now), as against an answer refusing this one message (a recipient, its size, SMTPUTF8)."""
    return not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused
                          | smtplib.SMTPNotSupportedError)


def smtp_settings() -> dict[str, Any]:
    host, sender = os.environ.get("AHA_SMTP_HOST"), os.environ.get("AHA_SMTP_FROM")
    if not host or not sender:
        raise UserError("email rules need AHA_SMTP_HOST and AHA_SMTP_FROM set where aha runs (and AHA_SMTP_PORT, "
                        "AHA_SMTP_USER, AHA_SMTP_PASSWORD, AHA_SMTP_STARTTLS=1 as the server needs).")
    return {"host": host, "port": int(os.environ.get("AHA_SMTP_PORT", "25")), "sender": sender,
            "user": os.environ.get("AHA_SMTP_USER"), "password": os.environ.get("AHA_SMTP_PASSWORD"),
            "starttls": os.environ.get("AHA_SMTP_STARTTLS") == "1"}


def send(settings: dict[str, Any], to: str, subject: str, body: str, message_id: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings["sender"], to, one_line(subject)
    message["Message-ID"] = f"<{message_id}@aha>"  # stable per firing: a resend is recognisably the same message
    message.set_content(body)
    with smtplib.SMTP(settings["host"], settings["port"], timeout=TIMEOUT_SECONDS) as smtp:
        if settings["starttls"]:
            smtp.starttls()
        if settings["user"]:
            smtp.login(settings["user"], settings["password"] or "")
        smtp.send_message(message)
