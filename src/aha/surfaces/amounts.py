"""Progress amounts as a reader writes them, on every surface: `12,345 events`, `1 event`, `1,234.5 rows (sum)`.

Python's `g` format turns five digits into an exponent (`f"{12345:,.4g}"` is `1.234e+04`): a checklist toward a
`count: 10000` milestone read "1.234e+04 of 1e+04 events" in `aha state` and on the dashboard's user page.
"""

from __future__ import annotations

COUNTED = ("events", "milestones")  # measures that are a plural noun counted one by one


def amount(value: float) -> str:
    """A whole number with thousands separators, else at most two decimals (`0.5`, `1,234.57`); no exponent."""
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def measured(value: float, measure: str) -> str:
    """`1 event`, `2 events`, `3 distinct plan`: the count with its measure, singular for exactly one."""
    noun = measure[:-1] if measure in COUNTED and value == 1 else measure
    return f"{amount(value)} {noun}"


def counted(n: int, noun: str) -> str:
    """`1 signup`, `2 signups`, `1,000 rows`: a count with its noun, singular for exactly one ("1 duplicates
    skipped", "1 signups left out" before)."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
