"""Validation and retention results as Rich tables (formatting only)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text

from aha.analyses.retention import RetentionResult
from aha.analyses.validation import Comparison, ValidationResult
from aha.results import Rate
from aha.surfaces.cli.render import column, duration

CURVE_DAYS = (1, 7, 14, 30, 60, 90)
CURVE_WEEKS = (1, 2, 4, 8, 12)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" ({low:.1%}–{high:.1%})"


def lift(cmp: Comparison) -> str:
    """The relative risk with its Katz interval; a zero cell as what it means (docs/results.md `lift_code`): ∞ when
    nobody who missed the milestone had the outcome, 0 when nobody who reached it did, — when undefined."""
    if cmp.lift_code == "infinite":
        return "∞"
    if cmp.lift is None:
        return "—"
    interval = "" if cmp.lift_low is None or cmp.lift_high is None else f" ({cmp.lift_low:.2f}–{cmp.lift_high:.2f})"
    return f"{cmp.lift:.2f}{interval}"


def nobody(what: str, as_of: datetime, unit: str = "user") -> Text:
    """The line a command prints when it has nobody to count, instead of no output at all."""
    return Text(f"{what}: nobody to count as of {as_of:%Y-%m-%d %H:%M} UTC. No signed-up {unit} has been observed "
                "long enough yet (an open window is never counted as a failure); try a later --as-of, or import "
                "more events.")


def validation(r: ValidationResult) -> list[Table]:
    tables = []
    for g in r.groups:
        for outcome in dict.fromkeys(row.outcome for row in g.rows):
            definition = next((o for o in r.outcomes if o.startswith(outcome)), outcome)
            title = f"Milestones vs {definition}" + (f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
            t = Table(title=title, title_justify="left", caption_justify="left",
                      caption=f"{r.unit}s whose milestone and outcome windows have both closed; a/b/c/d = "
                              "reached∧outcome, reached∧¬outcome, ¬reached∧outcome, ¬reached∧¬outcome")
            for col in ("milestone", f"{r.unit}s", "a / b / c / d", "rate if reached", "rate if not",
                        "difference (95% CI)", "lift (95% CI)", "p", "behaviour\nratio", "median\ntime", "verdict"):
                column(t, col, numeric=col not in ("milestone", "verdict"))
            notes = []
            for row in (x for x in g.rows if x.outcome == outcome):
                cmp = row.comparison
                diff = "—" if cmp.difference is None else f"{100 * cmp.difference:+.1f} pts" + (
                    "" if cmp.difference_low is None or cmp.difference_high is None else
                    f" ({100 * cmp.difference_low:+.1f} to {100 * cmp.difference_high:+.1f})")
                t.add_row(row.name, f"{row.population:,}", f"{row.a:,} / {row.b:,} / {row.c:,} / {row.d:,}",
                          _pct(cmp.rate_reached) + _ci(cmp.rate_reached_low, cmp.rate_reached_high),
                          _pct(cmp.rate_not_reached) + _ci(cmp.rate_not_reached_low, cmp.rate_not_reached_high),
                          diff, lift(cmp), "—" if cmp.p_value is None else f"{cmp.p_value:.2g}",
                          "—" if cmp.behaviour_ratio is None else f"{cmp.behaviour_ratio:.2f}",
                          duration(row.median_seconds_to_milestone), row.verdict)
                if row.leakage:
                    notes.append(f"{row.name}: {row.leakage}")
            if notes:
                t.caption = str(t.caption) + "\nleakage: " + "; ".join(notes)
            tables.append(t)
    return _noted(tables, r.notes)


def _noted(tables: list[Table], notes: tuple[str, ...]) -> list[Table]:
    """The result's notes (what it left out and why) under its last table."""
    if tables and notes:
        last = tables[-1]
        last.caption = "\n".join([*([str(last.caption)] if last.caption else []), *(f"note: {n}" for n in notes)])
    return tables


def _of(rate: Rate | None) -> str:
    """A curve point as "25.0% of 4": a share of 1 user and one of 1,000 read alike without their denominator."""
    return "—" if rate is None or rate.value is None else f"{rate.value:.1%} of {rate.denominator:,}"


def retention(r: RetentionResult) -> list[Table]:
    """Curve columns (days, or weeks), then the definitions' retention rule reached vs not, with users and the gap."""
    rule_day = {r.rule_day} if r.rule_day <= r.days else set()  # the rule's day is a column when the curve has it
    periods = CURVE_WEEKS if r.bucket == "week" else tuple(sorted({*CURVE_DAYS, *rule_day}))
    unit = "week" if r.bucket == "week" else "day"
    tables = []
    for g in r.groups:
        title = f"Retention by {unit} since signup, reached vs not" + (
            f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
        t = Table(title=title, title_justify="left",
                  caption=f"{unit} columns: share active in that {unit} of the users observed through it (reached / "
                          f"not reached; intervals in --json); rule: {r.rule}, among users whose bracket has closed "
                          "(as `aha evaluate`), with users counted and the gap's 95% interval")
        t.add_column("milestone")
        for period in periods:
            t.add_column(f"{unit} {period}", justify="right")
        t.add_column(f"retained (rule, day {r.rule_day})", justify="right")
        t.add_column("gap (95% CI)", justify="right")
        for m in g.milestones:
            cells = []
            for period in periods:
                hit = next((p.rate for p in m.reached if p.period == period), None)
                miss = next((p.rate for p in m.not_reached if p.period == period), None)
                cells.append(f"{_of(hit)} / {_of(miss)}")
            rule = (f"{_pct(m.rule_reached.value)} of {m.rule_reached.denominator:,} / "
                    f"{_pct(m.rule_not_reached.value)} of {m.rule_not_reached.denominator:,}")
            gap = "—" if m.gap_points is None else f"{m.gap_points:+.1f} pts" + (
                "" if m.gap_low is None or m.gap_high is None else f" ({m.gap_low:+.1f} to {m.gap_high:+.1f})")
            t.add_row(m.name, *cells, rule, gap)
        tables.append(t)
    return _noted(tables, r.notes)
