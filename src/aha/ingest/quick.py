"""The fields of a call as `validate_call` reads them: from the pydantic models, or from a quick check of plain calls.

Why two ways: pydantic's `model_validate` was the largest part of an ingested event's CPU (about 7 of 20 µs per call
in a worker, issue 17 item 6), though nearly every call an SDK sends is plain: string or integer ids, objects where
objects belong, ISO 8601 times in the one shape SDKs print. `quick` reads such a call directly and answers exactly
what the models would; for anything else (a wrong type, a float id, another time shape, a value past its bound) it
answers None and the models decide, so every refusal is still worded by them. tests/ingest/test_quick.py compares
the two on generated calls, the odd ones included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The one shape SDKs print (analytics-python, analytics.js, the Segment spec's examples): seconds, at most
# microseconds, and Z or a ±hh:mm offset. Both pydantic and `datetime.fromisoformat` read it to the same moment;
# every other shape (a date alone, a space for T, more digits, a ±hhmm offset) is left to pydantic.
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?")
_INT64 = 1 << 63


@dataclass(slots=True)
class Fields:
    """What `validate_call` uses of a call, typed as the models type it (ids are str or int; a time in UTC may be
    naive, as `payloads.utc_naive` makes it: the moment is the same)."""

    user_id: str | int | None
    anonymous_id: str | int | None
    message_id: str | None
    timestamp: datetime | None
    original_timestamp: datetime | None
    sent_at: datetime | None
    context: dict[str, Any] | None
    event: str | None = None  # track
    properties: dict[str, Any] | None = None  # track, page, screen
    name: str | None = None  # page, screen
    traits: dict[str, Any] | None = None  # identify, group
    group_id: str | int | None = None  # group
    previous_id: str | int | None = None  # alias


class _Unsure(Exception):
    """The quick check cannot tell: the models decide."""


def _id(value: Any) -> str | int | None:
    """`StrictStr | int | None` with the models' check (no booleans, whole numbers only): str and int kept as they
    are; a float (even 3.0, which the models would turn into 3) or an integer past 64 bits goes to the models."""
    if value is None or type(value) is str:
        return value
    if type(value) is int and -_INT64 <= value < _INT64:
        return value
    raise _Unsure


def _required_id(value: Any) -> str | int:
    if value is None:
        raise _Unsure
    found = _id(value)
    assert found is not None
    return found


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Unsure


def _object(value: Any) -> dict[str, Any] | None:
    if value is None or type(value) is dict:
        return value
    raise _Unsure


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str or _ISO.fullmatch(value) is None:
        raise _Unsure
    try:
        if value[-1] == "Z":  # UTC: read naive, as `payloads.utc_naive` would make it (a third of the cost)
            return datetime.fromisoformat(value[:-1])
        return datetime.fromisoformat(value)
    except ValueError:  # 2026-02-30, hour 24: the models word the refusal
        raise _Unsure from None


def quick(raw: dict[str, Any], kind: str) -> Fields | None:
    """The fields of a plain call of `kind` (a call type, lower case), exactly as the models give them; None when
    the call is not plain (then `MODELS[kind].model_validate` decides, and may refuse it)."""
    get = raw.get
    try:
        if type(get("type")) not in (str, type(None)):
            raise _Unsure
        message_id = _text(get("messageId"))
        if message_id is not None and len(message_id) > 99:  # payloads.MAX_MESSAGE_ID
            raise _Unsure
        fields = Fields(_id(get("userId")), _id(get("anonymousId")), message_id, _time(get("timestamp")),
                        _time(get("originalTimestamp")), _time(get("sentAt")), _object(get("context")))
        if kind == "track":
            event = get("event")
            if type(event) is not str or not event:
                raise _Unsure
            fields.event, fields.properties = event, _object(get("properties"))
        elif kind in ("page", "screen"):
            fields.name, fields.properties = _text(get("name")), _object(get("properties"))
            _text(get("category"))
        elif kind == "identify":
            fields.traits = _object(get("traits"))
        elif kind == "group":
            fields.group_id, fields.traits = _required_id(get("groupId")), _object(get("traits"))
        elif kind == "alias":
            fields.previous_id = _required_id(get("previousId"))
        else:
            return None
    except _Unsure:
        return None
    return fields
