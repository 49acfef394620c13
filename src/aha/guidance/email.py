"""Email nudges: templates rendered in Jinja2's sandbox from the user's traits and state, sent over SMTP.

Templates come from aha.yaml and are not trusted: they are rendered by aha.guidance.templates (a sandbox in a child
process bounded in time and memory); undefined names are errors (a missing trait fails the attempt with its name,
never an email with a blank), and the rendered text is bounded. SMTP settings come from the environment where aha runs:
AHA_SMTP_HOST (required), AHA_SMTP_PORT (default 25), AHA_SMTP_USER / AHA_SMTP_PASSWORD (optional),
AHA_SMTP_STARTTLS=1 to upgrade the connection, AHA_SMTP_FROM (the sender; required).
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from typing import Any

from aha.errors import UserError

TIMEOUT_SECONDS = 10.0


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
