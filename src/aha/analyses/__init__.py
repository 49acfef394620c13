"""One module per question, each returning a typed result object. Surfaces iterate over `ANALYSES`.

The modules are imported on first use of `ANALYSES`: importing a light module of this package (the report's result
classes, the result cache) must not import every analysis, and with them Ibis.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

NAMES = ("funnel", "timing", "activation", "validation", "retention", "discovery", "scoring", "paths", "revalidation")


def __getattr__(name: str) -> Any:
    if name == "ANALYSES":
        return {n: importlib.import_module(f"aha.analyses.{n}") for n in NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ANALYSES: dict[str, ModuleType]
