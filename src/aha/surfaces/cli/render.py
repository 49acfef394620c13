"""Result objects as Rich tables. Formatting only: every number comes from a result object.

A breakdown (`--segment`) is one table with a row per segment, not one table per segment. Numbers never wrap inside
a cell (`no_wrap` on numeric columns); names and captions wrap to the console's width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rich.table import Table
from rich.text import Text

from aha.analyses.report_results import (
    ActivationResult,
    FunnelGroup,
    FunnelResult,
    HeadlineResult,
    OverviewResult,
    ReportResult,
    TimingResult,
)
from aha.results import Rate, duration_text
from aha.surfaces.amounts import counted
from aha.surfaces.cli.shown_console import Console

duration = duration_text
G = TypeVar("G")
TEXT_MIN_WIDTH = 10  # a name column wraps between words rather than shrinking to "Co…"
MAX_SIDE_BY_SIDE = 8  # segments shown as columns; the rest are counted in the caption and are in --json / --csv


def rate(r: Rate | None, with_ci: bool = True) -> str:
    if r is None or r.value is None:
        return "—"
    text = f"{r.value:.1%}"
    if with_ci and r.low is not None and r.high is not None:
        text += f" ({r.low:.1%}–{r.high:.1%})"
    return text


def table(title: str, caption: str | None = None, **kwargs: object) -> Table:
    """A left-aligned table whose caption reads as a note under it."""
    return Table(title=title, title_justify="left", caption=caption, caption_justify="left", **kwargs)  # type: ignore[arg-type]


def column(t: Table, name: str, numeric: bool = True) -> None:
    """Numbers right-aligned and never wrapped mid-number; text left-aligned, wrapping between words, never squeezed
    below TEXT_MIN_WIDTH. A header may break over lines (`\n`) so that it is no wider than its numbers."""
    if numeric:
        t.add_column(name, justify="right", no_wrap=True)
    else:
        t.add_column(name, justify="left", min_width=TEXT_MIN_WIDTH if name else None, overflow="fold")


def least_width(t: Table) -> int:
    """The narrowest `t` can be drawn with every number whole: a numeric (no_wrap) column as wide as its widest cell
    or header line, a text column as its longest word (or its min_width), plus padding and borders. (Rich's own
    measure lets a no_wrap cell break at its spaces.)"""
    from rich.cells import cell_len

    def lines(cell: object) -> list[str]:
        return (cell.plain if isinstance(cell, Text) else str(cell)).splitlines() or [""]

    total = 0
    for col in t.columns:
        cells = [str(col.header), *(line for cell in col.cells for line in lines(cell))]
        if col.no_wrap:
            width = max(cell_len(line) for cell in cells for line in lines(cell))
        else:
            width = max([col.min_width or 0, *(cell_len(w) for cell in cells for w in str(cell).split())])
        total += width + 2  # padding
    return total + len(t.columns) + 1  # borders


def show(console: Console, build: Callable[[bool], list[Table]]) -> None:
    """Print `build(False)` when it fits the console's width, else the compact `build(True)` (intervals and
    secondary columns left to --json / --csv). A table that still does not fit is printed just as wide as it must
    be, for the terminal to wrap its lines: Rich would otherwise squeeze columns to nothing and cut numbers short."""
    tables = build(False)
    if any(least_width(t) > console.width for t in tables):
        tables = build(True)
    print_tables(console, tables)


def print_tables(console: Console, tables: list[Table]) -> None:
    """Each table at the console's width, or just as wide as its numbers need when that is wider."""
    from aha.surfaces.cli.shown_console import Console as Wider

    for t in tables:
        if least_width(t) <= console.width:
            console.print(t)
        else:
            Wider(file=console.file, width=least_width(t), highlight=False, force_terminal=console.is_terminal,
                  color_system=console.color_system).print(t)


