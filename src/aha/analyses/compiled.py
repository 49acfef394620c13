"""Compiled SQL kept for the incremental update (issue 15, freshness): building and compiling the engine's Ibis
expressions cost three quarters of an update of a few users, and they are the same every time for the same
definitions. The first update of a process records the statements it runs; later ones run them again.

What changes between updates is passed in, never compiled in: the entities to recompute are temp tables of fixed
names (aha.analyses.incremental), and the two moments an update's SQL holds, `as_of` and the earliest recomputed
`t0` (`since`), are compiled as sentinel timestamps that each run replaces by its own values. A DuckDB file only
(`Store.incremental`); other backends never update incrementally.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import duckdb

from aha.store import Store

T = TypeVar("T")
AS_OF = datetime(2199, 1, 2, 3, 4, 5, 678901)  # stands for `as_of` in compiled SQL
SINCE = datetime(2199, 1, 2, 3, 4, 6, 678901)  # stands for the earliest recomputed t0
KEPT = 16  # programs kept per process (one per definitions and kind of update)
_programs: dict[tuple[str, ...], list[str]] = {}
_texts: dict[tuple[str, ...], str] = {}


def sentinel_sql(moment: datetime) -> str:
    """How Ibis renders a timestamp literal for DuckDB (checked by tests/engine/test_compiled.py)."""
    seconds = moment.second + moment.microsecond / 1e6
    return f"MAKE_TIMESTAMP({moment.year}, {moment.month}, {moment.day}, {moment.hour}, {moment.minute}, {seconds})"


def literal(moment: datetime) -> str:
    return f"CAST('{moment.isoformat(sep=' ')}' AS TIMESTAMP)"


class _Program:
    """A connection stand-in for the store while an update runs: every statement is recorded (when recording) and
    run with the sentinels replaced. `since_sql` is the one read whose value later statements hold."""

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: datetime, since_sql: str,
                 recorded: list[str] | None) -> None:
        self.con, self.since_sql, self.recorded = con, since_sql, recorded
        self.values = {sentinel_sql(AS_OF): literal(as_of)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        if self.recorded is not None:
            if params:
                raise AssertionError("a compiled update takes no parameters")
            self.recorded.append(sql)
        if sql == self.since_sql:
            rows = self.con.execute(sql).fetchall()
            self.values[sentinel_sql(SINCE)] = literal(rows[0][0] or datetime.max)
            return _Rows(rows)
        for sentinel, value in self.values.items():
            sql = sql.replace(sentinel, value)
        return self.con.execute(sql)


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def fetchall(self) -> list[Any]:
        return self.rows


def run(store: Store, key: tuple[str, ...], as_of: datetime, since_sql: str, steps: Callable[[], T]) -> T | None:
    """Run the statements kept under `key` on `store` (returning None), or else `steps()`, with `store.raw`
    recording what it runs under `key` (returning what `steps` returns). Either way the sentinels are replaced."""
    real = store.raw
    kept = _programs.get(key)
    if kept is not None:
        program = _Program(real, as_of, since_sql, None)
        for sql in kept:
            program.execute(sql)
        return None
    recorded: list[str] = []
    store.raw = _Program(real, as_of, since_sql, recorded)  # type: ignore[assignment]
    try:
        result = steps()
    finally:
        store.raw = real
    _keep(_programs, key, recorded)
    return result


def text(key: tuple[str, ...], as_of: datetime, compile_: Callable[[], str]) -> str:
    """One statement compiled once per `key` (with `AS_OF` for `as_of`), with this `as_of` put in."""
    sql = _texts.get(key)
    if sql is None:
        sql = compile_()
        _keep(_texts, key, sql)
    return sql.replace(sentinel_sql(AS_OF), literal(as_of))


def _keep(kept: dict[tuple[str, ...], Any], key: tuple[str, ...], value: Any) -> None:
    if len(kept) >= KEPT:
        kept.pop(next(iter(kept)))
    kept[key] = value
