"""Is this Segment-spec call acceptable, and what does it mean once clock skew is corrected?

One call in, either a `Call` (the normalised record the writer stores) or a `Rejection` (field and reason) out.
The spec's rules (segment.com/docs/connections/sources/catalog/libraries/server/http-api/): userId or anonymousId on
every call, `event` on track, messageId under 100 characters, 32 KB per call. Timestamps follow the spec's skew
correction `timestamp = receivedAt − (sentAt − originalTimestamp)`; the client's own time is kept as
`original_timestamp`. A corrected time more than a day ahead of receipt is refused rather than silently moved,
because a clock that wrong would put the event in a future cohort.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from aha.ingest.quick import Fields, quick

CallType = Literal["track", "identify", "group", "alias", "page", "screen"]
CALL_TYPES: tuple[str, ...] = ("track", "identify", "group", "alias", "page", "screen")

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
MAX_MESSAGE_ID = 99  # "under 100 characters"
MAX_DEPTH = 32  # nesting of properties/traits/context; deeper is an attack or a bug, never analytics
FUTURE_TOLERANCE = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_NAMES = {"page": "Page Viewed", "screen": "Screen Viewed"}
# Two zone shapes real exports write beside ISO 8601's: BigQuery's ` UTC` after the time (its CSV and JSON exports of
# a TIMESTAMP) and PostgreSQL's hour-only offset (`+02`, its text output of timestamptz); read on every path
# (docs/ingest.md, "Timestamps at the edges"). Any other zone name is refused: `CET` or `IST` name several offsets.
_ZONE_SHAPES = re.compile(r"(.*[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?)(?: [Uu][Tt][Cc]|([+-][0-9]{2}))")


def iso_text(value: str) -> str:
    """`value` with ` UTC` written `Z` and an hour-only offset `+hh` written `+hh:00`, as ISO 8601 parsers read
    them; any other text as it is."""
    if value[-1:] not in ("C", "c") and value[-3:-2] not in ("+", "-"):
        return value  # the usual shapes (Z, ±hh:mm, a date) cost one look at their end
    shape = _ZONE_SHAPES.fullmatch(value)
    if shape is None:
        return value
    return shape[1] + (shape[2] + ":00" if shape[2] else "Z")


_FINE_EPOCH = re.compile(r"-?[0-9]{15,20}")


def _fine_epoch(value: str) -> datetime | None:
    """Epoch text in microseconds (1e14 up to 1e17, GA4's `event_timestamp`) or nanoseconds (up to 1e20), as the import
    reads it (store.rows.timestamp_sql); pydantic reads seconds and milliseconds and refuses these. None otherwise."""
    if _FINE_EPOCH.fullmatch(value) is None:
        return None
    n = int(value)
    if not 10**14 <= abs(n) < 10**20:
        return None
    micros = n if abs(n) < 10**17 else n // 1000
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


# One rule for numeric ids on every path (store/segment.py reads imported ones by it): an integer as written when it
# fits 64 bits; a number written as a double (`1e3`, `7.0`) when whole and exact (|n| ≤ 2^53). Past those a double
# says nothing exact about the id meant (`1e23` is 99999999999999991611392), and an import reads an integer past
# 64 bits as a double: refused on both paths, never stored as a different user on one of them.
EXACT_DOUBLE = 1 << 53
REASON_LONG_ID = ("a numeric id must fit 64 bits, and one written with a fraction or an exponent (1e20) be at most "
                  "2^53 (9007199254740992): send a longer id as a string")


def exact_numeric_id(value: float | int) -> bool:
    if isinstance(value, float):
        return abs(value) <= EXACT_DOUBLE
    return -(1 << 63) <= value < (1 << 64)


class _Call(BaseModel):
    """Fields common to every call; unknown keys (integrations, version, ...) are allowed and ignored."""

    model_config = ConfigDict(extra="allow")

    type: StrictStr | None = None
    userId: StrictStr | int | None = None
    anonymousId: StrictStr | int | None = None
    messageId: StrictStr | None = Field(default=None, max_length=MAX_MESSAGE_ID)
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: dict[str, Any] | None = None

    @field_validator("userId", "anonymousId", "groupId", "previousId", mode="before", check_fields=False)
    @classmethod
    def _no_boolean_ids(cls, value: Any) -> Any:
        """Segment takes ids as strings or numbers; `true` is neither (pydantic would make it 1)."""
        if isinstance(value, bool):
            raise ValueError("an id must be a string or a number, not true/false")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("a numeric id must be a whole number")
        if isinstance(value, float | int) and not exact_numeric_id(value):
            raise ValueError(REASON_LONG_ID)
        return int(value) if isinstance(value, float) else value

    @field_validator("timestamp", "originalTimestamp", "sentAt", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        """The spec's times are ISO 8601 strings; pydantic would also read a number as Unix seconds."""
        if value is not None and not isinstance(value, str):
            raise ValueError("not an ISO 8601 timestamp (a string)")
        return value if value is None else _fine_epoch(value) or iso_text(value)


class TrackCall(_Call):
    event: StrictStr = Field(min_length=1)
    properties: dict[str, Any] | None = None


class PageCall(_Call):
    name: StrictStr | None = None
    category: StrictStr | None = None
    properties: dict[str, Any] | None = None


class IdentifyCall(_Call):
    traits: dict[str, Any] | None = None


class GroupCall(_Call):
    groupId: StrictStr | int  # emptiness is checked after stripping
    traits: dict[str, Any] | None = None


class AliasCall(_Call):
    previousId: StrictStr | int


MODELS: dict[str, type[_Call]] = {
    "track": TrackCall,
    "page": PageCall,
    "screen": PageCall,
    "identify": IdentifyCall,
    "group": GroupCall,
    "alias": AliasCall,
}


def fields_of(model: _Call) -> Fields:
    """What `validate_call` reads of a validated model (`quick.quick` reads the same of a plain call directly).
    Only the model's declared fields: an extra member (allowed and ignored) never stands in for one."""
    declared = type(model).model_fields

    def field(name: str) -> Any:
        return getattr(model, name) if name in declared else None

    return Fields(model.userId, model.anonymousId, model.messageId, model.timestamp, model.originalTimestamp,
                  model.sentAt, model.context, event=field("event"), properties=field("properties"),
                  name=field("name"), traits=field("traits"), group_id=field("groupId"),
                  previous_id=field("previousId"))


@dataclass(frozen=True, slots=True)
class Rejection:
    field: str
    reason: str
    status: int = 400  # 413 for a call over the size limit


@dataclass(slots=True)
class Call:
    """A valid call, normalised: what the writer stores (store/calls.py), and what the spool keeps as JSON.

    Not frozen, though never changed: a frozen dataclass sets each field through `object.__setattr__`, and this
    is built once per call on the ingestion hot path (1.5 µs against 0.4 µs for its 13 fields).
    """

    type: str
    message_id: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    account_id: str | None
    previous_id: str | None
    timestamp: datetime  # naive UTC, skew-corrected
    original_timestamp: datetime | None  # naive UTC, the client's clock
    received_at: datetime  # naive UTC
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None
    source: str


def utc_naive(moment: datetime) -> datetime:
    """Naive UTC, as the store keeps timestamps; a naive input is read as UTC (the spec's timestamps carry zones)."""
    offset = moment.utcoffset()
    if offset is None:
        return moment
    naive = moment.replace(tzinfo=None)
    return naive - offset if offset else naive  # what astimezone(UTC) gives, at a third of its cost


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON nests deeper than `limit`.

    Depth counts every value: the root is at 0, its members at 1. Only containers are visited (the hot path of
    ingestion: most values are scalars); a non-empty container at `limit` has members beyond it. Recursive, but
    never more than `limit` + 1 frames deep, so a hostile payload cannot exhaust the stack.
    """
    if not isinstance(value, (dict, list)):
        return limit < 0
    return _deeper(value, limit)


def _deeper(container: dict[str, Any] | list[Any], budget: int) -> bool:
    """Whether `container`, with `budget` levels left below it, has members past the last level."""
    children = container.values() if isinstance(container, dict) else container
    if budget <= 0:
        return bool(children)
    for child in children:  # noqa: SIM110 (a loop: any() over a generator costs a frame per level)
        if isinstance(child, (dict, list)) and _deeper(child, budget - 1):
            return True
    return False


def _field_of(error: Any) -> str:
    loc = [str(part) for part in error["loc"] if not str(part).startswith(("function-", "str", "int"))]
    return ".".join(loc) if loc else "body"


def _reason_of(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"{_field_of(error)} is required"
    if kind == "string_too_long":
        return f"longer than {error['ctx']['max_length']} characters"
    if kind == "string_too_short":
        return "empty"
    if kind in ("dict_type", "model_type"):
        return "not a JSON object"
    if kind.startswith("datetime") or kind.startswith("date"):
        return "not an ISO 8601 timestamp"
    return str(error["msg"]).removeprefix("Value error, ")


def _text(value: str | int | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def server_message_id() -> str:
    """The id of a call sent without messageId: a new one per call, so genuine repeats are all stored (SDKs always
    send a messageId, so a retry of theirs is still deduplicated; a raw client that retries must send one)."""
    return "aha-" + uuid.uuid4().hex


def unstorable_string(value: Any) -> tuple[str, str] | None:
    """(path, reason) of the first key or string in `value` that cannot be stored as UTF-8 text, else None.

    JSON's `\\uD800` escapes let a client send lone surrogates (not encodable as UTF-8) and NUL (cut short by C
    strings); both are refused here, before anything is encoded. Iterative, containers only on the stack.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in pairs:
            name = key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else str(key)
            where = f"{path}.{name}" if path else name
            for text in (key, child):
                if isinstance(text, str) and (not text.isascii() or "\x00" in text):
                    reason = _bad_text(text)
                    if reason is not None:
                        return where, reason
            if isinstance(child, dict | list):
                stack.append((child, where))
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains NUL (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not valid Unicode"
    return None


def validate_call(
    raw: Any,
    *,
    received_at: datetime,
    source: str,
    sent_at: datetime | None = None,
    call_type: str | None = None,
    size: int | None = None,
    escaped: bool = True,
    shallow: bool = False,
) -> Call | Rejection:
    """Check one call against the spec and normalise it; `call_type` comes from the route (/v1/track) if given.

    `sent_at` is the batch's sentAt (a call's own sentAt wins); `size` its encoded size when already known;
    `escaped` False when the JSON text it came from had no `\\u` escapes (then no string can be unstorable).
    `shallow` True when the text it came from nests at most MAX_DEPTH containers around it (`bodies.nesting_bound`).
    """
    if not isinstance(raw, dict):
        return Rejection("body", "not a JSON object")
    kind = call_type or raw.get("type")
    if not isinstance(kind, str) or kind.lower() not in CALL_TYPES:
        return Rejection("type", f"unknown call type {kind!r}; expected one of {', '.join(CALL_TYPES)}")
    kind = kind.lower()
    if size is None:
        size = len(json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size > MAX_EVENT_BYTES:
        return Rejection("body", f"call is {size} bytes; the limit is {MAX_EVENT_BYTES} (32 KB)", 413)
    if not shallow and too_deep(raw):
        return Rejection("body", f"nested deeper than {MAX_DEPTH} levels")
    bad = unstorable_string(raw) if escaped else None
    if bad is not None:
        return Rejection(*bad)
    fields = quick(raw, kind)
    if fields is None:
        try:
            fields = fields_of(MODELS[kind].model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            return Rejection(_field_of(first), _reason_of(first))
    user_id, anonymous_id = _text(fields.user_id), _text(fields.anonymous_id)
    if user_id is None and anonymous_id is None:
        return Rejection("userId", "userId or anonymousId is required")
    client_time: datetime | None = None
    sent = fields.sent_at or sent_at  # the batch's sentAt is naive UTC already (bodies._sent_at)
    try:
        if fields.original_timestamp or fields.timestamp:
            client_time = utc_naive(fields.original_timestamp or fields.timestamp)  # type: ignore[arg-type]
            timestamp = client_time if sent is None else received_at - (utc_naive(sent) - client_time)
        else:
            timestamp = received_at
    except OverflowError:
        return Rejection("timestamp", "out of range")
    if timestamp - received_at > FUTURE_TOLERANCE:
        return Rejection("timestamp", f"{timestamp.isoformat()}Z is more than a day in the future")
    if timestamp.year < 1971:
        return Rejection("timestamp", f"{timestamp.isoformat()}Z is before 1971")
    given = fields.message_id.strip() if fields.message_id else None
    message_id = given or server_message_id()
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    event: str | None = None
    account_id: str | None = None
    previous_id: str | None = None
    context = fields.context or {}
    if kind == "track":
        event, properties = (fields.event or "").strip() or None, dict(fields.properties or {})
        if event is None:
            return Rejection("event", "empty")
    elif kind in ("page", "screen"):
        event, properties = EVENT_NAMES[kind], dict(fields.properties or {})
        if fields.name is not None:
            properties["name"] = fields.name
    elif kind == "identify":
        traits = fields.traits if fields.traits is not None else context.get("traits")
        if traits is not None and not isinstance(traits, dict):
            return Rejection("context.traits", "not a JSON object")
    elif kind == "group":
        account_id, traits = _text(fields.group_id), fields.traits
        if account_id is None:
            return Rejection("groupId", "empty")
    elif kind == "alias":
        previous_id = _text(fields.previous_id)
        if user_id is None:
            return Rejection("userId", "alias needs userId (the new id)")
        if previous_id is None:
            return Rejection("previousId", "empty")
    if account_id is None and kind in ("track", "page", "screen"):
        group = context.get("groupId")
        account_id = _text(group) if isinstance(group, str) or (
            type(group) is int and exact_numeric_id(group)) else None  # the import's rule: text or a 64-bit integer
    return Call(
        type=kind,
        message_id=message_id,
        event=event,
        user_id=user_id,
        anonymous_id=anonymous_id,
        account_id=account_id,
        previous_id=previous_id,
        timestamp=timestamp,
        original_timestamp=client_time,
        received_at=received_at,
        properties=properties,
        traits=traits,
        source=source,
    )