def headline(h: HeadlineResult, who: str = "users") -> Table:
    t = table("Headline", caption=f"95% Wilson intervals; each rate counts only {who} whose window has closed, so "
              "the two denominators differ")
    column(t, "", numeric=False)
    column(t, "rate (95% CI)")
    column(t, "of", numeric=False)
    t.add_row(f"signed-up {who}", f"{h.users:,}", "")
    t.add_row(f"activation: {h.primary_name} within {duration(h.activation_window_seconds)}", rate(h.activation),
              f"{h.activation.numerator:,} of {h.activation.denominator:,} whose window has closed")
    if h.conversion is not None:
        t.add_row(f"conversion: paid within {duration(h.conversion_horizon_seconds)}", rate(h.conversion),
                  f"{h.conversion.numerator:,} of {h.conversion.denominator:,} whose horizon has closed")
    return t


def overview(o: OverviewResult, who: str = "users") -> Table:
    t = Table(title="Overview", show_header=False, title_justify="left")
    column(t, "", numeric=False)
    column(t, "", numeric=False)
    t.add_row("as of", o.as_of.isoformat(sep=" ", timespec="seconds") + " UTC")
    t.add_row("events", f"{o.events:,}")
    t.add_row(f"signed-up {who}", f"{o.signed_up_users:,}")
    if who == "users":  # an account signs up with its earliest signed-up member: none is without
        t.add_row("users without a signup event", f"{o.users_without_signup:,} (in no cohort)")
    if o.accounts and who == "users":
        t.add_row("accounts", f"{o.accounts:,}")
    for target in o.targets:
        current = (rate(target.rate) if target.unit == "rate" else duration(target.current)) \
            if target.current is not None else "—"
        goal = f"{target.target:.0%}" if target.unit == "rate" else duration(target.target)
        mark = {True: ("met", "green"), False: ("not met", "red"), None: ("", "")}[target.met]
        t.add_row(f"target {target.name}", Text.assemble(f"{current} vs {goal} ", mark, "\n", (target.basis, "dim")))
    return t


def _funnel_meaning(f: FunnelResult, g: FunnelGroup, who: str = "users") -> str:
    """What the bottom of the funnel counts, in words, with each step's count in any order beside it."""
    if f.order == "unordered":
        return f"unordered: a step counts {who} who reached it and every step above it, in any order"
    differs = [s for s in g.steps[1:] if s.reached_any_order is not None and s.reached_any_order != s.entities]
    text = (f"ordered: a step counts only {who} who reached every step above it first, each within its own window "
            "from signup")
    if differs:
        signups = g.steps[0].entities
        text += "; reached in any order: " + ", ".join(
            f"{s.name} {s.reached_any_order:,} ({rate(Rate.of(s.reached_any_order or 0, signups), False)})"
            for s in differs)
    return text


def funnel(f: FunnelResult, compact: bool = False, who: str = "users") -> list[Table]:
    mode = ("everyone, open windows included (the drop-off says how many may still make the step)"
            if f.include_immature else f"{who} whose windows have closed")
    if f.segment_by:
        return [_funnel_by_segment(f, mode)]
    tables = []
    for g in f.groups:
        notes = [_funnel_meaning(f, g, who)]
        if g.immature:
            notes.append(f"{counted(g.immature, 'signup')} left out: a step window is still open (--include-immature)")
        if g.out_of_scope:
            notes.append(f"{g.out_of_scope:,} out of a step's scope")
        t = table(f"Funnel ({f.order}) — {mode}", caption="\n".join(notes))
        column(t, "step", numeric=False)
        for col in (who, "from\nprevious", "overall", "drop-off", *(["of which\nstill open"] if f.include_immature
                                                                        else []), "median time\nfrom previous"):
            column(t, col)
        for s in g.steps:
            row = [s.name, f"{s.entities:,}", rate(s.conversion_from_previous, not compact),
                   rate(s.conversion_overall, False),
                   "" if s.drop_off is None else f"{s.drop_off:,}"]
            if f.include_immature:
                row.append("" if s.drop_off is None else f"{s.in_progress:,}")
            row.append(duration(s.median_seconds_from_previous) if s.id != "signup" else "")
            t.add_row(*row)
        tables.append(t)
    return tables


