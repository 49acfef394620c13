"""How a property key in definitions, `--segment` or stored data names a value inside a JSON object.

A key is the literal name of one member: `$browser`, `a.b`, `it's`, `x y` and `*` are read exactly as written (exports
from PostHog, Mixpanel and Amplitude use `$`-prefixed and dotted keys). Nested values have one explicit syntax: a key
that starts with `/` is a JSON Pointer (RFC 6901), `/context/page/url`, where `~1` stands for `/` and `~0` for `~`
inside a member name. A top-level key that itself starts with `/` is therefore written `/~1name`.

Both the engine (compiled expressions) and the store (its own SQL) read keys through `pointer`, so one rule holds
everywhere. The pointer is only ever passed to the database as a bound or escaped string literal, never parsed as a
path by a SQL generator (SQLGlot's JSON-path parser read `$browser` as `browser` and `a.b` as nested).
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 256
_BAD_ESCAPE = re.compile(r"~(?![01])")


def pointer(key: str) -> str:
    """The JSON Pointer that reads `key` (a literal member name, or a pointer when it starts with `/`)."""
    if key.startswith("/"):
        return key
    return "/" + key.replace("~", "~0").replace("/", "~1")


def members(key: str) -> list[str]:
    """The member names a key walks through, outermost first (one for a literal key)."""
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer(key)[1:].split("/")]


def key_problem(key: str) -> str | None:
    """Why a key cannot be used, or None. Bounded so a message never renders an unbounded key."""
    if not key:
        return "a property key cannot be empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"a property key is at most {MAX_KEY_LENGTH} characters (this one has {len(key):,})"
    if "\x00" in key:
        return "a property key cannot contain a NUL character"
    if key.startswith("/") and _BAD_ESCAPE.search(key):
        return "in a key starting with '/' (a JSON Pointer), '~' must be written '~0' and a '/' inside a name '~1'"
    return None


def shown(key: str, limit: int = 60) -> str:
    """A key for a message: repr'd (quotes, control characters escaped) and cut to `limit` characters."""
    text = repr(key)
    return text if len(text) <= limit else text[: limit - 1] + "…"
