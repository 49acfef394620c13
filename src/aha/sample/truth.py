"""When did each user really reach each milestone? Exact reach times recomputed from the emitted event arrays.

The generator plants effects from these same functions (so an effect follows what the events show, not what was
intended), and truth.parquet is computed with them after the last event is emitted, so tests can compare an analysis
with it to the second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aha.sample import catalog as c

NEVER = np.iinfo(np.int64).max
MINUTE = 60
HOUR = 3_600
DAY = 86_400


@dataclass(frozen=True, slots=True)
class EventArrays:
    """One chunk's events as parallel arrays: user index (-1 anonymous), event code, epoch seconds, property index."""

    user: np.ndarray
    code: np.ndarray
    ts: np.ndarray
    prop: np.ndarray


def first_in_window(ev: EventArrays, n: int, t0: np.ndarray, mask: np.ndarray, start: int, window: int) -> np.ndarray:
    """Earliest masked event per user with t0 + start <= ts < t0 + start + window; NEVER where there is none."""
    m = mask & (ev.user >= 0)
    u = ev.user[m]
    ts = ev.ts[m]
    rel = ts - t0[u]
    ok = (rel >= start) & (rel < start + window)
    out = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(out, u[ok], ts[ok])
    return out


def count_in_window(ev: EventArrays, n: int, t0: np.ndarray, mask: np.ndarray, window: int) -> np.ndarray:
    """Number of masked events per user with t0 <= ts < t0 + window."""
    m = mask & (ev.user >= 0)
    u = ev.user[m]
    rel = ev.ts[m] - t0[u]
    ok = (rel >= 0) & (rel < window)
    return np.bincount(u[ok], minlength=n)


def signup_times(ev: EventArrays, n: int) -> np.ndarray:
    """t0 = each user's first Signed Up; NEVER for users without one."""
    m = (ev.code == c.CODE[c.SIGNED_UP]) & (ev.user >= 0)
    out = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(out, ev.user[m], ev.ts[m])
    return out


@dataclass(frozen=True, slots=True)
class Reach:
    """Reach times (epoch seconds, NEVER if not reached) and outcomes per user, as the template defines them."""

    t0: np.ndarray
    workspace: np.ndarray
    data_connected: np.ndarray
    project: np.ndarray
    first_output: np.ndarray
    core_workflow: np.ndarray
    collaboration: np.ndarray
    converted: np.ndarray
    retained_d30: np.ndarray
    report_shared_14d: np.ndarray


def qualifying_integration(prop: np.ndarray) -> np.ndarray:
    base = c.PROPERTY_OFFSET["Integration Connected"]
    codes = [base + c.INTEGRATION_TYPES.index(t) for t in c.QUALIFYING_INTEGRATIONS]
    return np.isin(prop, codes)


def reach(ev: EventArrays, n: int) -> Reach:
    """Every truth column for one chunk. Users without Signed Up get NEVER / False / 0 throughout."""
    t0 = signup_times(ev, n)
    has = t0 != NEVER
    t0z = np.where(has, t0, 0)  # keeps the arithmetic in range; masked out below

    def first(name: str, window: int, extra: np.ndarray | None = None, start: int = 0) -> np.ndarray:
        mask = ev.code == c.CODE[name]
        if extra is not None:
            mask &= extra
        return np.where(has, first_in_window(ev, n, t0z, mask, start, window), NEVER)

    project = first("Project Created", 3 * DAY)
    output = first("Output Generated", 3 * DAY)
    both = (project != NEVER) & (output != NEVER)
    active = c.ACTIVE[ev.code]
    retained_at = np.where(has, first_in_window(ev, n, t0z, active, 30 * DAY, DAY), NEVER)
    return Reach(
        t0=t0,
        workspace=first("Workspace Created", 30 * MINUTE),
        data_connected=first("Integration Connected", 24 * HOUR, qualifying_integration(ev.prop)),
        project=project,
        first_output=output,
        core_workflow=np.where(both, np.maximum(project, output), NEVER),
        collaboration=first("Invite Accepted", 7 * DAY),
        converted=first(c.PAID, 30 * DAY) != NEVER,
        retained_d30=retained_at != NEVER,
        report_shared_14d=np.where(has, count_in_window(ev, n, t0z, ev.code == c.CODE["Report Shared"], 14 * DAY), 0),
    )