def _largest(groups: Sequence[G], size: Callable[[G], int]) -> tuple[list[G], str]:
    """The MAX_SIDE_BY_SIDE largest groups (in their own order) and a note on the rest."""
    if len(groups) <= MAX_SIDE_BY_SIDE:
        return list(groups), ""
    keep = set(sorted(range(len(groups)), key=lambda i: -size(groups[i]))[:MAX_SIDE_BY_SIDE])
    return [g for i, g in enumerate(groups) if i in keep], (
        f"; the {MAX_SIDE_BY_SIDE} largest of {len(groups)} segments shown (all in --json / --csv)")


def _funnel_by_segment(f: FunnelResult, mode: str) -> Table:
    shown, more = _largest(f.groups, lambda g: g.steps[0].entities)
    t = table(f"Funnel ({f.order}) by {f.segment_by} — {mode}",
              caption="users at each step (share of the segment's signups); "
                      + _funnel_meaning(f, shown[0]).split(";")[0] + more)
    column(t, "step", numeric=False)
    for g in shown:
        column(t, g.segment)
    for i, step in enumerate(shown[0].steps):
        t.add_row(step.name, *(f"{g.steps[i].entities:,} ({rate(g.steps[i].conversion_overall, False)})"
                               for g in shown))
    return t


KM_NOTE = ("p25/median/p75/p90 among reachers; KM = Kaplan–Meier over everyone eligible, open windows censored; "
           "\"not by half\": fewer than half are estimated to reach it within its window, so there is no KM median")


def timing(r: TimingResult, compact: bool = False, who: str = "users") -> list[Table]:
    """Compact: the median and the Kaplan–Meier columns only (p25, p75 and p90 are in --json / --csv)."""
    if r.segment_by:
        return [_timing_by_segment(r)]
    tables = []
    quantiles = ("median",) if compact else ("p25", "median", "p75", "p90")
    for g in r.groups:
        marked = who == "users" and any(m.entity == "account" for m in g.milestones)
        t = table("Time to milestone", caption=KM_NOTE.replace("p25/median/p75/p90", "/".join(quantiles))
                  + f"; counted in {who}" + (", rows marked (account) in accounts" if marked else ""))
        column(t, "milestone", numeric=False)
        for col in ("window", "reached /\neligible", *quantiles, "KM\nmedian", "KM reach\nshare"):
            column(t, col)
        for m in g.milestones:
            km = duration(m.km_median_seconds) if m.km_median_seconds is not None else "not by half"
            times = {"p25": m.p25_seconds, "median": m.median_seconds, "p75": m.p75_seconds, "p90": m.p90_seconds}
            t.add_row(m.name + (" (account)" if m.entity == "account" and who == "users" else ""),
                      duration(m.window_seconds), f"{m.reached:,} / {m.eligible:,}",
                      *(duration(times[q]) for q in quantiles), km,
                      "—" if m.km_reached_share is None else f"{m.km_reached_share:.1%}")
        tables.append(t)
    return tables


def _timing_by_segment(r: TimingResult) -> Table:
    """Milestones down, segments across; a segment without a milestone (accounts have no user trait) shows —."""
    shown, more = _largest(r.groups, lambda g: max((m.eligible for m in g.milestones), default=0))
    t = table(f"Time to milestone by {r.segment_by}",
              caption="median among reachers · KM reach share (Kaplan–Meier, open windows censored)" + more)
    column(t, "milestone", numeric=False)
    column(t, "window")
    for g in shown:
        column(t, g.segment)
    by_group = [{m.milestone_id: m for m in g.milestones} for g in shown]
    milestones = {m.milestone_id: m for g in sorted(shown, key=lambda g: -len(g.milestones)) for m in g.milestones}
    for mid, m in milestones.items():
        cells = []
        for found in by_group:
            x = found.get(mid)
            share = "—" if x is None or x.km_reached_share is None else f"{x.km_reached_share:.0%}"
            cells.append("—" if x is None else f"{duration(x.median_seconds)} · {share}")
        t.add_row(m.name + (" (account)" if m.entity == "account" else ""), duration(m.window_seconds), *cells)
    return t


