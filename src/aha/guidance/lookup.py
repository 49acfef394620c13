"""The server's checklists, served by primary key from a copy of the materialised state, kept current by
incremental updates of the entities new calls touch.

`GET /v1/users/{id}/milestones` without `as_of` does not plan the long state view per request (a union over every
milestone: 60–100 ms at 20,000 users). The server keeps the view's rows sorted by (entity_type, entity_id) as
columns (`_Columns`) with each entity's range indexed by its key, and a request reads its range (~80 µs),
assembled by the same `checklist.from_rows` as `aha state`, so the numbers are the report's.

Freshness (docs/semantics.md, "Checklist"): after the server's writer commits a batch, `refresh` brings the stored
state up to date (`analyses.state.build`: incrementally, only the entities the new calls touch) and replaces the
copy's rows of exactly those entities (read from the state view by id); every other entity's rows stay as they
were. A whole copy is made only the first time, for changed definitions, or when the stored state was rebuilt or
brought up to date by another reader meanwhile (its touched entities are then unknown here).

Time: a row's status was computed as of the state's `as_of` (the latest stored call). A checklist is read as of
max(that as_of, now): a milestone `in_progress` whose window has ended by then is `missed`, without an event. With no
stored call after the state's `as_of`, that is exactly the state as of the later moment (reach times and progress
count only stored events, and none is later).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from aha.analyses.state import STATE_KEY, STATE_TABLE, build, default_as_of, long_state_rows
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.errors import UserError
from aha.guidance.checklist import ChecklistResult, Layout, from_rows
from aha.store import Store

Entity = tuple[str, str]  # (entity_type, entity_id)


def wall_clock() -> datetime:
    from aha.ingest.service import now_utc  # naive UTC, as the store keeps timestamps

    return now_utc()


class ChecklistLookup:
    """One per server. `cached` may run on any thread (it reads only what `refresh` swapped in whole); `refresh`
    runs on one thread at a time (the server's live-state reader, or the reader that finds no copy)."""

    def __init__(self, clock: Callable[[], datetime] = wall_clock) -> None:
        self._clock = clock
        self._copy: _Copy | None = None
        self._refreshing = threading.Lock()
        self.copies = 0  # whole copies made
        self.updates = 0  # incremental updates: only touched entities' rows replaced
        self.touched = 0  # entities replaced by those updates, in all

    @property
    def active(self) -> bool:
        """Whether a copy exists (someone asked for a checklist): only then is it worth keeping current."""
        return self._copy is not None

    def cached(self, definitions: Definitions, entity_type: str, entity_id: str) -> ChecklistResult | None:
        """The checklist from the copy, as of now, or None when there is no copy for these definitions."""
        copy = self._copy
        if copy is None or copy.definitions is not definitions:
            return None
        return copy.checklist(entity_type, entity_id, self._clock())

    def checklist(self, store: Store, definitions: Definitions, entity_type: str, entity_id: str) -> ChecklistResult:
        """The checklist, making the copy first when there is none for these definitions."""
        return self.cached(definitions, entity_type, entity_id) or self.refresh(store, definitions).checklist(
            entity_type, entity_id, self._clock())

    def refresh(self, store: Store, definitions: Definitions) -> _Copy:
        """Bring the copy up to the stored data: nothing to do when the data version and as-of are the copy's."""
        with self._refreshing:
            as_of = default_as_of(store)
            if as_of is None:
                raise UserError(f"{store.path}: holds no events yet. Load some with `aha import FILE`.")
            data = (store.data_version, as_of)
            copy = self._copy
            same = copy is not None and copy.definitions is definitions
            # the same data, or older (a reader whose snapshot began before another refresh committed)
            if same and copy is not None and copy.data[0] >= data[0]:
                return copy
            store.settle()
            mirrored = store.meta(STATE_KEY)  # the stored state before the update: the copy must be of it
            ms = build(store, definitions, as_of)
            if same and copy is not None and ms.touched is not None and copy.key == mirrored:
                fresh = copy.updated(data, ms.as_of, ms.key, _rows_of(store, ms.touched), ms.touched)
                self.updates += 1
                self.touched += len(ms.touched)
            else:
                fresh = _Copy(definitions, data, ms.as_of, ms.key, long_state_rows(store, ms))
                self.copies += 1
            store.settle()
            self._copy = fresh
            return fresh


def _rows_of(store: Store, entities: frozenset[Entity]) -> dict[Entity, list[dict[str, Any]]]:
    """The state view's rows of `entities` (read by id: the view's filter reaches each milestone's part), grouped;
    an entity without rows is no longer one (a user merged into another) and maps to []."""
    found: dict[Entity, list[dict[str, Any]]] = {e: [] for e in entities}
    if not entities:
        return found
    kinds = sorted({kind for kind, _ in entities})
    for kind in kinds:
        ids = [i for k, i in entities if k == kind]
        result = store.raw.execute(f'SELECT * FROM "{STATE_TABLE}" WHERE {c.ENTITY_TYPE} = ? AND '
                                   f"{c.ENTITY_ID} IN (SELECT unnest(?)) ORDER BY {c.ENTITY_ID}, {c.MILESTONE_ID}",
                                   [kind, ids])
        names = [d[0] for d in result.description or []]
        for row in result.fetchall():
            record = dict(zip(names, row, strict=True))
            found[(kind, record[c.ENTITY_ID])].append(record)
    return found


def as_of_moment(rows: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """The rows' statuses as of `as_of`, later than the state's: a window that has ended turns `in_progress` into
    `missed` (docs/semantics.md: `in_progress` while `t0 + W > as_of`)."""
    return [{**r, c.STATUS: c.MISSED} if r[c.STATUS] == c.IN_PROGRESS and r[c.WINDOW_END] <= as_of else r
            for r in rows]


class _Copy:
    """The long state of one (definitions, data version, as-of), and where each entity's rows are: a range of the
    whole copy's columns, or the rows an incremental update replaced them with (`changed`)."""

    def __init__(self, definitions: Definitions, data: tuple[int, datetime], as_of: datetime, key: str, rows: Any,
                 where: dict[Entity, tuple[int, int]] | None = None,
                 changed: dict[Entity, list[dict[str, Any]]] | None = None) -> None:
        self.definitions, self.data, self.as_of, self.key = definitions, data, as_of, key
        self.rows = rows if isinstance(rows, _Columns) else _Columns(rows)
        self.changed = changed or {}
        self.where = where if where is not None else _index(rows)
        self.layouts: dict[str, Layout] = {}  # by entity type, made on first use

    def updated(self, data: tuple[int, datetime], as_of: datetime, key: str,
                changed: dict[Entity, list[dict[str, Any]]], touched: frozenset[Entity]) -> _Copy:
        """A new copy sharing this one's rows, with the touched entities' rows replaced."""
        assert touched == changed.keys()
        return _Copy(self.definitions, data, as_of, key, self.rows, self.where, {**self.changed, **changed})

    def checklist(self, entity_type: str, entity_id: str, now: datetime) -> ChecklistResult:
        entity = (entity_type, entity_id)
        rows = self.changed.get(entity)
        if rows is None:
            at = self.where.get(entity)
            rows = self.rows.rows(*at) if at is not None else []
        as_of = max(self.as_of, now)
        layout = self.layouts.get(entity_type)
        if layout is None:
            layout = self.layouts[entity_type] = Layout(self.definitions, entity_type)
        return from_rows(self.definitions, as_of, entity_type, entity_id, as_of_moment(rows, as_of), layout)


STRINGS = (c.MILESTONE_ID, c.STATUS)
MOMENTS = (c.T0, c.WINDOW_END, c.REACH_TIME)
NAMES = (*STRINGS, *MOMENTS, c.PROGRESS)


class _Columns:
    """The columns of the long state a checklist reads, as NumPy arrays: a request turns its entity's range into
    row dicts equal to Arrow's `to_pylist` (None for SQL NULL) in about 12 µs (NumPy makes the datetimes: a moment
    is a datetime64[us] column whose NaT reads as None), where slicing the Arrow table and converting it took about
    200 µs (and the arrays take a tenth of the memory of Python rows)."""

    def __init__(self, table: Any) -> None:
        self.strings = []
        for name in STRINGS:
            encoded = table.column(name).combine_chunks().dictionary_encode()
            self.strings.append((encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()))
        self.moments = [table.column(name).combine_chunks().cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
                        for name in MOMENTS]
        progress = table.column(c.PROGRESS).combine_chunks()
        self.progress = progress.fill_null(0).to_numpy(zero_copy_only=False)
        self.missing = progress.is_null().to_numpy(zero_copy_only=False) if progress.null_count else None

    def rows(self, start: int, length: int) -> list[dict[str, Any]]:
        end = start + length
        columns: list[list[Any]] = [[values[code] for code in codes[start:end].tolist()]
                                    for codes, values in self.strings]
        columns += [moments[start:end].tolist() for moments in self.moments]
        progress = self.progress[start:end].tolist()
        if self.missing is not None:
            progress = [None if null else value for value, null in zip(progress, self.missing[start:end].tolist(),
                                                                       strict=True)]
        columns.append(progress)
        return [dict(zip(NAMES, row, strict=True)) for row in zip(*columns, strict=True)]


def _index(rows: Any) -> dict[Entity, tuple[int, int]]:
    types = rows.column(c.ENTITY_TYPE).to_pylist()
    ids = rows.column(c.ENTITY_ID).to_pylist()
    where: dict[Entity, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start] or types[i] != types[start]:
            where[(types[start], ids[start])] = (start, i - start)
            start = i
    return where
