"""One module per question, each returning a typed result object. Surfaces iterate over `ANALYSES`."""

from types import ModuleType

from aha.analyses import activation, discovery, funnel, paths, retention, revalidation, scoring, timing, validation

ANALYSES: dict[str, ModuleType] = {
    "funnel": funnel,
    "timing": timing,
    "activation": activation,
    "validation": validation,
    "retention": retention,
    "discovery": discovery,
    "scoring": scoring,
    "paths": paths,
    "revalidation": revalidation,
}
