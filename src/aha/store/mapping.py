"""Which source column is which canonical column: the checks of `aha import`'s options, and the --map it suggests.

Every failure is one line naming the problem and the fix; the suggestions name every column a user would expect
mapped (a `distinct_id` beside an `anonymous_id` is the user id), never applied silently.

A source is a column name (a top-level key of a JSON line), or a JSON Pointer (RFC 6901, the one nested syntax of
`aha.jsonpointer`) when it starts with `/`: `/properties/distinct_id` reads member `distinct_id` of the column
`properties` (a JSON line's object, a Parquet struct, or a CSV cell holding a JSON object), as Mixpanel's raw export
nests `distinct_id`, `time` and `$insert_id` inside `properties`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import duckdb

from aha.jsonpointer import key_problem, pointer
from aha.store.formats import Column, ImportRefused, close_matches
from aha.store.metadata import is_pipeline

Kind = Literal["events", "users"]

EVENT_COLUMNS: tuple[str, ...] = (
    "message_id",
    "event",
    "user_id",
    "anonymous_id",
    "account_id",
    "timestamp",
    "properties",
    "previous_id",  # an earlier id of the row's user: the row also links it to user_id, as an alias call does
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
        problem = key_problem(column) if column.startswith("/") else None
        if problem:
            raise ImportRefused(f"--map {target}={column}: {problem}. Write a column name, or /column/member to read "
                                "a member inside a column (e.g. --map user_id=/properties/distinct_id).")
        out[target] = column
    return out


def split_source(source: str) -> tuple[str, str | None]:
    """(column, JSON Pointer inside it or None) of a --map source: `distinct_id` -> (distinct_id, None),
    `/properties/distinct_id` -> (properties, /distinct_id), `/distinct_id` -> (distinct_id, None)."""
    if not source.startswith("/"):
        return source, None
    head, _, rest = pointer(source)[1:].partition("/")
    inner = pointer(source)[1:]
    return head.replace("~1", "/").replace("~0", "~"), ("/" + rest if "/" in inner else None)


def members_read(sources: Iterable[str], column: str) -> list[str]:
    """The members of `column` that --map sources read directly (`/properties/distinct_id` -> distinct_id)."""
    out = []
    for source in sources:
        root, inner = split_source(source)
        if root == column and inner is not None and "/" not in inner[1:]:
            out.append(inner[1:].replace("~1", "/").replace("~0", "~"))
    return out


def source_column(source: str) -> str:
    """The file column a --map source reads (the first member of a pointer)."""
    return split_source(source)[0]


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


def check_columns(path: Path, columns: list[Column], kind: Kind, mapping: Mapping[str, str],
                  members: Sequence[str] = ()) -> None:
    """Refuse a file lacking a required column, naming the --map that fixes it; `members` are the names inside its
    `properties` (or `traits`) objects, suggested as `/properties/NAME` (Mixpanel's raw export nests `distinct_id`
    there)."""
    names = [c.name for c in columns]
    if not names:
        return  # JSON lines of Segment calls only (every line is checked on its own), or an empty CSV/TSV: 0 rows
    shown = ", ".join(names) if names else "none"
    for target, column in mapping.items():
        root = source_column(column)
        if root not in names:
            hint = close_matches(root, names)
            nested = split_source(column)[1] or ""
            fix = f"Did you mean --map {target}={'/' if nested else ''}{hint[0]}{nested}?" if hint else (
                f"Pick one of the columns for {target}.")
            raise ImportRefused(
                f"{path.name}: --map {target}={column}, but there is no column '{root}' (columns: {shown}). {fix}"
            )
    required = [("user_id", "anonymous_id"), ("event",), ("timestamp",)] if kind == "events" else [("user_id",)]
    mapped = set(mapping.values())
    free = [n for n in names if n not in mapped]
    # Every missing column in one message, with one --map that fixes them all where a column looks right.
    missing, maps = [], []
    for options in required:
        if any(source_column(mapping.get(c, c)) in names for c in options):
            continue
        target = options[0]
        guess = _suggest(target, free, kind) or (_suggest("anonymous_id", free, kind) if len(options) > 1 else None)
        inner = None if guess else _suggest(target, list(members), kind, fuzzy=False)
        missing.append(f"'{target}'")
        maps.append(f"{target}={guess or (_nested(inner, kind) if inner else 'COLUMN')}")
        if guess:
            free.remove(guess)
    if missing:
        what, fix = ("column", "one") if len(missing) == 1 else ("columns", "them")
        skip = [m.split("=")[0] for m in maps]
        also = likely_maps(free, mapping, kind, skip=skip)
        also += [f"{t}={_nested(c, kind)}" for t, _, c in (m.partition("=") for m in likely_maps(
            list(members), mapping, kind, skip=skip + [m.split("=")[0] for m in also]))]
        usual = "; ".join(f"{m.split('=', 1)[1]} is a usual name for {m.split('=', 1)[0]}" for m in also)
        more = f" ({usual})" if also else ""
        # Quoted as a shell reads it: pasted as it was, `message_id=$insert_id` read an empty variable.
        raise ImportRefused(f"{path.name}: no {what} {', '.join(missing)} (columns: {shown}). "
                            f"Map {fix} with --map {shlex.quote(','.join(maps + also))}{more}")


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
    "anonymous_id": ("anonymousid", "anon_id", "device_id", "visitor_id", "user_pseudo_id", "domain_userid"),
    "event": ("event_name", "name", "action", "event_type", "type"),  # `type`: Heap's export
    "timestamp": ("ts", "time", "event_time", "event_timestamp", "occurred_at", "created_at", "date", "datetime",
                  "derived_tstamp"),  # Snowplow's event time (the device's, corrected for its clock)
    "message_id": ("messageid", "event_id", "id", "insert_id", "$insert_id", "uuid"),
    "previous_id": ("previousid", "$anon_distinct_id", "anon_distinct_id"),
    "account_id": ("accountid", "group_id", "groupid", "company_id", "org_id"),
}


def absent_members(mapping: Mapping[str, str], members_of: Callable[[str], Sequence[str]]) -> list[str]:
    """The --map pointers `/column/member` whose member no object of `column` holds in a file (`members_of(column)`:
    the union of its member names), each with a close name when there is one. A required column read so is caught
    by the mostly-rejected rule; an optional one (message_id, account_id, previous_id) was silently empty in every
    row: `message_id=/properties/$insert_idd` deduped by content, and bash's `message_id=/properties/$insert_id`
    (unquoted: an empty variable) read member ''. Said, not refused: a day's PostHog file without an `$identify`
    has no `$anon_distinct_id`, rightly."""
    out = []
    for target, source in mapping.items():
        root, inner = split_source(source)
        if inner is None or "/" in inner[1:]:
            continue
        member = inner[1:].replace("~1", "/").replace("~0", "~")
        names = list(members_of(root))
        if member not in names:
            hint = close_matches(member, names) if member else []
            near = f" (did you mean {_nested_in(root, hint[0])}?)" if hint else ""
            out.append(f"--map {target}={source}: no row has that member, so every row's {target} is empty{near}")
    return out


def _nested_in(column: str, member: str) -> str:
    return pointer(column) + pointer(member)


def unmapped_event_ids(columns: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """Columns named as an event's own id (`id` in Segment's and RudderStack's warehouse tables, `event_id`, `uuid`,
    `$insert_id`) in an events file whose message id is not mapped: kept as properties, each event then gets an id
    from its content, so the same event in two files that differ in any other column (a `tracks` table and its
    per-event table, which adds the event's properties) is stored twice. Said in the summary, never applied."""
    if "message_id" in mapping or any(c.lower() == "message_id" for c in columns):
        return []
    used = {source_column(v) for v in mapping.values()}
    return [c for c in columns if c.lower() in HINTS["message_id"] and c not in used]


def _nested(member: str, kind: Kind) -> str:
    return pointer("properties" if kind == "events" else "traits") + pointer(member)


def _suggest(canonical: str, columns: list[str], kind: Kind = "events", fuzzy: bool = True) -> str | None:
    lowered = {c.lower(): c for c in columns}
    # In a users file a bare `id` is the user's (in an event export it is the event's: a message id).
    extra = ("id",) if kind == "users" and canonical == "user_id" else ()
    for alias in (*HINTS.get(canonical, ()), *extra):
        if alias in lowered:
            return lowered[alias]
    # A column that is, or is a usual name for, another canonical column is never offered by closeness: `event_id`
    # (a message id) was suggested as `event`, which would make every event a name of its own.
    others = {name for other, aliases in HINTS.items() if other != canonical for name in (other, *aliases)}
    others |= {c for c in (*EVENT_COLUMNS, *USER_COLUMNS) if c != canonical}
    # Nor a pipeline's delivery or processing time (aha.store.metadata): Snowplow's `etl_tstamp` was offered as the
    # event's time by closeness.
    hits = [h for h in close_matches(canonical, columns) if h.lower() not in others and not is_pipeline(h)] if fuzzy \
        else []
    return hits[0] if hits else None



_DAY_FIRST = re.compile(r"\s*([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{4})(?:([ T])[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?\s*")


_SPACED_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ])[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})? [+-][0-9]{2}:?[0-9]{2}")


