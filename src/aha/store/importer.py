"""Bulk import of events and user traits from CSV/TSV/JSONL/Parquet files into the DuckDB store.

Every row read is accounted for: imported, a duplicate (its message id is already stored, or repeats within the
file), or rejected into `dead_letters` with file, line, field and reason. rows_read = imported + duplicates + rejected.
All work happens in DuckDB SQL over a staging table; Python only builds the statements and counts.

A file's rows, dead letters and its `imports` log row are written in one transaction. Re-importing changes nothing:
events anti-join on message_id (given, or an md5 of the row's content), identities and memberships on their whole
row, traits count as duplicates when every trait already holds that value, dead letters on (file, line, reason, raw).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from aha.jsonpointer import pointer
from aha.store import metadata
from aha.store.database import Store, one_row
from aha.store.files import detect_format, resolve_paths
from aha.store.formats import (
    REJECTS,
    STAGE,
    Column,
    Format,
    ImportRefused,
    columns_of,
    delimiter,
    drop_staging,
    member_names,
    read_error,
    stage,
)
from aha.store.loading import write_file
from aha.store.mapping import (
    EVENT_COLUMNS,
    USER_COLUMNS,
    Kind,
    absent_members,
    check_columns,
    check_mapping,
    check_timestamp_format,
    check_timezone,
    guess_timestamp_format,
    likely_maps,
    members_read,
    unmapped_event_ids,
)
from aha.store.rows import (
    PARSED,
    fill_raw,
    mark_repeats,
    nested_object_sql,
    nested_search_text,
    parsed_sql,
    table_rows_sql,
)
from aha.store.segment import json_rows_sql
from aha.store.segment import nested_object_sql as json_nested_sql
from aha.store.traits import mark_duplicates
from aha.store.values import mark_duplicate_keys, mark_nul, mark_unstorable_numbers

__all__ = ["EVENT_COLUMNS", "USER_COLUMNS", "FileSummary", "ImportRefused", "ImportSummary", "Kind", "import_files"]

ProgressCallback = Callable[[str, int, int], None]

PROGRESS_STEPS = 3  # read, check, write


@dataclass(frozen=True, slots=True)
class FileSummary:
    file: str
    format: str
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    identities: int
    users_updated: int
    accounts_updated: int
    reasons: tuple[tuple[str, int], ...]  # rejection reason -> rows, most frequent first
    seconds: float
    events: int = 0  # of `imported`: events; the rest are identify, alias and group calls (Segment lines)
    reread: bool = False  # imported before, yet no row was a duplicate now: read differently (another --timezone?)
    left_out: tuple[str, ...] = ()  # pipeline metadata columns not kept as properties or traits (aha.store.metadata)
    unmapped_ids: tuple[str, ...] = ()  # columns named as an event's own id, not mapped (mapping.unmapped_event_ids)
    absent: tuple[str, ...] = ()  # --map pointers to a member no row of the file holds (mapping.absent_members)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    files: tuple[FileSummary, ...]
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    identities: int
    users_updated: int
    accounts_updated: int
    events: int = 0

    @property
    def reasons(self) -> tuple[tuple[str, int], ...]:
        totals: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.reasons:
                totals[reason] = totals.get(reason, 0) + n
        return tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = [{**asdict(f), "reasons": dict(f.reasons)} for f in self.files]
        out["reasons"] = dict(self.reasons)
        return out


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    kind: Kind = "events",
    mapping: Mapping[str, str] | None = None,
    timestamp_format: str | None = None,
    timezone: str = "UTC",
    source: str | None = None,
    progress: ProgressCallback | None = None,
    allow_rejects: bool = False,
) -> ImportSummary:
    """Import files of events (or user traits, kind="users"); see the module docstring for what is counted how.

    A file most of whose rows would be rejected is refused whole (nothing of it written) unless `allow_rejects`:
    that is a wrong --map or format far more often than bad data, and a re-import with the right --map would then
    store the same rows again under other content hashes."""
    if kind not in ("events", "users"):
        raise ImportRefused(f"unknown import kind {kind!r}: use 'events' or 'users'.")
    canonical = EVENT_COLUMNS if kind == "events" else USER_COLUMNS
    mapping = check_mapping(mapping or {}, canonical)
    files = resolve_paths(tuple(paths))
    con = store.raw
    timezone = check_timezone(con, timezone)
    if timestamp_format is not None:
        check_timestamp_format(con, timestamp_format)
    formats = {path: detect_format(path) for path in files}
    # Refuse before writing anything: every file must offer the required columns.
    unmapped: dict[Path, tuple[str, ...]] = {}
    absent: dict[Path, tuple[str, ...]] = {}
    for path in files:
        columns = columns_of(con, path, formats[path])
        nested = "properties" if kind == "events" else "traits"
        members = member_names(con, path, nested) if formats[path] == "jsonl" and any(
            c.name == nested for c in columns) else []
        check_columns(path, columns, kind, mapping, members)
        if kind == "events":
            unmapped[path] = tuple(unmapped_event_ids([c.name for c in columns], mapping))
        if formats[path] == "jsonl" and any(v.startswith("/") for v in mapping.values()):
            absent[path] = tuple(absent_members(mapping, partial(_members, con, path, {c.name for c in columns})))

    now = datetime.now(UTC).replace(tzinfo=None)
    previous_tz = one_row(con, "SELECT current_setting('TimeZone')")
    con.execute("SET TimeZone = 'UTC'")
    summaries: list[FileSummary] = []
    try:
        for path in files:
            label = str(path)
            if progress:
                progress(label, 0, PROGRESS_STEPS)
            summaries.append(replace(
                _import_one(
                    store,
                    path,
                    formats[path],
                    kind,
                    mapping,
                    timestamp_format,
                    timezone,
                    source or path.name,
                    now,
                    label,
                    progress,
                    allow_rejects,
                ), unmapped_ids=unmapped.get(path, ()), absent=absent.get(path, ())))
    finally:
        drop_staging(con)
        con.execute(f"DROP TABLE IF EXISTS {PARSED}")
        con.execute("SET TimeZone = ?", [str(previous_tz[0]) if previous_tz else "UTC"])
    if any(s.imported for s in summaries):
        store.bump_data_version()
    return ImportSummary(
        files=tuple(summaries),
        rows_read=sum(s.rows_read for s in summaries),
        imported=sum(s.imported for s in summaries),
        duplicates=sum(s.duplicates for s in summaries),
        rejected=sum(s.rejected for s in summaries),
        identities=sum(s.identities for s in summaries),
        users_updated=sum(s.users_updated for s in summaries),
        accounts_updated=sum(s.accounts_updated for s in summaries),
        events=sum(s.events for s in summaries),
    )


# -- one file ------------------------------------------------------------------------------------------------------


def _import_one(
    store: Store,
    path: Path,
    fmt: Format,
    kind: Kind,
    mapping: Mapping[str, str],
    timestamp_format: str | None,
    timezone: str,
    source: str,
    now: datetime,
    label: str,
    progress: ProgressCallback | None,
    allow_rejects: bool,
) -> FileSummary:
    started = time.perf_counter()
    con = store.raw
    canonical = EVENT_COLUMNS if kind == "events" else USER_COLUMNS
    stage(con, path, fmt)
    if progress:
        progress(label, 1, PROGRESS_STEPS)
    columns: list[Column] = []
    nested_name = "properties" if kind == "events" else "traits"
    home = mapping.get(nested_name, nested_name)
    if fmt == "jsonl":
        # Pipeline members inside the nested object are found first, then removed by name (rows.nested_members).
        drop = metadata.nested_left_out(con, json_nested_sql(kind, mapping), members_read(mapping.values(), home),
                                        "_raw")
        rows_sql = json_rows_sql(kind, mapping, canonical, drop)
        left_out = metadata.json_left_out(con, mapping, canonical)
    else:
        described = con.execute(f"DESCRIBE {STAGE}").fetchall()
        columns = [Column(str(r[0]), str(r[1])) for r in described if r[0] != "_line"]
        nested = nested_object_sql(columns, kind, mapping)
        text = nested_search_text(columns, kind, mapping) or f"CAST({nested} AS VARCHAR)"
        drop = metadata.nested_left_out(con, nested, members_read(mapping.values(), home), text) if nested else []
        rows_sql = table_rows_sql(columns, fmt, kind, mapping, canonical, drop,
                                  decimal_comma=fmt == "csv" and delimiter(path, fmt) == ";")
        left_out = metadata.left_out([c.name for c in columns], metadata.used(columns, mapping, canonical))
    left_out += [pointer(home) + pointer(k) for k in drop]  # named as pointers: /properties/mp_processing_time_ms
    params: dict[str, object] = {"tz": timezone, "now": now}
    if timestamp_format is not None:
        params["fmt"] = timestamp_format
    statement = parsed_sql(rows_sql, timestamp_format)
    # Bind what the statement names: DuckDB refuses an unused named parameter, and a --timestamp-format with %z
    # reads no $tz (the text carries its offset): that import stopped on a traceback ("excess parameters: tz").
    params = {k: v for k, v in params.items() if re.search(rf"\${k}\b", statement)}
    try:
        con.execute(statement, params)
    except duckdb.InvalidInputException as exc:  # Parquet is read here (a view): text that is not UTF-8
        refused = read_error(path, exc)
        if "UTF-8" not in str(refused):
            raise
        raise refused from None
    if fmt in ("csv", "tsv") and one_row(
            con, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [REJECTS])[0]:
        # Records that did not fit the header (store/ragged.py): dead letters beside the rows read.
        con.execute(f"""INSERT INTO {PARSED} BY NAME SELECT _line, 'invalid' AS _kind, _raw, 'line' AS _field,
                        _reason, FALSE AS _ok, FALSE AS _first, FALSE AS _same, FALSE AS _stored FROM {REJECTS}""")
    mark_unstorable_numbers(con, PARSED)  # the server's rule for numbers (store/values.py)
    mark_nul(con, PARSED)  # and for NUL
    mark_duplicate_keys(con, PARSED, STAGE if fmt == "jsonl" else None)  # and for repeated names
    mark_repeats(con)
    if one_row(con, f"SELECT count(*) FROM (SELECT 1 FROM {PARSED} WHERE _kind <> 'event' LIMIT 1)")[0]:
        # Only identify/alias/group/user rows can repeat what is stored (a file of events has none): the check
        # reads every stored identity, membership and trait, 0.5 s of CPU beside a 200,000-user history.
        mark_duplicates(con)
    read, rejected = (int(n) for n in one_row(
        con, f"SELECT count(*), count(*) FILTER (WHERE _reason IS NOT NULL) FROM {PARSED}"))
    if rejected * 2 > read and not allow_rejects:
        _refuse_mostly_rejected(con, path, read, rejected, [c.name for c in columns], mapping, kind,
                                timestamp_format)
    if rejected and fmt != "jsonl":
        fill_raw(con, path, fmt)
    if progress:
        progress(label, 2, PROGRESS_STEPS)

    file_text = str(path)
    written = write_file(store, file_text, kind, source, now)
    reasons = con.execute(
        f"""SELECT _reason, count(*) AS n FROM {PARSED} WHERE _reason IS NOT NULL
            GROUP BY _reason ORDER BY n DESC, _reason"""
    ).fetchall()
    if progress:
        progress(label, PROGRESS_STEPS, PROGRESS_STEPS)
    return FileSummary(
        file=file_text,
        format=fmt,
        rows_read=written.rows_read,
        imported=written.imported,
        duplicates=written.duplicates,
        rejected=written.rejected,
        identities=written.identities,
        users_updated=written.users_updated,
        accounts_updated=written.accounts_updated,
        reasons=tuple((str(r), int(n)) for r, n in reasons),
        seconds=round(time.perf_counter() - started, 3),
        events=written.events,
        reread=bool(written.before) and written.imported > 0 and written.duplicates == 0,
        left_out=tuple(left_out),
    )


def _members(con: duckdb.DuckDBPyConnection, path: Path, columns: set[str], column: str) -> list[str]:
    return member_names(con, path, column) if column in columns else []


def _refuse_mostly_rejected(con: duckdb.DuckDBPyConnection, path: Path, read: int, rejected: int, columns: list[str],
                            mapping: Mapping[str, str], kind: Kind, timestamp_format: str | None) -> None:
    reasons = con.execute(f"""SELECT _reason, count(*) AS n FROM {PARSED} WHERE _reason IS NOT NULL
                              GROUP BY _reason ORDER BY n DESC, _reason LIMIT 2""").fetchall()
    why = "; ".join(f"{int(n):,} × {reason}" for reason, n in reasons)
    maps = likely_maps(columns, mapping, kind)
    fix = f"Did you mean --map {shlex.quote(','.join(maps))}? " if maps else ""  # pasted into a shell as it is
    if reasons[0][0] == "unparseable timestamp" and timestamp_format is None:
        samples = [str(t) for (t,) in con.execute(
            f"SELECT ts_text FROM {PARSED} WHERE _reason = 'unparseable timestamp' LIMIT 1000").fetchall()]
        guess = guess_timestamp_format(samples)
        fix += (f"The times read like {samples[0]!r}: add --timestamp-format '{guess}'"
                f"{'' if guess.startswith('%Y') else ' (check day and month)'}. "
                if guess else f"The times read like {samples[0]!r}: give their shape with --timestamp-format "
                "(strptime directives, e.g. '%d/%m/%Y %H:%M'). ")
    raise ImportRefused(
        f"{path.name}: {rejected:,} of {read:,} rows would be rejected ({why}), so nothing of it was imported. "
        f"{fix}To import the other {read - rejected:,} rows and keep the rejected ones as dead letters, add "
        "--allow-rejects.")

