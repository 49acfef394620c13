"""Email nudges: templates rendered in Jinja2's sandbox from the user's traits and state, sent over SMTP.

Templates come from aha.yaml and are not trusted: the sandboxed environment refuses attribute access to Python
internals, undefined names are errors (a missing trait fails the attempt with its name, never an email with a blank),
and the rendered text is bounded. SMTP settings come from the environment where aha runs:
AHA_SMTP_HOST (required), AHA_SMTP_PORT (default 25), AHA_SMTP_USER / AHA_SMTP_PASSWORD (optional),
AHA_SMTP_STARTTLS=1 to upgrade the connection, AHA_SMTP_FROM (the sender; required).
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from aha.errors import UserError

MAX_RENDERED = 100_000  # characters of a rendered subject or body
TIMEOUT_SECONDS = 10.0


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(text: str, context: dict[str, Any]) -> str:
    """The template filled from `context`; a missing name or a refused operation raises ValueError naming it."""
    try:
        out = _environment().from_string(text).render(**context)
    except UndefinedError as exc:
        raise ValueError(f"template: {exc.message} (a trait the user does not have?)") from None
    except SecurityError as exc:
        raise ValueError(f"template: refused by the sandbox: {exc}") from None
    if len(out) > MAX_RENDERED:
        raise ValueError(f"template: the rendered text is longer than {MAX_RENDERED:,} characters")
    return out


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
    message["From"], message["To"], message["Subject"] = settings["sender"], to, subject.replace("\n", " ")
    message["Message-ID"] = f"<{message_id}@aha>"  # stable per firing: a resend is recognisably the same message
    message.set_content(body)
    with smtplib.SMTP(settings["host"], settings["port"], timeout=TIMEOUT_SECONDS) as smtp:
        if settings["starttls"]:
            smtp.starttls()
        if settings["user"]:
            smtp.login(settings["user"], settings["password"] or "")
        smtp.send_message(message)