def guess_timestamp_format(samples: list[str]) -> str | None:
    """A `--timestamp-format` for dates a spreadsheet writes (`03/01/2026 10:00`, `3.1.2026`), to suggest, never to
    apply: month first when some second number is above 12, else day first; None when the samples do not share one
    such shape or neither order reads them all. An ISO time with its offset after a space (Ruby's and Rails'
    `2026-01-03 10:00:00 +0000`, SQL Server's datetimeoffset) is `%Y-%m-%d %H:%M:%S %z`."""
    spaced = [_SPACED_OFFSET.fullmatch(s) for s in samples]
    if spaced and all(spaced) and len({(m[1], m[2] is None) for m in spaced if m is not None}) == 1:
        first_match = spaced[0]
        assert first_match is not None
        return f"%Y-%m-%d{first_match[1]}%H:%M:%S{'' if first_match[2] is None else '.%f'} %z"
    matched = [_DAY_FIRST.fullmatch(s) for s in samples]
    if not matched or any(m is None for m in matched):
        return None
    shapes = {(m[2], m[5], m[6] is None) for m in matched if m is not None}
    if len(shapes) != 1:
        return None
    (sep, clock, no_seconds), = shapes
    first = max(int(m[1]) for m in matched if m is not None)
    second = max(int(m[3]) for m in matched if m is not None)
    if first > 12 and second > 12:
        return None
    date = f"%m{sep}%d{sep}%Y" if second > 12 else f"%d{sep}%m{sep}%Y"
    return date if clock is None else date + clock + ("%H:%M" if no_seconds else "%H:%M:%S")
