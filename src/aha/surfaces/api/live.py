"""The server's live checklists: after the writer commits a batch, the checklist copy (aha.guidance.lookup) is brought
up to date by an incremental update of the entities the batch touched (docs/semantics.md, "Checklist").

The update runs on a reader of its own (its own thread and DuckDB connection, aha.surfaces.api.query.Reader), so
neither a long analysis on the query reader nor a request waits for it, and it waits for neither. Commits that
arrive while an update runs are taken by the next one, together. Besides the writer's signal, it looks once a
second (cheap when nothing changed: two point reads), for writes that did not come through the writer (dead
letters replayed, keys). Only a server whose checklists are read keeps them current: the copy exists once a
checklist has been asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from aha.guidance.lookup import ChecklistLookup
from aha.ingest.service import Ingestor
from aha.surfaces.api.query import Reader

log = logging.getLogger("aha.live")
LOOK_EVERY_SECONDS = 1.0


class LiveState:
    def __init__(self, ingestor: Ingestor, definitions: Any, lookup: ChecklistLookup,
                 every: float = LOOK_EVERY_SECONDS) -> None:
        self.ingestor, self.definitions, self.lookup, self.every = ingestor, definitions, lookup, every
        self.signalled = 0  # batches the writer committed
        self.caught_up = 0  # of those, how many the copy reflects (counted when its update began)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kick: asyncio.Event | None = None
        ingestor.committed.append(self.committed)

    def committed(self) -> None:
        """The writer's signal (on its thread): a batch is stored."""
        self.signalled += 1
        loop, kick = self._loop, self._kick
        if loop is not None and kick is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(kick.set)

    def health(self) -> dict[str, int] | None:
        """For /health: whole copies made, incremental updates, and committed batches the copy does not reflect
        yet (None until a checklist has been asked for)."""
        if not self.lookup.active:
            return None
        return {"copies": self.lookup.copies, "updates": self.lookup.updates,
                "behind": max(self.signalled - self.caught_up, 0)}

    async def run(self) -> None:
        """Until cancelled (the server's lifespan)."""
        self._loop, self._kick = asyncio.get_running_loop(), asyncio.Event()
        reader = Reader(self.ingestor)
        reader.start()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), self.every)
                self._kick.clear()
                if not self.lookup.active:
                    self.caught_up = self.signalled
                    continue
                seen = self.signalled
                try:
                    await reader.run(functools.partial(self.lookup.refresh, definitions=self.definitions.get()))
                    self.caught_up = seen
                except Exception as exc:  # a bad definitions file, a failing store: the next signal tries again
                    log.warning("live checklists not updated: %s", str(exc)[:300])
        finally:
            self._loop = self._kick = None
            await asyncio.to_thread(reader.stop)
