"""Validation and retention results as Rich tables (formatting only)."""

from __future__ import annotations

from rich.table import Table

from aha.analyses.retention import RetentionResult
from aha.analyses.validation import ValidationResult
from aha.surfaces.cli.render import column, duration

CURVE_DAYS = (1, 7, 14, 30, 60, 90)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" ({low:.1%}–{high:.1%})"


def validation(r: ValidationResult) -> list[Table]:
    tables = []
    for g in r.groups:
        for outcome in dict.fromkeys(row.outcome for row in g.rows):
            definition = next((o for o in r.outcomes if o.startswith(outcome)), outcome)
            title = f"Milestones vs {definition}" + (f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
            t = Table(title=title, title_justify="left", caption_justify="left",
                      caption="users whose milestone and outcome windows have both closed; a/b/c/d = reached∧outcome, "
                              "reached∧¬outcome, ¬reached∧outcome, ¬reached∧¬outcome")
            for col in ("milestone", "users", "a / b / c / d", "rate if reached", "rate if not", "difference",
                        "p", "behaviour\nratio", "median\ntime", "verdict"):
                column(t, col, numeric=col not in ("milestone", "verdict"))
            notes = []
            for row in (x for x in g.rows if x.outcome == outcome):
                cmp = row.comparison
                diff = "—" if cmp.difference is None else f"{100 * cmp.difference:+.1f} pts"
                t.add_row(row.name, f"{row.population:,}", f"{row.a:,} / {row.b:,} / {row.c:,} / {row.d:,}",
                          _pct(cmp.rate_reached) + _ci(cmp.rate_reached_low, cmp.rate_reached_high),
                          _pct(cmp.rate_not_reached) + _ci(cmp.rate_not_reached_low, cmp.rate_not_reached_high),
                          diff, "—" if cmp.p_value is None else f"{cmp.p_value:.2g}",
                          "—" if cmp.behaviour_ratio is None else f"{cmp.behaviour_ratio:.2f}",
                          duration(row.median_seconds_to_milestone), row.verdict)
                if row.leakage:
                    notes.append(f"{row.name}: {row.leakage}")
            if notes:
                t.caption = str(t.caption) + "\nleakage: " + "; ".join(notes)
            tables.append(t)
    return tables


def retention(r: RetentionResult) -> list[Table]:
    tables = []
    for g in r.groups:
        title = "Retention by day since signup, reached vs not" + (
            f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
        t = Table(title=title, title_justify="left",
                  caption="share active on that day among users observed through it (reached / not reached)")
        t.add_column("milestone")
        for day in CURVE_DAYS:
            t.add_column(f"day {day}", justify="right")
        t.add_column("gap at day 30", justify="right")
        for m in g.milestones:
            cells = []
            for day in CURVE_DAYS:
                hit = next((p.rate.value for p in m.reached if p.day == day), None)
                miss = next((p.rate.value for p in m.not_reached if p.day == day), None)
                cells.append(f"{_pct(hit)} / {_pct(miss)}")
            gap = "—" if m.gap_points_day_30 is None else f"{m.gap_points_day_30:+.1f} pts"
            t.add_row(m.name, *cells, gap)
        tables.append(t)
    return tables
