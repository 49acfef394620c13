"""Durations as users write them in YAML (`30m`, `24h`, `7d`, `2w`), parsed strictly so typos are caught."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DAYS = 36_500  # 100 years: longer is a typo (and `99999999999d` overflowed Python's timedelta: a traceback)
_PATTERN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: Any) -> timedelta:
    """Accept `<number><unit>` only: a bare number is ambiguous (minutes? days?) so it is refused."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        match = _PATTERN.match(str(value)) if isinstance(value, str) else None
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration; write a number and a unit: s, m, h, d or w "
                '(for example "30m", "24h", "7d")'
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be a positive duration, such as \"1d\"")
    if not seconds <= MAX_DAYS * 86400:  # infinity too (a number of 400 digits)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValueError(f"{shown} is longer than 100 years ({MAX_DAYS}d); write a shorter duration")
    span = timedelta(seconds=seconds)
    if span.microseconds:  # kept as whole seconds: `1.2s` and `1.7s` had one content hash, `0.5s` was written `0w`
        raise ValueError(f"{value!r} is not a whole number of seconds; write one such as \"90s\" or \"1.5m\"")
    return span


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling, so a round trip through YAML and the content hash are stable."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]$", "examples": ["30m", "24h", "7d"]}),
]
