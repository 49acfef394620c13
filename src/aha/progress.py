"""What a long command is doing, for whoever shows it (the command line's progress line, surfaces/cli/progress.py).

aha's long steps name themselves here (`stage`: "building the milestone state", with its statements counted where
they are known), and the DuckDB connections aha makes are tracked while a display is on (`watch`), so that the
share DuckDB reports of the statement it is running (its `query_progress`) can be shown beside the stage. Nothing
here prints; with no display on, a stage costs a lock and a list append, and DuckDB tracks no progress.

Why not DuckDB's own progress bar: it prints to stdout, into `--json` and `--csv` output, and knows one statement at a
time (a report is dozens of them).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_stages: list[_Stage] = []
_connections: weakref.WeakSet[Any] = weakref.WeakSet()
_watching = False


@dataclass
class _Stage:
    label: str
    total: int | None
    done: int = 0
    began: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """The innermost stage (labels joined outermost first), its steps, DuckDB's share of the running statement."""

    label: str
    labels: tuple[str, ...]
    done: int
    total: int | None
    statement_percent: float | None
    seconds: float


def watch() -> None:
    """Track DuckDB's progress on every connection made from now on."""
    global _watching
    _watching = True


def unwatch() -> None:
    global _watching
    _watching = False


def track(con: Any) -> None:
    """Called for each DuckDB connection aha configures: while watched, DuckDB keeps its statements' progress (its
    printing off) and the connection is asked for it."""
    if not _watching:
        return
    with contextlib.suppress(Exception):  # a DuckDB without these settings: stages only
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        con.execute("SET progress_bar_time = 0")
        _connections.add(con)


@contextlib.contextmanager
def stage(label: str, total: int | None = None) -> Iterator[None]:
    """A named step of the command; `total`: the steps it counts with `advance`."""
    entry = _Stage(label, total, began=time.monotonic())
    with _lock:
        _stages.append(entry)
    try:
        yield
    finally:
        with _lock:
            if entry in _stages:
                _stages.remove(entry)


def advance(steps: int = 1) -> None:
    """The innermost counted stage moved on by `steps`."""
    with _lock:
        for entry in reversed(_stages):
            if entry.total is not None:
                entry.done = min(entry.done + steps, entry.total)
                return


def active() -> bool:
    with _lock:
        return bool(_stages)


def snapshot() -> Snapshot | None:
    """What runs now, or None between stages."""
    with _lock:
        if not _stages:
            return None
        labels = [s.label for s in _stages]
        counted = next((s for s in reversed(_stages) if s.total is not None), None)
        began = _stages[0].began
        connections = list(_connections) if _watching else []
    percent = None
    for con in connections:
        with contextlib.suppress(Exception):  # closed meanwhile
            share = float(con.query_progress())
            if 0 < share < 100:  # -1: none yet; an idle connection keeps its last statement's 0 or 100
                percent = share if percent is None else max(percent, share)
    named = tuple(dict.fromkeys(name for name in labels if name))  # a label twice (nested builds): once
    return Snapshot(" · ".join(named), named, counted.done if counted else 0, counted.total if counted else None,
                    percent, time.monotonic() - began)
