"""Answers kept in the DuckDB file: the same question of the same data and definitions is read back, not recomputed.

An answer is the result's JSON (`aha.results.to_jsonable`, exact: datetimes to the microsecond, NaN and infinity
kept, so that the object read back is equal) and the notes its computation gave, in the table `aha_results`, keyed
by a hash of (this module's LAYOUT, aha's version, the result schema version, every field of the definitions, the
store's data version, the analysis, every option with its default). Every writer of events,
identity links, group calls and traits bumps the data version in the transaction that writes (store.calls,
store.importer, sample.load), so an answer about older data is never found again; a forced state rebuild empties
the table. Answers that depend on the wall clock are not kept (only the analyses in DEFAULTS are).

Reading needs DuckDB and this module only: `lookup` on a read-only connection is what `aha report` does first, and on
a hit it never imports Ibis, SQLGlot or pyarrow (the result classes it rebuilds live in analyses.report_results).
`AHA_RESULT_CACHE=off` turns the cache off (reads and writes).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import duckdb

from aha.errors import UserNote
from aha.results import RESULT_SCHEMA_VERSION, from_jsonable, to_jsonable

if TYPE_CHECKING:
    from aha.definitions import Definitions

TABLE = "aha_results"
LAYOUT = "results-2"  # bump when an analysis gives other numbers for the same data, definitions and options
SWITCH = "AHA_RESULT_CACHE"  # environment: "off" neither reads nor keeps answers
KEEP = 64  # answers kept per file at most (the newest); those for another data version are dropped at once

# The analyses whose answers are kept, with every option's default (Project's signatures: a test keeps them equal).
_SIGNUPS = {"signups_from": None, "signups_to": None}
DEFAULTS: dict[str, dict[str, Any]] = {
    "report": {"segment": None, "as_of": None, "period": "week", "order": "ordered", "include_immature": False,
               "level": "user", **_SIGNUPS},
    "funnel": {"order": "ordered", "include_immature": False, "segment": None, "as_of": None, **_SIGNUPS},
    "timing": {"segment": None, "as_of": None, **_SIGNUPS},
    "activation": {"period": "week", "days": (1, 7, 14, 30), "segment": None, "as_of": None, "milestone": None,
                   **_SIGNUPS},
    "evaluate": {"segment": None, "as_of": None, "outcomes": None, "level": "user", **_SIGNUPS},
    "revalidate": {"segment": None, "as_of": None, "outcomes": None, "level": "user", **_SIGNUPS},
    "retention": {"segment": None, "as_of": None, "bucket": "day", **_SIGNUPS},
    "paths": {"segment": None, "as_of": None, "top": 10, **_SIGNUPS},
    "discover": {"outcome": "retention", "window": 14, "as_of": None, "segment": None, "landmark": None, **_SIGNUPS},
}
Method = TypeVar("Method", bound=Callable[..., Any])
DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (key VARCHAR PRIMARY KEY, analysis VARCHAR NOT NULL, "
       "data_version BIGINT NOT NULL, body VARCHAR NOT NULL, notes VARCHAR NOT NULL, created TIMESTAMP NOT NULL)")


@dataclass(frozen=True, slots=True)
class Answer:
    body: dict[str, Any]  # the result's JSON
    notes: tuple[str, ...]  # the UserNote messages its computation gave: shown again with it


def definitions_hash(definitions: Definitions) -> str:
    """Every field of the definitions, names and guidance text and discovery settings included: an answer shows
    them (`content_hash`, the state's, leaves out what changes no state)."""
    return hashlib.sha256(definitions.model_dump_json().encode()).hexdigest()


def file_definitions_hash(config: Path) -> str:
    """`definitions_hash` of the definitions file at `config`. The hash a file's very bytes gave once is kept per
    user (aha.analyses.statement_cache, keyed by the bytes' SHA-256 and `code_version`), so a command whose answer
    is kept neither parses the YAML nor builds the pydantic models. The definitions are a function of the file's
    text and aha's code alone (no includes, no environment), so the same bytes under the same code give the same
    hash; a file that does not parse keeps nothing and raises its error here."""
    known = known_definitions_hash(config)
    if known is not None:
        return known
    from aha.analyses import statement_cache
    from aha.definitions import load, parse

    try:
        data = config.read_bytes()
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as `load` reads it (text mode)
    except (OSError, UnicodeDecodeError):
        return definitions_hash(load(config))  # the loader's one-line error: no such file, not readable, not UTF-8
    digest = definitions_hash(parse(text, source=str(config)))  # these very bytes: the alias cannot name others
    statement_cache.save(_alias(data), code_version(), [digest])
    return digest


def known_definitions_hash(config: Path) -> str | None:
    """The hash `file_definitions_hash` kept for the file's present bytes, or None (never parsed under this code,
    unreadable, or the cache off): imports neither PyYAML nor pydantic."""
    from aha.analyses import statement_cache

    try:
        data = config.read_bytes()
    except OSError:
        return None
    kept = statement_cache.load(_alias(data), code_version())
    return kept[0] if kept is not None and len(kept) == 1 and len(kept[0]) == 64 else None


def _alias(data: bytes) -> list[str]:
    return ["definitions", hashlib.sha256(data).hexdigest()]


def enabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() not in {"off", "0", "false", "no"}


@functools.cache
def code_version() -> str:
    """aha's version and a fingerprint of its code (every module's path, size and modification time): an editable
    install or a patched copy keeps its version string while its numbers may change, and must not read back answers
    an older code gave. Stat calls only (about a millisecond), no file is read."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("aha")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without an install
        release = "unknown"
    root = Path(__file__).resolve().parents[1]
    code = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        code.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"{release}+{code.hexdigest()[:16]}"


def key(definitions_hash: str, data_version: int, analysis: str, options: dict[str, Any]) -> str | None:
    """The answer's key, or None when the analysis is not kept or an option is not one of its own (or not JSON)."""
    defaults = DEFAULTS.get(analysis)
    if defaults is None or not set(options) <= set(defaults):
        return None
    try:
        text = json.dumps({"layout": LAYOUT, "aha": code_version(), "schema": RESULT_SCHEMA_VERSION,
                           "definitions": definitions_hash, "data": data_version, "analysis": analysis,
                           "options": to_jsonable({**defaults, **options})}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT value FROM aha_meta WHERE key = 'data_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def on_the_clock(con: duckdb.DuckDBPyConnection, options: dict[str, Any]) -> bool:
    """The answer depends on the wall clock: no `as_of` given while the latest stored call is dated after now (the
    default moment is then now: analyses.as_of), so it is neither kept nor read back."""
    if options.get("as_of") is not None:
        return False
    rows = con.execute("SELECT value FROM aha_meta WHERE key = 'latest_event'").fetchall()
    if not rows or rows[0][0] is None:
        return False
    return bool(datetime.fromisoformat(str(rows[0][0])) > datetime.now(UTC).replace(tzinfo=None))


def lookup(con: duckdb.DuckDBPyConnection, definitions_hash: str, analysis: str,
           options: dict[str, Any]) -> Answer | None:
    """The kept answer, or None (not kept, another data version, no table yet: an older file or nothing kept)."""
    if not enabled():
        return None
    try:
        if on_the_clock(con, options):
            return None
        found = key(definitions_hash, data_version(con), analysis, options)
        if found is None:
            return None
        rows = con.execute(f"SELECT body, notes FROM {TABLE} WHERE key = ?", [found]).fetchall()
    except duckdb.Error:
        return None
    if not rows:
        return None
    body, notes = rows[0]
    return Answer(json.loads(body), tuple(json.loads(notes)))


def remember(con: duckdb.DuckDBPyConnection, definitions_hash: str, analysis: str, options: dict[str, Any],
             result: Any, notes: tuple[str, ...], computed_at: int) -> None:
    """Keep `result`, computed at data version `computed_at`, for its key; drop answers about other data versions and
    all but the newest KEEP. Not kept when a write came in while it was computed (it may have seen part of it)."""
    version = data_version(con)
    if not enabled() or version != computed_at or on_the_clock(con, options):
        return
    found = key(definitions_hash, version, analysis, options)
    if found is None:
        return
    body = json.dumps(to_jsonable(result, getattr(result, "kind", None), exact=True))
    try:
        con.execute(DDL)
        con.execute(f"DELETE FROM {TABLE} WHERE data_version <> ?", [version])
        con.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                    [found, analysis, version, body, json.dumps(list(notes)),
                     datetime.now(UTC).replace(tzinfo=None)])
        con.execute(f"DELETE FROM {TABLE} WHERE key NOT IN "
                    f"(SELECT key FROM {TABLE} ORDER BY created DESC LIMIT {KEEP})")
    except duckdb.Error:  # a read-only file: the answer is simply not kept
        return


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every kept answer (a forced rebuild of the state: the user asked for everything to be recomputed)."""
    con.execute(f"DROP TABLE IF EXISTS {TABLE}")


def read(db: Path, definitions_hash: str, analysis: str, options: dict[str, Any]) -> Answer | None:
    """`lookup` on the DuckDB file at `db`, opened read-only and closed again: what a command tries before it opens
    the store (which imports Ibis). None when the file cannot be opened so (a lake or Spark URL, a file another
    process writes, a missing file): the command then opens it the usual way and says what is wrong."""
    if not enabled() or not db.is_file():
        return None
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None
    try:
        return lookup(con, definitions_hash, analysis, options)
    finally:
        con.close()


def remembered(analysis: str, result_class: type | str) -> Callable[[Method], Method]:
    """A `Project` method that answers from the store's kept answers when the same question was asked of the same
    data and definitions, else computes, keeps the answer with the notes it gave, and shows those notes.
    `result_class` may be named as "module:Class", imported when an answer is read back (an analysis's module,
    which imports Ibis, is then not imported by `Project`'s)."""
    def decorate(method: Method) -> Method:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            keeps = self.store.keeps_answers and not self.store.in_transaction and enabled()
            if not keeps:
                return method(self, *args, **kwargs)
            bound = signature.bind(self, *args, **kwargs)
            options = {name: value for name, value in bound.arguments.items() if name != "self"}
            digest = definitions_hash(self.definitions)
            version = data_version(self.store.raw)
            kept = lookup(self.store.raw, digest, analysis, options)
            if kept is not None:
                for note in kept.notes:
                    warnings.warn(UserNote(note), stacklevel=2)
                return from_jsonable(_resolved(result_class), kept.body)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserNote)  # each note recorded, to be kept with the answer
                result = method(self, *args, **kwargs)
            for w in caught:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            notes = tuple(str(w.message) for w in caught if issubclass(w.category, UserNote))
            remember(self.store.raw, digest, analysis, options, result, notes, version)
            return result
        return cast(Method, wrapper)
    return decorate


def _resolved(result_class: type | str) -> type:
    if isinstance(result_class, type):
        return result_class
    module, _, name = result_class.partition(":")
    found = getattr(importlib.import_module(module), name)
    assert isinstance(found, type)
    return found
