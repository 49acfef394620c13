"""The HTTP API (FastAPI): `create_app(db_path)` builds the server for one database; `aha serve` runs it."""

from aha.surfaces.api.app import create_app

__all__ = ["create_app"]
