"""Reached vs not, against an outcome: the 2×2 table behind every milestone validation (SEMANTICS.md, "Validating").

Cells: a = reached ∧ outcome, b = reached ∧ ¬outcome, c = ¬reached ∧ outcome, d = ¬reached ∧ ¬outcome.
Every undefined quantity is None with a code saying why; nothing here returns NaN or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aha.stats.intervals import wilson

LiftCode = Literal["ok", "infinite", "zero", "undefined"]
Test = Literal["fisher", "chi2", "none"]


@dataclass(frozen=True, slots=True)
class Comparison:
    rate_reached: float | None
    rate_reached_low: float | None
    rate_reached_high: float | None
    rate_not_reached: float | None
    rate_not_reached_low: float | None
    rate_not_reached_high: float | None
    lift: float | None  # relative risk a/(a+b) ÷ c/(c+d)
    lift_low: float | None
    lift_high: float | None
    lift_code: LiftCode  # "infinite": nobody who missed it had the outcome; "zero": nobody who reached it did
    difference: float | None  # rate_reached − rate_not_reached, as a proportion
    difference_low: float | None
    difference_high: float | None
    p_value: float | None
    test: Test
    behaviour_ratio: float | None  # P(reached | outcome) ÷ P(reached | ¬outcome)


def _lift_code(a: int, b: int, c: int, d: int) -> LiftCode:
    if a + b == 0 or c + d == 0 or (a == 0 and c == 0):
        return "undefined"
    if c == 0:
        return "infinite"
    return "zero" if a == 0 else "ok"


def _katz_bounded(b: int, d: int) -> bool:
    """Katz's log-scale variance 1/a − 1/(a+b) + 1/c − 1/(c+d) is 0 when both arms all had the outcome (b = d = 0):
    an "interval" 1.00–1.00 on 2 and 3 users, a certainty the data do not give. The lift (1) stands, unbounded."""
    return b > 0 or d > 0


def relative_risk(a: int, b: int, c: int, d: int, level: float = 0.95) -> tuple[float | None, float | None,
                                                                               float | None, LiftCode]:
    """Relative risk with the Katz log interval (Katz et al. 1978), via statsmodels' `Table2x2.riskratio_confint`.

    statsmodels adds 0.5 to every cell when one is zero; a shifted ratio would be a number nobody observed, so zero
    cells are reported by code instead ("infinite", "zero", "undefined") and get no interval.
    """
    code = _lift_code(a, b, c, d)
    if code != "ok":
        return (0.0 if code == "zero" else None), None, None, code
    if not _katz_bounded(b, d):
        return 1.0, None, None, code
    import numpy as np
    from statsmodels.stats.contingency_tables import Table2x2

    table = Table2x2(np.array([[a, b], [c, d]]), shift_zeros=False)
    low, high = table.riskratio_confint(alpha=1 - level)
    return float(table.riskratio), float(low), float(high), "ok"


def difference(a: int, b: int, c: int, d: int, level: float = 0.95) -> tuple[float | None, float | None,
                                                                            float | None]:
    """Difference of proportions with Newcombe's hybrid score interval (Newcombe 1998, method 10), via statsmodels'
    `confint_proportions_2indep(method="newcomb")`; it stays valid at zero cells, unlike the Wald interval."""
    if a + b == 0 or c + d == 0:
        return None, None, None
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(a, a + b, c, c + d, method="newcomb", compare="diff", alpha=1 - level)
    return a / (a + b) - c / (c + d), float(low), float(high)


def p_value(a: int, b: int, c: int, d: int) -> tuple[float | None, Test]:
    """Two-sided p: Fisher's exact test when any expected cell is below 5, else Pearson's chi-square without Yates'
    correction (SciPy's `chi2_contingency` applies Yates to 2×2 tables unless `correction=False`)."""
    n = a + b + c + d
    rows, cols = (a + b, c + d), (a + c, b + d)
    if n == 0 or 0 in rows or 0 in cols:
        return None, "none"
    from scipy.stats import chi2_contingency, fisher_exact

    expected = [r * k / n for r in rows for k in cols]
    if min(expected) < 5:
        return float(fisher_exact([[a, b], [c, d]]).pvalue), "fisher"
    return float(chi2_contingency([[a, b], [c, d]], correction=False).pvalue), "chi2"


def behaviour_ratio(a: int, b: int, c: int, d: int) -> float | None:
    """How much more often users with the outcome did it: P(reached | outcome) ÷ P(reached | ¬outcome)."""
    if a + c == 0 or b + d == 0 or b == 0:
        return None
    return (a / (a + c)) / (b / (b + d))


def compare(a: int, b: int, c: int, d: int) -> Comparison:
    reached, missed = wilson(a, a + b), wilson(c, c + d)
    lift, lift_low, lift_high, code = relative_risk(a, b, c, d)
    diff, diff_low, diff_high = difference(a, b, c, d)
    p, test = p_value(a, b, c, d)
    return Comparison(
        rate_reached=a / (a + b) if a + b else None,
        rate_reached_low=reached[0] if reached else None, rate_reached_high=reached[1] if reached else None,
        rate_not_reached=c / (c + d) if c + d else None,
        rate_not_reached_low=missed[0] if missed else None, rate_not_reached_high=missed[1] if missed else None,
        lift=lift, lift_low=lift_low, lift_high=lift_high, lift_code=code,
        difference=diff, difference_low=diff_low, difference_high=diff_high,
        p_value=p, test=test, behaviour_ratio=behaviour_ratio(a, b, c, d),
    )


def difference_change_p(first: Comparison, latest: Comparison, level: float = 0.95) -> float | None:
    """Two-sided p-value that two independent differences (each a Comparison's rate if reached − rate if not) are
    equal: z = (d₁ − d₂) / √(se₁² + se₂²), each standard error read off its Newcombe interval (width / 2z), which
    stays above 0 when a cell is 0 (a Wald variance would not). None when either difference is undefined."""
    parts = (first.difference, first.difference_low, first.difference_high,
             latest.difference, latest.difference_low, latest.difference_high)
    if any(v is None for v in parts):
        return None
    d1, lo1, hi1, d2, lo2, hi2 = (float(v) for v in parts if v is not None)
    z = _z(level)
    se = math.hypot((hi1 - lo1) / (2 * z), (hi2 - lo2) / (2 * z))
    if se == 0:
        return None
    return math.erfc(abs(d1 - d2) / se / math.sqrt(2))


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """q-values controlling the false discovery rate across candidates (Benjamini & Hochberg 1995), via statsmodels'
    `multipletests(method="fdr_bh")`; None p-values (untestable candidates) stay None and are not counted."""
    present = [(i, p) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    from statsmodels.stats.multitest import multipletests

    q = multipletests([p for _, p in present], method="fdr_bh")[1]
    for (i, _), value in zip(present, q, strict=True):
        out[i] = float(value)
    return out


def compare_many(tables: Sequence[tuple[int, int, int, int]]) -> list[Comparison]:
    """`compare` for many 2×2 tables at once, through statsmodels' vectorised calls (discovery tests hundreds of
    candidates; one call per table spent seconds in overhead). Same methods, same numbers:
    Wilson (`proportion_confint`), Katz (`confint_proportions_2indep(method="log", compare="ratio")`), Newcombe
    (`method="newcomb"`), and Pearson's χ² without Yates as the equivalent score test
    (`test_proportions_2indep(method="score", correction=False)`: z² = χ²); Fisher per table where an expected
    cell is below 5, as in `p_value`.
    """
    if not tables:
        return []
    import numpy as np
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        proportion_confint,
        test_proportions_2indep,
    )

    cells = np.asarray(tables, dtype=float)
    a, b, c, d = cells.T
    n1, n2 = a + b, c + d
    ok1, ok2 = n1 > 0, n2 > 0
    both = ok1 & ok2
    safe1, safe2 = np.where(ok1, n1, 1), np.where(ok2, n2, 1)
    low1, high1 = proportion_confint(a, safe1, method="wilson")
    low2, high2 = proportion_confint(c, safe2, method="wilson")
    with np.errstate(divide="ignore", invalid="ignore"):
        rr_low, rr_high = confint_proportions_2indep(a, safe1, c, safe2, method="log", compare="ratio")
        d_low, d_high = confint_proportions_2indep(a, safe1, c, safe2, method="newcomb", compare="diff")
        score = test_proportions_2indep(a, safe1, c, safe2, method="score", compare="diff", correction=False)
    out = []
    for i, (ai, bi, ci, di) in enumerate(tables):
        p: float | None = None
        test: Test = "none"
        if both[i]:
            rows, cols, n = (ai + bi, ci + di), (ai + ci, bi + di), ai + bi + ci + di
            if 0 not in cols:
                expected = min(r * k / n for r in rows for k in cols)
                p, test = p_value(ai, bi, ci, di) if expected < 5 else (float(score.pvalue[i]), "chi2")
        code = _lift_code(ai, bi, ci, di)
        has_ci = code == "ok" and _katz_bounded(bi, di)
        lift = (ai / (ai + bi)) / (ci / (ci + di)) if code == "ok" else (0.0 if code == "zero" else None)
        out.append(Comparison(
            rate_reached=ai / (ai + bi) if ai + bi else None,
            rate_reached_low=(0.0 if ai == 0 else float(low1[i])) if ok1[i] else None,
            rate_reached_high=(1.0 if ai == ai + bi else float(high1[i])) if ok1[i] else None,
            rate_not_reached=ci / (ci + di) if ci + di else None,
            rate_not_reached_low=(0.0 if ci == 0 else float(low2[i])) if ok2[i] else None,
            rate_not_reached_high=(1.0 if ci == ci + di else float(high2[i])) if ok2[i] else None,
            lift=lift, lift_low=float(rr_low[i]) if has_ci else None, lift_high=float(rr_high[i]) if has_ci else None,
            lift_code=code,
            difference=(ai / (ai + bi) - ci / (ci + di)) if both[i] else None,
            difference_low=float(d_low[i]) if both[i] else None,
            difference_high=float(d_high[i]) if both[i] else None,
            p_value=p, test=test, behaviour_ratio=behaviour_ratio(ai, bi, ci, di),
        ))
    return out
