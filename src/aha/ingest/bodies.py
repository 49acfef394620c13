"""From request bytes to records: decompress (capped), decode, find the write key, validate each call.

Everything here is independent of the web framework, so the API routes stay thin and the rules are tested directly.
A refused request raises `Refused` (status, field, reason); in a batch, a bad call never costs the good ones: it is
listed in `BatchOutcome.rejected` and becomes a dead letter, and the rest are accepted.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from aha.ingest.payloads import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    Call,
    Rejection,
    iso_text,
    utc_naive,
    validate_call,
)
from aha.ingest.records import DeadLetter, Record, raw_text
from aha.store import values

UNAUTHENTICATED_RAW_CHARS = 4096  # keep little of what strangers send: enough to recognise a misconfigured client


class Refused(Exception):
    """The whole request is refused with `status`; `raw` is what the dead letter keeps."""

    def __init__(self, status: int, field: str, reason: str, raw: str = "") -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason
        self.raw = raw


@dataclass(frozen=True, slots=True)
class RejectedCall:
    index: int
    message_id: str | None
    field: str
    reason: str


@dataclass
class BatchOutcome:
    records: list[Record] = field(default_factory=list)  # accepted calls and dead letters, to spool together
    accepted: int = 0
    rejected: list[RejectedCall] = field(default_factory=list)


MAX_NUMBER_DIGITS = 4300  # Python's own bound for int(str); beyond it a number is an attack, never analytics


def _refuse_constant(name: str) -> Any:
    raise Refused(400, "body", f"{name} is not valid JSON (send null or a string)")


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise Refused(400, "body", f"a number of {len(text)} characters; the limit is {MAX_NUMBER_DIGITS}")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise Refused(400, "body", values.OUT_OF_RANGE)
    return value


def _parse_int(text: str) -> int:
    """An integer, refused past a double's range like a float (store/values.py): the engine reads numbers as
    doubles, so a 400-digit integer would count as infinity. int() refuses more than 4,300 digits itself."""
    value = int(text)
    if len(text) > 308 and values.number_refusal(text) is not None:
        raise Refused(400, "body", values.OUT_OF_RANGE)
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are all different; a repeated name is refused (docs/ingest.md, "Values")."""
    obj = dict(pairs)
    repeated = values.first_repeated(pairs, obj)
    if repeated is not None:
        raise Refused(400, "body", values.duplicate_key(repeated))
    return obj


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float, parse_int=_parse_int,
                            object_pairs_hook=_unique_members)


