"""The event store: canonical tables, opening a backend, importing files. The only part that executes queries."""

from aha.store.database import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
