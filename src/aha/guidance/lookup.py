"""The server's checklists, served by primary key from a copy of the materialised state.

`GET /v1/users/{id}/milestones` without `as_of` does not plan the long state view per request (a union over every
milestone: 60–100 ms at 20,000 users). The server keeps the view's rows as one Arrow table sorted by
(entity_type, entity_id) with each entity's slice indexed by its key, and a request reads its slice (tens of
microseconds), assembled by the same `checklist.from_rows` as `aha state`, so the numbers are the report's. A fresh
copy answers on the event loop, without waiting for the reader's connection.

Freshness (docs/semantics.md, "Checklist"): a copy younger than `max_stale` seconds (default 1 s) since it was made or
last found current is used as it is. An older one is checked (the store's data version and default as-of, two point
reads): unchanged, it counts as current again; changed, or the definitions changed (checked on every request), the
state is rebuilt or reused as any analysis does and copied again (about 1 s at 20,000 users, on the reader, paid by
the request that finds it due). So an answer reflects the stored data as of at most `max_stale` seconds plus one
refresh before the request, and says which moment it describes in its `as_of`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aha.analyses.state import build, default_as_of, long_state_rows
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.errors import UserError
from aha.guidance.checklist import ChecklistResult, from_rows
from aha.store import Store

MAX_STALE_SECONDS = 1.0


class ChecklistLookup:
    """One per server. `cached` may run on any thread (it reads only what `refresh` swapped in whole); `checklist`
    and `refresh` run on the connection's thread (the server's reader)."""

    def __init__(self, max_stale: float = MAX_STALE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_stale = max_stale
        self._clock = clock
        self._copy: _Copy | None = None
        self.refreshes = 0

    def cached(self, definitions: Definitions, entity_type: str, entity_id: str) -> ChecklistResult | None:
        """The checklist from a copy fresh enough to use without reading the store, else None."""
        copy = self._copy
        if copy is None or copy.definitions is not definitions or self._clock() - copy.checked >= self.max_stale:
            return None
        return copy.checklist(entity_type, entity_id)

    def checklist(self, store: Store, definitions: Definitions, entity_type: str, entity_id: str) -> ChecklistResult:
        """The checklist, refreshing the copy first when it is due."""
        return self.cached(definitions, entity_type, entity_id) or self.refresh(store, definitions).checklist(
            entity_type, entity_id)

    def refresh(self, store: Store, definitions: Definitions) -> _Copy:
        as_of = default_as_of(store)
        if as_of is None:
            raise UserError(f"{store.path}: holds no events yet. Load some with `aha import FILE`.")
        data = (store.data_version, as_of)
        copy = self._copy
        if copy is not None and copy.definitions is definitions and copy.data == data:
            copy.checked = self._clock()  # still current: used as it is for another max_stale
            return copy
        ms = build(store, definitions, as_of)
        self._copy = _Copy(definitions, data, ms.as_of, long_state_rows(store, ms), self._clock())
        store.settle()
        self.refreshes += 1
        return self._copy


class _Copy:
    """The long state of one (definitions, data version, as-of), and where each entity's rows are."""

    def __init__(self, definitions: Definitions, data: tuple[int, datetime], as_of: datetime, rows: Any,
                 checked: float) -> None:
        self.definitions, self.data, self.as_of, self.rows, self.checked = definitions, data, as_of, rows, checked
        types = rows.column(c.ENTITY_TYPE).to_pylist()
        ids = rows.column(c.ENTITY_ID).to_pylist()
        self.where: dict[tuple[str, str], tuple[int, int]] = {}
        start = 0
        for i in range(1, len(ids) + 1):
            if i == len(ids) or ids[i] != ids[start] or types[i] != types[start]:
                self.where[(types[start], ids[start])] = (start, i - start)
                start = i

    def checklist(self, entity_type: str, entity_id: str) -> ChecklistResult:
        at = self.where.get((entity_type, entity_id))
        rows = self.rows.slice(*at).to_pylist() if at is not None else []
        return from_rows(self.definitions, self.as_of, entity_type, entity_id, rows)
