"""Kaplan–Meier time to milestone, so users still inside their window are censored rather than dropped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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
    """Product-limit estimate (Kaplan & Meier 1958) from grouped rows, via statsmodels' `SurvfuncRight`.

    Input rows are (duration, reached, how many entities), so the engine returns a few aggregated rows rather than
    one per user. The median's 95% interval is statsmodels' (Brookmeyer & Crowley 1982, log-log transform).
    """
    from statsmodels.duration.survfunc import (
        SurvfuncRight,  # imported here: a second of startup for commands without it
    )

    w = np.asarray(weights, dtype=float)
    n, events = int(w.sum()), int(w[np.asarray(reached, dtype=bool)].sum())
    if n == 0:
        return KaplanMeier(None, None, None, None, 0, 0)
    if events == 0:
        top = float(np.max(durations)) if len(durations) else 0.0
        return KaplanMeier(None, None, None, 0.0, n, 0, ((0.0, 0.0), (top, 0.0)))
    sf = SurvfuncRight(np.asarray(durations, dtype=float), np.asarray(reached, dtype=float), freq_weights=w)
    median = sf.quantile(0.5)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(-log S) at S = 1 or 0: the bound is open there
        low, high = sf.quantile_ci(0.5)
    reached_by_end = 1.0 - float(sf.surv_prob[-1])
    return KaplanMeier(
        median=_finite(median), median_low=_finite(low), median_high=_finite(high),
        reached_by_end=reached_by_end, n=n, events=events,
        curve=step_curve(np.asarray(sf.surv_times, dtype=float), np.asarray(sf.surv_prob, dtype=float),
                         float(np.max(np.asarray(durations, dtype=float)))),
    )


def step_curve(times: np.ndarray, survival: np.ndarray, end: float) -> tuple[tuple[float, float], ...]:
    """1 − S(t) read off the product-limit step function at evenly spaced times from 0 to `end` (exact values of
    the estimate at those times, not an interpolation), so a chart needs ~120 points whatever the population."""
    grid = np.linspace(0.0, end, CURVE_POINTS + 1) if end > 0 else np.array([0.0])
    index = np.searchsorted(times, grid, side="right") - 1  # the last event time at or before t
    s = np.where(index >= 0, survival[np.clip(index, 0, None)], 1.0)
    return tuple((float(t), float(1.0 - v)) for t, v in zip(grid, s, strict=True))


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