def _inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """One gzip or zlib stream, inflated to at most `limit` + 1 bytes; truncated data or trailing bytes are refused."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    try:
        body = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise Refused(400, "body", f"not valid {encoding} data", raw_text(data[:1024])) from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise Refused(413, "body", f"decompressed body exceeds {limit} bytes", f"({len(data)} bytes {encoding})")
    if not inflater.eof:
        raise Refused(400, "body", f"{encoding} data is truncated", f"({len(data)} bytes {encoding})")
    if inflater.unused_data:
        raise Refused(400, "body", f"{len(inflater.unused_data)} bytes after the end of the {encoding} data",
                      raw_text(body))
    return body


@dataclass(frozen=True, slots=True)
class Decoded:
    doc: Any
    escaped: bool  # the text has a surrogate or NUL escape: only then can a string be unstorable
    nesting: int | None = None  # at most this many containers nest in the body (None: not known to be shallow)


_NOT_MARKS = bytes(b for b in range(256) if b not in b'"{}[]')


def nesting_bound(body: bytes, cap: int) -> int | None:
    """An upper bound of how many containers nest in the valid JSON text `body` (`{"a": [1]}`: 2), or None when it
    may be more than `cap`.

    Why: `payloads.too_deep` walks every call of a batch (~1.2 µs a call); a body that nests at most MAX_DEPTH + 2
    containers holds no call nested past MAX_DEPTH (a batch's calls sit two containers down), and this says so in a
    few C-level passes over the bytes. Escaped backslashes and quotes are dropped, then everything but quotes and
    brackets, then the strings (now `""`, or every other piece between quotes when one held brackets); each pass then
    removes the innermost `{}` and `[]` pairs, at least one level and at most two, so a text emptied in p passes
    nests at most 2p containers.
    """
    if b"\\" in body:  # escapes (a quick byte search; replacing pairs is slower and usually finds none)
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _NOT_MARKS).replace(b'""', b"")
    if b'"' in marks:  # a string holding brackets (rare): keep what is outside the strings
        marks = b"".join(marks.split(b'"')[::2])
    if not marks:
        return 0
    for passes in range(1, cap // 2 + 1):
        marks = marks.replace(b"{}", b"").replace(b"[]", b"")
        if not marks:
            return 2 * passes
    return None


# `\uD800`–`\uDFFF` or `\u0000`; valid UTF-8 text holds no surrogate and JSON allows no raw NUL in a string, so
# without one of these escapes no string can hold either (a pair, e.g. an emoji escaped, matches too: then the walk
# in payloads.unstorable_string decides)
_RISKY_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
_BOM = b"\xef\xbb\xbf"
_FAST = msgspec.json.Decoder()
# every byte that can be part of a JSON number → b"1", any other → b"0": a number of 309 characters or more shows as
# a run of that many ones, found in linear time (a regex would backtrack on long runs)
_NUMBER_BYTES = bytes.maketrans(bytes(range(256)), bytes(0x31 if chr(b) in "0123456789+-.eE" else 0x30
                                                         for b in range(256)))
_PAST_A_DOUBLE = b"1" * 309  # the shortest integer past a double's range has 309 digits (msgspec reads it exactly)
_ENCODER = msgspec.json.Encoder()
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


def _fast_decode(body: bytes) -> Any:
    """msgspec's decoder (C, about 4× the standard library's), where its answer is the standard library's own.

    Raises when it cannot tell: then the standard library decides (and words the refusal). What msgspec refuses
    and the standard library accepts — a lone surrogate escape, nesting past msgspec's depth — goes there, and so
    does a body with a number of 309 characters or more (an integer past a double's range, which msgspec reads, or
    a float longer than MAX_NUMBER_DIGITS: the standard library refuses both). Everything else decodes
    to equal values: integers of any length exactly, floats correctly rounded (tests/ingest/test_decoding.py
    compares both on generated documents).

    A repeated member name, which msgspec lets the later one win, goes there too (the standard library's decoder
    refuses it): every member name is followed by one colon, and msgspec writes the decoded document's names and
    strings with their colons as they are, so a body holds more colons than its decoded document's encoding exactly
    when a member was dropped (a colon escaped as `\\u003a` in the body could hide one: such a body goes there too).
    One encoding and two counts: `decode_body` of a 100-call batch 6.1–6.9 → 9.3–9.7 µs of CPU per call (load ~10).
    """
    if len(body) > 308 and _PAST_A_DOUBLE in body.translate(_NUMBER_BYTES):
        raise ValueError("a long number: the standard library decides")
    doc = _FAST.decode(body)
    if isinstance(doc, (dict, list)):
        colons = body.count(b":")
        if colons and (colons != _ENCODER.encode(doc).count(b":") or (
                b"\\u003" in body and _ESCAPED_COLON.search(body) is not None)):
            raise ValueError("a repeated member name, maybe: the standard library decides")
    return doc


def decode_body(data: bytes, content_encoding: str | None, limit: int) -> Decoded:
    """Bytes → JSON value; 413 past `limit` bytes (after decompression: a gzip bomb stops at limit + 1), else 400.

    Strict JSON: NaN and Infinity (which Python's parser accepts), numbers past a double's range (store/values.py)
    and past MAX_NUMBER_DIGITS are refused;
    a leading UTF-8 byte-order mark is allowed (RFC 8259 lets a parser ignore it).
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate(data, encoding, limit)
    elif encoding in ("", "identity"):
        body = data
    else:
        raise Refused(400, "Content-Encoding", f"unsupported encoding {encoding!r}; use gzip or none")
    if len(body) > limit:
        raise Refused(413, "body", f"body is {len(body)} bytes; the limit is {limit}", raw_text(body[:4096]))
    escaped = _RISKY_ESCAPE.search(body) is not None
    try:
        doc = _fast_decode(body[3:] if body.startswith(_BOM) else body)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        pass
    else:
        return Decoded(doc, escaped, nesting_bound(body, MAX_DEPTH + 2))
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(400, "body", f"not valid UTF-8 (byte {exc.start})", raw_text(body)) from None
    try:
        return Decoded(_DECODER.decode(text), escaped)
    except Refused as refused:
        raise Refused(refused.status, refused.field, refused.reason, raw_text(text)) from None
    except RecursionError:
        raise Refused(400, "body", "JSON nested too deeply", raw_text(text)) from None
    except json.JSONDecodeError as exc:
        raise Refused(400, "body", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                      raw_text(text)) from None
    except ValueError:  # int() past sys.get_int_max_str_digits()
        raise Refused(400, "body", f"a number of more than {MAX_NUMBER_DIGITS} digits", raw_text(text)) from None


def strict_loads(text: str) -> Any:
    """JSON text decoded by the server's rules (dead-letter replay): NaN, Infinity and numbers past a double's range
    or MAX_NUMBER_DIGITS raise Refused, other bad JSON ValueError, nesting past the parser's depth RecursionError."""
    return _DECODER.decode(text)


def content_length(header: str | None) -> int | None:
    """The declared body size, None when not declared; a value that is not a plain count is refused (400)."""
    if header is None:
        return None
    text = header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Refused(400, "Content-Length", f"not a byte count: {text[:40]!r}")
    return int(text)


def key_from_header(authorization: str | None) -> str | None:
    """The write key from `Authorization: Basic base64(key:)` (Segment's SDKs) or `Bearer key`."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
    except ValueError:  # not base64 (binascii.Error), not ASCII (a header's latin-1 text), not UTF-8 inside
        return None
    return user or None


def key_from_body(doc: Any) -> str | None:
    if isinstance(doc, dict) and isinstance(doc.get("writeKey"), str):
        return str(doc["writeKey"])
    return None


def _sent_at(doc: dict[str, Any]) -> datetime | None:
    value = doc.get("sentAt")
    if not isinstance(value, str):
        return None
    try:
        return utc_naive(datetime.fromisoformat(iso_text(value)))
    except ValueError:
        return None


def single_call(doc: Any, call_type: str, source: str, received_at: datetime, escaped: bool = True,
                nesting: int | None = None) -> Call:
    """One call from /v1/<type>; a bad one raises Refused(400) naming the field. `nesting`: `Decoded.nesting`."""
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k != "writeKey"}
    result = validate_call(doc, received_at=received_at, source=source, call_type=call_type, escaped=escaped,
                           shallow=nesting is not None and nesting <= MAX_DEPTH)
    if isinstance(result, Rejection):
        kept = {**doc, "type": call_type} if isinstance(doc, dict) else doc  # replayable without the route
        raise Refused(result.status, result.field, result.reason, raw_text(kept))
    return result


def batch(doc: Any, source: str, received_at: datetime, body_bytes: int | None = None,
          escaped: bool = True, nesting: int | None = None) -> BatchOutcome:
    """A /v1/batch body: good calls accepted, each bad one rejected with its index (and turned into a dead letter).

    `body_bytes`, the decoded body's size: when it is within one call's limit no call can exceed it, so calls are
    not re-serialised just to be measured (the common case: a 100-call batch is ~15 KB). `nesting`, the body's
    `Decoded.nesting`: a body within MAX_DEPTH + 2 containers holds no call nested too deeply (its calls are two
    down), so they are not walked.
    """
    if not isinstance(doc, dict):
        raise Refused(400, "body", "not a JSON object", raw_text(doc))
    calls = doc.get("batch")
    if not isinstance(calls, list):
        raise Refused(400, "batch", "required: a list of calls", raw_text(doc))
    if len(calls) > MAX_BATCH_EVENTS:
        raise Refused(413, "batch", f"{len(calls)} calls; the limit is {MAX_BATCH_EVENTS}", raw_text(doc))
    sent_at = _sent_at(doc)
    context = doc.get("context") if isinstance(doc.get("context"), dict) else None
    shallow = nesting is not None and nesting <= MAX_DEPTH + 2 and context is None  # a batch context moves down
    outcome = BatchOutcome()
    seen: dict[str, int] = {}
    # The batch's context is measured once: each call's size with it is the call's own plus the context's (a 400 KB
    # context serialised again for each of 2,500 calls was a gigabyte of work for one 500 KB request).
    context_bytes = _encoded_size(context) + len('"context": ') if context is not None else 0
    for index, sent in enumerate(calls):
        raw = sent
        if context is not None and isinstance(sent, dict) and "context" not in sent:
            raw = {**sent, "context": context}
        encoded: str | None = None
        if body_bytes is not None and body_bytes <= MAX_EVENT_BYTES and context is None:
            size = body_bytes  # an upper bound, below the limit
        else:
            encoded = json.dumps(sent, ensure_ascii=False, default=str)  # the call as sent: its dead letter's text
            size = len(encoded.encode("utf-8", "surrogatepass"))  # a lone surrogate is refused later
            if raw is not sent:  # `{...}` → `{..., "context": …}`: the context, its name, and ", " unless empty
                size += context_bytes + (2 if sent else 0)
        result: Call | Rejection
        if size > MAX_EVENT_BYTES:
            result = Rejection("body", f"call is {size} bytes; the limit is {MAX_EVENT_BYTES} (32 KB)")
        else:
            result = validate_call(raw, received_at=received_at, source=source, sent_at=sent_at, size=size,
                                   escaped=escaped, shallow=shallow)
        if isinstance(result, Call) and isinstance(raw, dict) and isinstance(raw.get("messageId"), str):
            first = seen.setdefault(result.message_id, index)
            if first != index:
                result = Rejection("messageId", f"duplicate messageId in this batch (first at index {first})")
        if isinstance(result, Call):
            outcome.records.append(result)
            outcome.accepted += 1
            continue
        message_id = raw.get("messageId") if isinstance(raw, dict) else None
        outcome.rejected.append(
            RejectedCall(index, message_id if isinstance(message_id, str) else None, result.field, result.reason)
        )
        if encoded is None:
            encoded = json.dumps(sent, ensure_ascii=False, default=str)
        # The call as sent, without the batch's context: the letters of one request together are never larger than
        # its body (with the context copied into each, a 500 KB batch of 2,500 calls wrote a gigabyte of them).
        outcome.records.append(DeadLetter(received_at, source, index, result.field, result.reason, encoded[:600_000]))
    return outcome


def _encoded_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))


def limit_for(call_type: str | None) -> int:
    """Body cap: a batch may hold 500 KB; a single call 32 KB (plus room for the writeKey and whitespace)."""
    return MAX_BATCH_BYTES if call_type is None else MAX_EVENT_BYTES + 1024


def decoded_size(size: int, content_encoding: str | None) -> int | None:
    """The body's size as `batch` may trust it (plain bodies only; a gzip body's inflated size is not kept)."""
    return size if (content_encoding or "").strip().lower() in ("", "identity") else None
