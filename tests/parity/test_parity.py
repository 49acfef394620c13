"""Every analysis gives the same numbers on every backend (issue 17.2): the DuckDB file is the reference; the Parquet
lake read by DuckDB and by Spark must match it to the last count, every rate and interval to 1e-9 (sums of floats
may add in another order on another engine).

Compared: each result's whole JSON (`to_dict()`), but `data_version`, which counts writes to a DuckDB file (a location
read in place has none). The long state of every entity (reach times, status, progress per milestone) is compared
row by row, accounts apart, so a difference names the entity it is in (but `entity_key`, a surrogate key each
engine numbers in its own order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

import aha
from aha.engine import columns as c
from tests.parity.conftest import BACKENDS

IGNORED = {"data_version"}  # differs by design: see the module docstring
TOLERANCE = 1e-9


def _state(project: aha.Project, kind: str) -> list[dict[str, Any]]:
    state = project.state().state
    rows = project.store.records(state.filter(state[c.ENTITY_TYPE] == kind).drop(c.ENTITY_KEY))  # a surrogate
    return sorted(rows, key=lambda r: (r[c.ENTITY_ID], r[c.MILESTONE_ID]))


ANALYSES: dict[str, Callable[[aha.Project], Any]] = {
    "report": lambda p: p.report().to_dict(),  # headline, overview, ordered funnel, timing, activation by cohort
    "funnel_unordered": lambda p: p.funnel(order="unordered").to_dict(),
    "funnel_by_segment": lambda p: p.funnel(segment="plan").to_dict(),  # traits: the lake's users.parquet
    "validation": lambda p: p.evaluate().to_dict(),  # both outcomes, lifts and intervals
    "outcomes_retention": lambda p: p.retention(bucket="week").to_dict(),
    "discovery": lambda p: p.discover(outcome="retention", window=14).to_dict(),
    "paths": lambda p: p.paths().to_dict(),
    "users_state": lambda p: _state(p, c.USER),
    "accounts_state": lambda p: _state(p, c.ACCOUNT),
}


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where two answers differ (at most a few, each with its JSON path)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = [f"{path}: keys {sorted(set(expected) ^ set(got))}"] if set(expected) != set(got) else []
        for key in expected.keys() & got.keys():
            if key not in IGNORED:
                out += differences(expected[key], got[key], f"{path}.{key}")
        return out
    if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items, got {len(got)}"]
        pairs = enumerate(zip(expected, got, strict=True))
        return [d for i, (e, g) in pairs for d in differences(e, g, f"{path}[{i}]")]
    if isinstance(expected, float) and isinstance(got, float | int) and not isinstance(got, bool):
        same = (math.isnan(expected) and math.isnan(got)) or math.isclose(expected, got, rel_tol=TOLERANCE,
                                                                          abs_tol=TOLERANCE)
        return [] if same else [f"{path}: {expected!r}, got {got!r}"]
    if isinstance(expected, datetime | date) and isinstance(got, datetime | date):
        return [] if expected == got else [f"{path}: {expected}, got {got}"]
    return [] if expected == got and type(expected) is type(got) else [f"{path}: {expected!r}, got {got!r}"]


@pytest.mark.parametrize("backend", BACKENDS[1:])
@pytest.mark.parametrize("analysis", ANALYSES)
def test_same_numbers_as_the_duckdb_file(answers: Callable[[str], Any], analysis: str, backend: str) -> None:
    expected = answers("duckdb").get(analysis, ANALYSES[analysis])
    got = answers(backend).get(analysis, ANALYSES[analysis])
    assert expected, analysis  # something to compare
    found = differences(expected, got)
    assert not found, f"{analysis} on {backend}: " + "; ".join(found[:5])


def test_the_comparison_sees_a_difference() -> None:
    """The comparison itself: a count off by one, a rate off in the 8th digit, a missing row, a type change."""
    base = {"n": 3, "rate": 0.123456789, "rows": [{"a": 1}], "data_version": 1}
    assert differences(base, {**base, "data_version": 0}) == []
    assert differences(base, {**base, "rate": 0.123456789 + 1e-12}) == []
    assert differences(base, {**base, "n": 4}) == [".n: 3, got 4"]
    assert differences(base, {**base, "rate": 0.1234568}) == [".rate: 0.123456789, got 0.1234568"]
    assert differences(base, {**base, "rows": []}) == [".rows: 1 items, got 0"]
    assert differences(base, {**base, "n": "3"}) == [".n: 3, got '3'"]
