"""Notes a team writes beside a funnel step (issue 16's drop-off diagnosis): who, when, what.

Kept in their own table, created on first use (notes are no part of the event schema and no analysis reads them);
the text is stored as typed and escaped wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aha.store.database import Store

TABLE = "aha_notes"
MAX_AUTHOR = 100
MAX_BODY = 2000


@dataclass(frozen=True, slots=True)
class Note:
    step: str
    author: str
    body: str
    created_at: datetime


def _ensure(store: Store) -> None:
    store.raw.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (step VARCHAR NOT NULL, author VARCHAR NOT NULL, "
                      "body VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)")


def add(store: Store, note: Note) -> None:
    _ensure(store)
    store.raw.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", [note.step, note.author, note.body, note.created_at])


def all_notes(store: Store) -> list[Note]:
    """Every note, oldest first (a few per step: read whole)."""
    exists = store.raw.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                               [TABLE]).fetchone()
    if not exists or not exists[0]:
        return []
    rows = store.raw.execute(f"SELECT step, author, body, created_at FROM {TABLE} ORDER BY created_at").fetchall()
    return [Note(*row) for row in rows]
