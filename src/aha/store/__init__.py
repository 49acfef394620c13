"""The event store: canonical tables, opening a backend, importing files. The only part that executes queries."""

from aha.store import dialects  # noqa: F401  (each backend's JSON SQL)
from aha.store.database import Store, StoreError, one_row, open_store

__all__ = ["Store", "StoreError", "one_row", "open_store"]
