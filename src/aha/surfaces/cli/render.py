"""Result objects as Rich tables. Formatting only: every number comes from a result object."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from aha.analyses.activation import ActivationResult
from aha.analyses.funnel import FunnelResult
from aha.analyses.overview import OverviewResult
from aha.analyses.timing import TimingResult
from aha.project import ReportResult
from aha.results import Rate


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = abs(seconds)
    if s < 60:
        text = f"{s:.0f}s"
    elif s < 3600:
        text = f"{s / 60:.1f}m"
    elif s < 86400:
        text = f"{s / 3600:.1f}h"
    else:
        text = f"{s / 86400:.1f}d"
    return ("-" if seconds < 0 else "") + text


def rate(r: Rate | None, with_ci: bool = True) -> str:
    if r is None or r.value is None:
        return "—"
    text = f"{r.value:.1%}"
    if with_ci and r.low is not None and r.high is not None:
        text += f" ({r.low:.1%}–{r.high:.1%})"
    return text


def overview(o: OverviewResult) -> Table:
    t = Table(title="Overview", show_header=False, title_justify="left")
    t.add_row("as of", o.as_of.isoformat(sep=" ", timespec="seconds") + " UTC")
    t.add_row("events", f"{o.events:,}")
    t.add_row("signed-up users", f"{o.signed_up_users:,}")
    t.add_row("users without a signup event", f"{o.users_without_signup:,} (in no cohort)")
    if o.accounts:
        t.add_row("accounts", f"{o.accounts:,}")
    for target in o.targets:
        current = (rate(target.rate) if target.unit == "rate" else duration(target.current)) \
            if target.current is not None else "—"
        goal = f"{target.target:.0%}" if target.unit == "rate" else duration(target.target)
        mark = {True: "[green]met[/]", False: "[red]not met[/]", None: ""}[target.met]
        t.add_row(f"target {target.name}", f"{current} vs {goal} {mark}\n[dim]{target.basis}[/]")
    return t


def funnel(f: FunnelResult) -> list[Table]:
    tables = []
    mode = ("everyone, open windows included (the drop-off says how many may still make the step)"
            if f.include_immature else "users whose windows have closed")
    for g in f.groups:
        title = f"Funnel ({f.order}) — {mode}" + (f" — {f.segment_by} = {g.segment}" if f.segment_by else "")
        t = Table(title=title, title_justify="left")
        columns = ["step", "users", "from previous", "overall", "drop-off",
                   *(["of which still open"] if f.include_immature else []), "median time from previous"]
        for col in columns:
            t.add_column(col, justify="left" if col == "step" else "right")
        for s in g.steps:
            row = [s.name, f"{s.entities:,}", rate(s.conversion_from_previous), rate(s.conversion_overall, False),
                   "" if s.drop_off is None else f"{s.drop_off:,}"]
            if f.include_immature:
                row.append("" if s.drop_off is None else f"{s.in_progress:,}")
            row.append(duration(s.median_seconds_from_previous) if s.id != "signup" else "")
            t.add_row(*row)
        notes = []
        if g.immature:
            notes.append(f"{g.immature:,} signups left out: a step window is still open (--include-immature)")
        if g.out_of_scope:
            notes.append(f"{g.out_of_scope:,} out of a step's scope")
        if notes:
            t.caption = "; ".join(notes)
        tables.append(t)
    return tables


def timing(r: TimingResult) -> list[Table]:
    tables = []
    for g in r.groups:
        title = "Time to milestone" + (f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
        t = Table(title=title, title_justify="left", caption="p25/median/p75/p90 among reachers; "
                  "Kaplan–Meier over everyone eligible, open windows censored")
        for col in ("milestone", "window", "reached / eligible", "p25", "median", "p75", "p90", "KM median",
                    "KM reach share"):
            t.add_column(col, justify="left" if col == "milestone" else "right")
        for m in g.milestones:
            km = duration(m.km_median_seconds) if m.km_median_seconds is not None else "not by half"
            t.add_row(m.name + (" (account)" if m.entity == "account" else ""), duration(m.window_seconds),
                      f"{m.reached:,} / {m.eligible:,}", duration(m.p25_seconds), duration(m.median_seconds),
                      duration(m.p75_seconds), duration(m.p90_seconds), km,
                      "—" if m.km_reached_share is None else f"{m.km_reached_share:.1%}")
        tables.append(t)
    return tables


def activation(a: ActivationResult, max_cohorts: int = 12) -> list[Table]:
    tables = []
    for g in a.groups:
        title = f"Activation: {a.milestone_name}, by {a.period} of signup" + (
            f" — {a.segment_by} = {g.segment}" if a.segment_by else "")
        t = Table(title=title, title_justify="left",
                  caption="rate (95% CI) among users observed N days; — = nobody observed that long yet")
        t.add_column("cohort")
        t.add_column("signups", justify="right")
        for n in a.days:
            t.add_column(f"day {n}", justify="right")
        shown = g.cohorts[-max_cohorts:]
        for cohort in (*shown, g.total):
            label = "all cohorts" if cohort.cohort is None else cohort.cohort.isoformat()
            cells = [rate(r_) + (f" n={r_.denominator:,}" if r_ else "") for r_ in cohort.rates]
            t.add_row(Text(label, style="bold" if cohort.cohort is None else ""), f"{cohort.signups:,}", *cells)
        if len(g.cohorts) > max_cohorts:
            t.caption = f"latest {max_cohorts} of {len(g.cohorts)} cohorts shown (all in --json); " + str(t.caption)
        tables.append(t)
    return tables


def report(console: Console, r: ReportResult) -> None:
    console.print(Group(overview(r.overview), *funnel(r.funnel), *timing(r.timing), *activation(r.activation)))
