"""The command line's progress for long analyses (issue 17.3: a report or discovery over 100M events takes minutes).

What runs is named by aha's stages and DuckDB's share of the statement running (aha.progress), e.g.
`the report · building the milestone state · statement 12 of 38 · 45% of it`. On a terminal it is the text beside
output.working's spinner (erased when done). Not on a terminal (a log, CI): a line on stderr every
AHA_PROGRESS_SECONDS (default 10) while a stage lasts longer than that, so a short command prints nothing.
AHA_PROGRESS=off turns both off. stdout (`--json`, `--csv`, the tables) is never written to.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aha import progress

SWITCH = "AHA_PROGRESS"
EVERY = "AHA_PROGRESS_SECONDS"
QUIET_COMMANDS = {"serve", "dashboard", "import", "sample"}  # long-running servers; bars of their own


def describe(now: progress.Snapshot | None, elapsed: bool = True) -> str:
    """One line for `now` ("" between stages); `elapsed`: with the minutes and seconds since the command's first
    stage began (without: beside a spinner, which shows those and names the command's own outermost stage)."""
    if now is None:
        return ""
    parts = [" · ".join(now.labels if elapsed else now.labels[1:])]  # a spinner names the command's own stage
    parts = [part for part in parts if part]
    if now.total:
        parts.append(f"statement {min(now.done + 1, now.total)} of {now.total}")
    if now.statement_percent is not None:
        parts.append(f"{int(now.statement_percent)}% of it" if now.total else f"{int(now.statement_percent)}%")
    if elapsed:
        minutes, seconds = divmod(int(now.seconds), 60)
        parts.append(f"{minutes}:{seconds:02d}")
    return " · ".join(parts)


def enabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() not in {"off", "0", "no", "false"}


def _every() -> float:
    try:
        return max(float(os.environ.get(EVERY, "") or 10.0), 0.05)
    except ValueError:
        return 10.0


def _lines(every: float, stop: threading.Event) -> None:
    """Not on a terminal: a line each `every` seconds of a stage (none for a stage shorter than that)."""
    last = 0.0
    while not stop.wait(min(every, 1.0)):
        now = progress.snapshot()
        if now is None:
            last = 0.0
        elif now.seconds >= every and now.seconds - last >= every:
            last = now.seconds
            sys.stderr.write("aha: " + describe(now) + "\n")
            sys.stderr.flush()


@contextmanager
def shown(argv: list[str]) -> Iterator[None]:
    """Progress of the command `argv` on stderr while it runs (nothing for the servers and the commands with bars)."""
    if not enabled() or (argv and argv[0] in QUIET_COMMANDS):
        yield
        return
    progress.watch()
    stop = threading.Event()
    thread = None
    if not sys.stderr.isatty():
        thread = threading.Thread(target=_lines, args=(_every(), stop), name="aha-progress", daemon=True)
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=2)
        progress.unwatch()
