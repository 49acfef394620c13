"""What was refused, why, and can it be stored now? Dead letters grouped by reason, and their replay.

Replay re-validates each HTTP dead letter (a call, or a whole single-call body) with the current rules, at its
original receipt time, and stores the ones that now pass through the same idempotent writer as the server, under the
store's one dedupe rule (a call is stored once per message id). Only the letters whose call was stored now are
removed: one whose message id is already stored (a client's retry got through, or two letters of one batch carry the
same id) is a duplicate, counted apart and kept with its reason. Rows from `aha import` are fixed by re-importing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aha.ingest.bodies import Refused, strict_loads
from aha.ingest.payloads import Call, Rejection, validate_call
from aha.ingest.records import calls_table, dead_table
from aha.store import schema
from aha.store.calls import already_stored, write_calls
from aha.store.database import Store

EXAMPLE_CHARS = 160


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    reason: str
    field: str | None
    count: int
    sources: tuple[str, ...]
    example: str  # one raw payload, shortened
    locations: tuple[str, ...] = ()  # the first LOCATIONS "file:line" (or "http") where it happened, oldest first


@dataclass(frozen=True, slots=True)
class ReplayResult:
    examined: int
    stored: int  # calls stored by this replay (their dead letters removed)
    still_rejected: int
    not_replayable: int  # from file imports: re-run `aha import` after fixing the file
    duplicates: int = 0  # valid now, but their message id is stored already (or repeats in the replay): kept


LOCATIONS = 5


def summarise(store: Store) -> list[ReasonGroup]:
    rows = store.raw.execute(
        f"""SELECT reason, any_value(field), count(*), list(DISTINCT coalesce(source, '(no key)')),
                   arg_min(coalesce(raw, ''), id),
                   list(CASE WHEN file IS NULL OR file = 'http' THEN 'http'
                             ELSE file || coalesce(':' || line, '') END ORDER BY id)[1:{LOCATIONS}]
            FROM {schema.DEAD_LETTERS} GROUP BY reason ORDER BY count(*) DESC, reason"""
    ).fetchall()
    return [
        ReasonGroup(str(r[0]), r[1], int(r[2]), tuple(sorted(r[3])), str(r[4])[:EXAMPLE_CHARS], tuple(r[5]))
        for r in rows
    ]


def replay(store: Store, now: datetime) -> ReplayResult:
    rows = store.raw.execute(
        f"SELECT id, received_at, source, file, raw FROM {schema.DEAD_LETTERS} ORDER BY id"
    ).fetchall()
    calls: list[Call] = []
    done: list[int] = []
    still = skipped = 0
    for dead_id, received_at, source, file, raw in rows:
        if file != "http" or source is None:
            skipped += 1
            continue
        try:  # the server's decoder: a NaN a client sent is refused again, never stored (store/values.py)
            doc = strict_loads(raw) if isinstance(raw, str) else None
        except (Refused, ValueError, RecursionError):
            still += 1
            continue
        result = validate_call(doc, received_at=received_at, source=source)
        if isinstance(result, Rejection):
            still += 1
            continue
        calls.append(result)
        done.append(int(dead_id))
    seen = already_stored(store, [c.message_id for c in calls], now)
    new: list[Call] = []
    stored_ids: list[int] = []
    for call, dead_id in zip(calls, done, strict=True):
        if call.message_id in seen:
            continue
        seen.add(call.message_id)
        new.append(call)
        stored_ids.append(dead_id)
    if new:
        # Two transactions: after a crash between them a rerun finds these ids stored and keeps the letters.
        write_calls(store, calls_table(new), dead_table([]), None, now)
        store.raw.execute(f"DELETE FROM {schema.DEAD_LETTERS} WHERE list_contains(?, id)", [stored_ids])
    return ReplayResult(len(rows), len(new), still, skipped, len(calls) - len(new))
