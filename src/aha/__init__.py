"""aha: activation milestone tracking on your own data.

`aha.open(db, config)` is the one Python API the CLI, the HTTP API and the reports are built on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from aha.project import Project


def open(db: str = "aha.duckdb", config: str = "aha.yaml", **kwargs: Any) -> Project:
    """Open an event store and a definitions file; imported lazily so `import aha` stays fast."""
    from aha.project import Project

    return Project.open(db, config, **kwargs)


__all__ = ["open"]
