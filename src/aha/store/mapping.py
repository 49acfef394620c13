"""Which source column is which canonical column: the checks of `aha import`'s options, and the --map it suggests.

Every failure is one line naming the problem and the fix; the suggestions name every column a user would expect
mapped (a `distinct_id` beside an `anonymous_id` is the user id), never applied silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import duckdb

from aha.store.formats import Column, ImportRefused, close_matches, detect_format

Kind = Literal["events", "users"]

EVENT_COLUMNS: tuple[str, ...] = (
    "message_id",
    "event",
    "user_id",
    "anonymous_id",
    "account_id",
    "timestamp",
    "properties",
)
USER_COLUMNS: tuple[str, ...] = ("user_id", "timestamp", "traits")


def check_mapping(mapping: Mapping[str, str], canonical: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for target, column in mapping.items():
        if target not in canonical:
            hint = close_matches(target, list(canonical))
            fix = f"Did you mean --map {hint[0]}={column}?" if hint else f"Map one of: {', '.join(canonical)}."
            raise ImportRefused(f"--map {target}={column}: '{target}' is not a canonical column. {fix}")
        if not column:
            raise ImportRefused(f"--map {target}=: no source column given. Write --map {target}=COLUMN.")
        out[target] = column
    return out


def check_timezone(con: duckdb.DuckDBPyConnection, timezone: str) -> str:
    names = [str(r[0]) for r in con.execute("SELECT name FROM pg_timezone_names()").fetchall()]
    if timezone in names:
        return timezone
    folded = {n.lower(): n for n in names}
    if timezone.lower() in folded:
        return folded[timezone.lower()]
    hint = close_matches(timezone, names)
    fix = f"Did you mean --timezone {hint[0]}?" if hint else "Use an IANA name such as Europe/Berlin or UTC."
    raise ImportRefused(f"unknown time zone '{timezone}'. {fix}")


def check_timestamp_format(con: duckdb.DuckDBPyConnection, fmt: str) -> None:
    if "%" not in fmt:
        raise ImportRefused(f"--timestamp-format '{fmt}' has no % directives. Write it like '%d/%m/%Y %H:%M'.")
    try:
        con.execute("SELECT try_strptime('', ?)", [fmt]).fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ImportRefused(
            f"--timestamp-format '{fmt}': {first}. Use strptime directives like %Y-%m-%d %H:%M."
        ) from None


def check_columns(path: Path, columns: list[Column], kind: Kind, mapping: Mapping[str, str]) -> None:
    names = [c.name for c in columns]
    if not names and detect_format(path) == "jsonl":
        return  # only Segment calls (or nothing readable): every line is checked on its own
    shown = ", ".join(names) if names else "none"
    for target, column in mapping.items():
        if column not in names:
            hint = close_matches(column, names)
            fix = f"Did you mean --map {target}={hint[0]}?" if hint else f"Pick one of the columns for {target}."
            raise ImportRefused(
                f"{path.name}: --map {target}={column}, but there is no column '{column}' (columns: {shown}). {fix}"
            )
    required = [("user_id", "anonymous_id"), ("event",), ("timestamp",)] if kind == "events" else [("user_id",)]
    mapped = set(mapping.values())
    free = [n for n in names if n not in mapped]
    # Every missing column in one message, with one --map that fixes them all where a column looks right.
    missing, maps = [], []
    for options in required:
        if any(mapping.get(c, c) in names for c in options):
            continue
        target = options[0]
        guess = _suggest(target, free, kind) or (_suggest("anonymous_id", free, kind) if len(options) > 1 else None)
        missing.append(f"'{target}'")
        maps.append(f"{target}={guess or 'COLUMN'}")
        if guess:
            free.remove(guess)
    if missing:
        what, fix = ("column", "one") if len(missing) == 1 else ("columns", "them")
        also = likely_maps(free, mapping, kind, skip=[m.split("=")[0] for m in maps])
        usual = "; ".join(f"{m.split('=', 1)[1]} is a usual name for {m.split('=', 1)[0]}" for m in also)
        more = f" ({usual})" if also else ""
        raise ImportRefused(f"{path.name}: no {what} {', '.join(missing)} (columns: {shown}). "
                            f"Map {fix} with --map {','.join(maps + also)}{more}")


def likely_maps(columns: list[str], mapping: Mapping[str, str], kind: Kind, skip: Sequence[str] = ()) -> list[str]:
    """`target=column` for every canonical column the file lacks by name but holds under a usual export name
    (HINTS: `distinct_id` is a user id even when an `anonymous_id` column is there), unless mapped already."""
    canonical = EVENT_COLUMNS if kind == "events" else USER_COLUMNS
    names = {c.lower() for c in columns}
    free = [c for c in columns if c not in set(mapping.values())]
    out = []
    for target in canonical:
        if target in names or target in mapping or target in skip:
            continue
        guess = _suggest(target, free, kind, fuzzy=False)
        if guess is not None:
            out.append(f"{target}={guess}")
            free.remove(guess)
    return out


# Usual names in exports, used only to suggest a --map (never applied silently).
HINTS: dict[str, tuple[str, ...]] = {
    "user_id": ("userid", "distinct_id", "user", "uid", "person_id", "customer_id"),
    "anonymous_id": ("anonymousid", "anon_id", "device_id", "visitor_id"),
    "event": ("event_name", "name", "action", "event_type"),
    "timestamp": ("ts", "time", "event_time", "occurred_at", "created_at", "date", "datetime"),
    "message_id": ("messageid", "event_id", "id", "insert_id", "uuid"),
    "account_id": ("accountid", "group_id", "groupid", "company_id", "org_id"),
}


def _suggest(canonical: str, columns: list[str], kind: Kind = "events", fuzzy: bool = True) -> str | None:
    lowered = {c.lower(): c for c in columns}
    # In a users file a bare `id` is the user's (in an event export it is the event's: a message id).
    extra = ("id",) if kind == "users" and canonical == "user_id" else ()
    for alias in (*HINTS.get(canonical, ()), *extra):
        if alias in lowered:
            return lowered[alias]
    hits = close_matches(canonical, columns) if fuzzy else []
    return hits[0] if hits else None
