"""Confidence intervals for proportions."""

from __future__ import annotations


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval (Wilson 1927), via statsmodels' `proportion_confint(method="wilson")`.

    Chosen over the Wald interval because it stays inside [0, 1] and keeps its coverage at 0 or n successes and in
    small cohorts, which activation tables have plenty of. None when there are no trials: no rate, no interval.
    """
    from statsmodels.stats.proportion import proportion_confint  # imported here: it pulls in scipy.stats

    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    low, high = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
    # At 0 or n successes the bound is exactly 0 or 1; floating point leaves 1e-17 crumbs that read as "not zero".
    low = 0.0 if successes == 0 else max(0.0, float(low))
    high = 1.0 if successes == trials else min(1.0, float(high))
    return low, high
