"""The event store: canonical tables, opening a backend, importing files. The only part that executes queries.

Importing it imports no Ibis: a store makes its Ibis backend on first use (aha.store.backend, which applies
aha.store.compat's patches and aha.store.dialects' rules)."""

from aha.store.database import Store, StoreError, one_row, open_store

__all__ = ["Store", "StoreError", "one_row", "open_store"]
