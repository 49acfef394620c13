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
        return KaplanMeier(None, None, None, 0.0, n, 0)
    times, rank = np.unique(np.asarray(durations, dtype=float), return_inverse=True)
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
                       reached_by_end=1.0 - float(surv[-1]), n=n, events=events)
