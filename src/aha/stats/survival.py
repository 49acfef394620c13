"""Kaplan–Meier time to milestone, so users still inside their window are censored rather than dropped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aha.stats.intervals import z_two_sided


@dataclass(frozen=True, slots=True)
class KaplanMeier:
    median: float | None  # None when fewer than half reach it within the observed time
    median_low: float | None
    median_high: float | None
    reached_by_end: float | None  # 1 − S(t_max): the estimated share reaching it by the longest observed time
    n: int
    events: int
    curve: tuple[tuple[float, float], ...] = ()  # (t, 1 − S(t)) at CURVE_POINTS + 1 evenly spaced times to t_max


CURVE_POINTS = 120


def kaplan_meier(durations: Sequence[float], reached: Sequence[bool], weights: Sequence[int]) -> KaplanMeier:
    """Product-limit estimate (Kaplan & Meier 1958) from grouped rows, as statsmodels' `SurvfuncRight` computes it.

    Input rows are (duration, reached, how many entities), so the engine returns a few aggregated rows rather than
    one per user. The median's 95% interval inverts z-tests on the log(−log S) scale (Brookmeyer & Crowley 1982, as
    SAS does), with the standard error statsmodels uses for frequency-weighted rows (Tsiatis 1981: √Σ d/n²). Written
    in numpy because importing statsmodels costs a second of every report; tests/stats/test_stats.py checks it
    against `SurvfuncRight` on random grouped rows.
    """
    w = np.asarray(weights, dtype=float)
    status = np.asarray(reached, dtype=bool)
    n, events = int(w.sum()), int(w[status].sum())
    if n == 0:
        return KaplanMeier(None, None, None, None, 0, 0)
    if events == 0:
        top = float(np.max(durations)) if len(durations) else 0.0
        return KaplanMeier(None, None, None, 0.0, n, 0, ((0.0, 0.0), (top, 0.0)))
    observed = np.asarray(durations, dtype=float)
    times, rank = np.unique(observed, return_inverse=True)
    died = np.bincount(rank, weights=status * w, minlength=len(times))
    at_risk = np.cumsum(np.bincount(rank, weights=w, minlength=len(times))[::-1])[::-1]
    keep = died > 0  # the estimate moves only at event times
    times, died, at_risk = times[keep], died[keep], at_risk[keep]
    step = 1 - died / at_risk
    gone = step < 1e-16
    surv = np.exp(np.cumsum(np.log(np.where(gone, 1e-16, step))))
    surv[gone] = 0.0
    se = np.sqrt(np.cumsum(died / (at_risk * at_risk)))
    below = np.flatnonzero(surv < 0.5)  # SAS and statsmodels: the first time S drops strictly below one half
    median = float(times[below[0]]) if len(below) else None
    with np.errstate(divide="ignore", invalid="ignore"):  # log(-log S) at S = 1 or 0: the bound is open there
        z = (np.log(-np.log(surv)) - np.log(-np.log(0.5))) / (-1 / (surv * np.log(surv)) * se)
        inside = np.flatnonzero(np.abs(z) <= z_two_sided(0.95))
    low = high = None
    if len(inside):
        low = float(times[inside[0]])
        high = None if inside[-1] == len(times) - 1 else float(times[inside[-1] + 1])  # open: no upper bound
    return KaplanMeier(median=median, median_low=low, median_high=high,
                       reached_by_end=1.0 - float(surv[-1]), n=n, events=events,
                       curve=step_curve(times, surv, float(observed.max())))


def step_curve(times: np.ndarray, survival: np.ndarray, end: float) -> tuple[tuple[float, float], ...]:
    """1 − S(t) read off the product-limit step function at evenly spaced times from 0 to `end` (exact values of
    the estimate at those times, not an interpolation), so a chart needs ~120 points whatever the population."""
    grid = np.linspace(0.0, end, CURVE_POINTS + 1) if end > 0 else np.array([0.0])
    index = np.searchsorted(times, grid, side="right") - 1  # the last event time at or before t
    s = np.where(index >= 0, survival[np.clip(index, 0, None)], 1.0)
    return tuple((float(t), float(1.0 - v)) for t, v in zip(grid, s, strict=True))
