"""Dose–response over a per-user count: thresholds, bands, Youden's J and the step ("magic number").

Pure functions on a histogram {count: (users, outcome users)}, count 0 included; nothing here sees an event.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from aha.stats.contingency import p_value

Histogram = Mapping[int, tuple[int, int]]  # count → (users with exactly that count, of whom had the outcome)


def thresholds(upper: float) -> list[int]:
    """1, 2, 3, 5, 10, 20, 50, 100, 200, 500, … up to `upper` (SEMANTICS.md's 1-2-5 steps, with 3 added)."""
    out = [1, 2, 3]
    scale = 1
    while True:
        for step in (5, 10, 20):
            value = step * scale
            if value > upper:
                return [t for t in out if t <= max(upper, 1)]
            if value not in out:
                out.append(value)
        scale *= 10


def percentile_count(histogram: Histogram, q: float = 0.99) -> int:
    """The q-quantile of the count among users with a count ≥ 1 (lower value at a split, as counts are integers)."""
    positive = sorted((k, users) for k, (users, _) in histogram.items() if k >= 1)
    total = sum(u for _, u in positive)
    if total == 0:
        return 0
    seen = 0
    for k, users in positive:
        seen += users
        if seen >= q * total:
            return k
    return positive[-1][0]


def cells(histogram: Histogram, k: int) -> tuple[int, int, int, int]:
    """(a, b, c, d) for "count ≥ k" against the outcome."""
    reached = sum(u for n, (u, _) in histogram.items() if n >= k)
    a = sum(w for n, (_, w) in histogram.items() if n >= k)
    total_users = sum(u for u, _ in histogram.values())
    total_wins = sum(w for _, w in histogram.values())
    return a, reached - a, total_wins - a, total_users - reached - (total_wins - a)


def youden(histogram: Histogram, k: int) -> float | None:
    """Youden's J = recall − false-positive rate of "count ≥ k" (Youden 1950)."""
    a, b, c, d = cells(histogram, k)
    if a + c == 0 or b + d == 0:
        return None
    return a / (a + c) - b / (b + d)


@dataclass(frozen=True, slots=True)
class Band:
    lower: int
    upper: int | None  # exclusive; None for the last, open-ended band
    users: int
    outcome_users: int

    @property
    def rate(self) -> float | None:
        return self.outcome_users / self.users if self.users else None


def bands(histogram: Histogram, steps: list[int]) -> list[Band]:
    """Bands [0, t1), [t1, t2), …, [t_last, ∞) over the thresholds."""
    edges = [0, *steps]
    out = []
    for i, lower in enumerate(edges):
        upper = edges[i + 1] if i + 1 < len(edges) else None
        inside = [(u, w) for n, (u, w) in histogram.items() if n >= lower and (upper is None or n < upper)]
        out.append(Band(lower, upper, sum(u for u, _ in inside), sum(w for _, w in inside)))
    return out


@dataclass(frozen=True, slots=True)
class Step:
    threshold: int
    rise: float  # outcome rate of the band starting at `threshold` minus the band just below
    p_value: float | None


def largest_step(band_list: list[Band], min_users: int, alpha: float = 0.05) -> Step | None:
    """The threshold k with the largest significant rise in outcome rate from the band below k to the band at k.

    Both bands need `min_users`; the rise is tested on their 2×2 table (Fisher or χ², as in validation) at a
    Bonferroni level across the band edges tested, since the largest of several rises is picked. Unlike Youden's J,
    which favours low thresholds that cover many users, this finds where more of the action starts to matter
    (SEMANTICS.md: a planted step at 3 must come out as 3).
    """
    pairs = [(below, at) for below, at in itertools.pairwise(band_list)
             if below.users >= min_users and at.users >= min_users]
    best: Step | None = None
    for below, at in pairs:
        if at.rate is None or below.rate is None:
            continue
        rise = at.rate - below.rate
        p, _ = p_value(at.outcome_users, at.users - at.outcome_users, below.outcome_users,
                       below.users - below.outcome_users)
        if p is None or p >= alpha / len(pairs) or rise <= 0:
            continue
        if best is None or rise > best.rise:
            best = Step(at.lower, rise, p)
    return best


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