def _activation_caption(a: ActivationResult, compact: bool = False, who: str = "users") -> str:
    what = "rate (n where it is not the signups)" if compact else "rate (95% CI)"
    return (f"{what} of reaching {a.milestone_name} by day N, among {who} observed N days (n); — = nobody "
            "observed that long yet. Each day has its own denominator, so a later day can read lower than an earlier "
            "one: the younger cohorts that count at day 7 are not yet in day 14's n")


def _activation_cell(r: Rate | None, compact: bool, signups: int) -> str:
    """Compact: no interval, and n only where it differs from the cohort's signups (the column beside it)."""
    if r is None:
        return "—"
    return rate(r, not compact) + ("" if compact and r.denominator == signups else f" n={r.denominator:,}")


def activation(a: ActivationResult, max_cohorts: int = 12, compact: bool = False, who: str = "users"
               ) -> list[Table]:
    if a.segment_by:
        return [_activation_by_segment(a, compact)]
    tables = []
    for g in a.groups:
        t = table(f"Activation: {a.milestone_name}, by {a.period} of signup",
                  caption=_activation_caption(a, compact, who))
        column(t, "cohort", numeric=False)
        column(t, "signups")
        for n in a.days:
            column(t, f"day {n}")
        shown = g.cohorts[-max_cohorts:]
        for cohort in (*shown, g.total):
            label = "all cohorts" if cohort.cohort is None else cohort.cohort.isoformat()
            if cohort.clipped:  # docs/semantics.md "signup date range": only its users inside the range
                label += " (cut by the range)"
            cells = [_activation_cell(r_, compact, cohort.signups) for r_ in cohort.rates]
            t.add_row(Text(label, style="bold" if cohort.cohort is None else ""), f"{cohort.signups:,}", *cells)
        if any(c.clipped for c in shown):
            t.caption = str(t.caption) + (f"; cut by the range: the {a.period} reaches outside --from/--to, only its "
                                          f"{who} inside the range are counted")
        if len(g.cohorts) > max_cohorts:
            t.caption = f"latest {max_cohorts} of {len(g.cohorts)} cohorts shown (all in --json / --csv); " + str(
                t.caption)
        tables.append(t)
    return tables


def _activation_by_segment(a: ActivationResult, compact: bool) -> Table:
    t = table(f"Activation: {a.milestone_name}, all cohorts, by {a.segment_by}",
              caption=_activation_caption(a, compact) + ". Cohort by cohort: --json / --csv, or leave out --segment")
    column(t, a.segment_by or "segment", numeric=False)
    column(t, "signups")
    for n in a.days:
        column(t, f"day {n}")
    for g in a.groups:
        t.add_row(g.segment, f"{g.total.signups:,}",
                  *(_activation_cell(r_, compact, g.total.signups) for r_ in g.total.rates))
    return t


def who(unit: str) -> str:
    """The counted unit in the plural, as tables name it: "users", or "accounts" (`--level account`)."""
    return f"{unit}s"


def report(console: Console, r: ReportResult) -> None:
    w = who(r.unit)
    if r.signups is not None:
        console.print(Text.assemble(("Signups counted:", "dim"), " ", r.signups.text()), highlight=False)
    if r.headline is not None:
        show(console, lambda compact: [headline(r.headline, w)])  # type: ignore[arg-type]
    show(console, lambda compact: [overview(r.overview, w)])
    if not r.funnel.groups and not r.timing.groups and not r.activation.groups:
        console.print(f"Funnel, time to value, activation: nobody to count as of {r.overview.as_of:%Y-%m-%d %H:%M} "
                      f"UTC: no signed-up {r.unit} yet (events without a signup event put nobody in a cohort).",
                      highlight=False)
    show(console, lambda compact: funnel(r.funnel, compact, w))
    show(console, lambda compact: timing(r.timing, compact, w))
    show(console, lambda compact: activation(r.activation, compact=compact, who=w))
