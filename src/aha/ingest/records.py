"""What goes into the spool and on to the store: accepted calls and dead letters, one JSON line each.

The line format is private to aha (the spool is replayed only by the same server): short keys, ISO timestamps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import pyarrow as pa

from aha.ingest.payloads import Call
from aha.store.calls import CALL_SCHEMA, DEAD_SCHEMA

MAX_RAW_CHARS = 600_000  # a dead letter keeps at most this much of the payload (a whole maximal batch fits)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A call (or whole request) that was refused, with enough to explain and replay it."""

    received_at: datetime
    source: str | None
    line: int | None  # index in the batch; None for a single call or a whole request
    field: str
    reason: str
    raw: str

    def __post_init__(self) -> None:  # the one door to the spool and the store: nothing unstorable, no credentials
        for name in ("field", "reason", "raw"):
            object.__setattr__(self, name, scrub(getattr(self, name)))


Record = Call | DeadLetter
REMOVED = "[removed]"
# a writeKey member (even inside text that is not valid JSON) and anything shaped like an aha key or local token
_CREDENTIALS = re.compile(r'("writeKey"\s*:\s*)"(?:[^"\\]|\\.)*"?|\baha_(?:write|read|local)_[A-Za-z0-9_\-]+')


def scrub(raw: str) -> str:
    """A refused payload as it may be stored and shown to read-key holders: credentials removed, valid UTF-8.

    Lone surrogates and NUL (which JSON escapes can carry) are written as their escapes, so the line stays storable.
    """
    text = _CREDENTIALS.sub(lambda m: f'{m.group(1)}"{REMOVED}"' if m.group(1) else REMOVED, raw)
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\u0000")
# built once, not per line; datetimes as ISO 8601 (what `_dt` reads), integers of any size exactly, UTF-8 as is
_ENCODER = msgspec.json.Encoder(enc_hook=str)
_DECODER = msgspec.json.Decoder()


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def encode(record: Record) -> bytes:
    if isinstance(record, Call):
        doc: dict[str, Any] = {
            "k": "c",
            "t": record.type,
            "m": record.message_id,
            "e": record.event,
            "u": record.user_id,
            "a": record.anonymous_id,
            "g": record.account_id,
            "p": record.previous_id,
            "ts": record.timestamp,
            "ot": record.original_timestamp,
            "r": record.received_at,
            "pr": record.properties,
            "tr": record.traits,
            "s": record.source,
        }
    else:
        doc = {
            "k": "d",
            "r": record.received_at,
            "s": record.source,
            "l": record.line,
            "f": record.field,
            "why": record.reason,
            "raw": record.raw,
        }
    return _ENCODER.encode(doc) + b"\n"


def decode(line: bytes) -> Record:
    doc = _DECODER.decode(line)
    if doc["k"] == "d":
        return DeadLetter(_dt(doc["r"]) or datetime.min, doc["s"], doc["l"], doc["f"], doc["why"], doc["raw"])
    return Call(
        type=doc["t"],
        message_id=doc["m"],
        event=doc["e"],
        user_id=doc["u"],
        anonymous_id=doc["a"],
        account_id=doc["g"],
        previous_id=doc["p"],
        timestamp=_dt(doc["ts"]) or datetime.min,
        original_timestamp=_dt(doc["ot"]),
        received_at=_dt(doc["r"]) or datetime.min,
        properties=doc["pr"],
        traits=doc["tr"],
        source=doc["s"],
    )


class _LineCall(msgspec.Struct, tag_field="k", tag="c"):
    """A call's spool line (`encode`) as the writer needs it: members in Call's names, JSON members kept as text."""

    type: str = msgspec.field(name="t")
    message_id: str = msgspec.field(name="m")
    event: str | None = msgspec.field(name="e")
    user_id: str | None = msgspec.field(name="u")
    anonymous_id: str | None = msgspec.field(name="a")
    account_id: str | None = msgspec.field(name="g")
    previous_id: str | None = msgspec.field(name="p")
    timestamp: datetime = msgspec.field(name="ts")
    original_timestamp: datetime | None = msgspec.field(name="ot")
    received_at: datetime = msgspec.field(name="r")
    properties: msgspec.Raw = msgspec.field(name="pr")
    traits: msgspec.Raw = msgspec.field(name="tr")
    source: str = msgspec.field(name="s")


class _LineDead(msgspec.Struct, tag_field="k", tag="d"):
    received_at: datetime = msgspec.field(name="r")
    source: str | None = msgspec.field(name="s")
    line: int | None = msgspec.field(name="l")
    field: str = msgspec.field(name="f")
    reason: str = msgspec.field(name="why")
    raw: str = msgspec.field(name="raw")


_LINES = msgspec.json.Decoder(_LineCall | _LineDead)


def _text(raw: msgspec.Raw) -> str | None:
    data = bytes(raw)
    return None if data == b"null" else data.decode()


def lines_tables(data: bytes) -> tuple[pa.Table, pa.Table]:
    """Spool lines (`encode`d, each ending in a newline) → the tables `calls_table` and `dead_table` give for their
    records, without building them: JSON members are kept as the text the line holds (what encoding them again
    would print). About half the CPU of `decode` and `calls_table` (the writer's part of a worker's calls)."""
    docs = _LINES.decode_lines(data)
    calls = [d for d in docs if isinstance(d, _LineCall)]
    dead = [d for d in docs if isinstance(d, _LineDead)]
    return (pa.table({name: [_text(getattr(c, name)) for c in calls] if name in ("properties", "traits")
                      else [getattr(c, name) for c in calls] for name in CALL_SCHEMA.names}, schema=CALL_SCHEMA),
            _columns(dead, DEAD_SCHEMA))


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else _ENCODER.encode(value).decode()


def _columns(items: Sequence[Any], schema: pa.Schema, as_json: tuple[str, ...] = ()) -> pa.Table:
    """Column-wise, so DuckDB reads the batch without a per-row round trip: one column per schema field, read from
    the item attribute of the same name (dicts in `as_json` stored as JSON text)."""
    return pa.table({
        name: [_json(getattr(i, name)) if name in as_json else getattr(i, name) for i in items]
        for name in schema.names
    }, schema=schema)


def calls_table(calls: Sequence[Call]) -> pa.Table:
    return _columns(calls, CALL_SCHEMA, as_json=("properties", "traits"))


def dead_table(dead: Sequence[DeadLetter]) -> pa.Table:
    return _columns(dead, DEAD_SCHEMA)


def raw_text(body: bytes | str | Any) -> str:
    """A payload as storable text: bytes decoded with invalid UTF-8 escaped, objects as JSON; capped."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="backslashreplace")
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, ensure_ascii=False, default=str)
    return text[:MAX_RAW_CHARS]
