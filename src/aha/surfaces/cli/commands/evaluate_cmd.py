"""`aha evaluate` and `aha retention`: milestones against conversion and retention."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from aha.analyses.revalidation import RevalidationResult


class BucketChoice(StrEnum):
    day = "day"
    week = "week"


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("retention")(retention)


def evaluate(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    by_month: bool = typer.Option(False, "--by-month", help="Validate per signup month and flag shrinking effects."),
    level: options.Level = options.LEVEL,
    signals: bool = typer.Option(False, "--signals", help="Each signal (signals: in aha.yaml) against account "
                                 "conversion: lift with 95% CI, median time from the signal to paid."),
) -> None:
    """Validate each milestone against conversion and retention: lift with 95% CI, p-value, verdict."""
    if signals:
        return _signals(db, config, as_json, as_csv, as_of)
    if by_month:
        return _by_month(db, config, as_json, as_csv, segment, as_of, (signups_from, signups_to), level)
    from aha.analyses.validation import ValidationResult
    from aha.surfaces.cli import remote

    result = remote.analysis(ValidationResult, db, config, "evaluate", segment=segment, as_of=as_of,
                             signups_from=signups_from, signups_to=signups_to, **options.level_options(level))
    if output.machine(result, "validation", as_json, as_csv):
        return
    from aha.surfaces.cli import render, render_outcomes

    console = output.console()
    if level == options.Level.account:
        console.print(options.ACCOUNT_NOTE)
    if not result.groups:
        console.print(render_outcomes.nobody("Milestones vs outcomes", result.as_of, result.unit))
    render.print_tables(console, render_outcomes.validation(result))


def retention(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    bucket: BucketChoice = typer.Option(BucketChoice.day, "--bucket",
                                        help="Curve points per day or per week since signup."),
) -> None:
    """Retention curves, Day 0…90 by day or week, reached vs not per milestone, and the gap by the definitions'
    retention rule (`retention.day`, `.bracket`), as `aha evaluate` measures it."""
    from aha.analyses.retention import RetentionResult
    from aha.surfaces.cli import remote

    result = remote.analysis(RetentionResult, db, config, "retention", segment=segment, as_of=as_of,
                             signups_from=signups_from, signups_to=signups_to,
                             bucket=bucket.value)
    if output.machine(result, "retention", as_json, as_csv):
        return
    from aha.surfaces.cli import render_outcomes

    if not result.groups:
        output.console().print(render_outcomes.nobody("Retention", result.as_of))
    output.console().print(*render_outcomes.retention(result))


def _by_month(db: Path, config: Path, as_json: bool, as_csv: bool, segment: str | None,
              as_of: str | None, signups: tuple[str | None, str | None], level: options.Level) -> None:
    """`--by-month`: the same validation per signup month, flagging milestones whose effect shrinks."""
    from aha.analyses.revalidation import RevalidationResult
    from aha.surfaces.cli import remote

    result = remote.analysis(RevalidationResult, db, config, "revalidate", segment=segment, as_of=as_of,
                             signups_from=signups[0], signups_to=signups[1], **options.level_options(level))
    if output.machine(result, "revalidation", as_json, as_csv):
        return
    output.console().print(*by_month_tables(result))


def by_month_tables(r: RevalidationResult) -> list[Table | Text]:
    """Per segment: each milestone and outcome by signup month, then each trend in plain words, flagged ones marked."""
    from rich.table import Table
    from rich.text import Text
    out: list[Table | Text] = []
    for g in r.groups:
        title = "Milestones by signup month" + (f" — {r.segment_by} = {g.segment}" if r.segment_by else "")
        t = Table(title=title, title_justify="left",
                  caption=f"* fewer than {r.min_group} {r.unit}s on either side: shown, not compared. Flagged (!) when "
                          "the latest compared month's gap is under half the first's (which was significant), or its "
                          "lift's upper bound is below the first's lower bound")
        for col in ("milestone", "outcome", "month", f"{r.unit}s", "a / b / c / d", "rate if reached", "rate if not",
                    "gap", "lift (95% CI)"):
            t.add_column(col, justify="left" if col in ("milestone", "outcome", "month") else "right")
        words = Text()
        for trend in g.trends:
            for i, m in enumerate(trend.months):
                cmp = m.comparison
                lift = "∞" if cmp.lift_code == "infinite" else "—" if cmp.lift is None else (
                    f"{cmp.lift:.2f}" + (f" ({cmp.lift_low:.2f}–{cmp.lift_high:.2f})"
                                         if cmp.lift_low is not None and cmp.lift_high is not None else ""))
                t.add_row(trend.name if i == 0 else "", trend.outcome if i == 0 else "",
                          f"{m.month:%Y-%m}" + ("" if m.comparable else " *"), f"{m.population:,}",
                          f"{m.a:,} / {m.b:,} / {m.c:,} / {m.d:,}", _pct(cmp.rate_reached), _pct(cmp.rate_not_reached),
                          "—" if m.gap_points is None else f"{m.gap_points:+.1f} pts", lift,
                          end_section=i == len(trend.months) - 1)
            words.append(f"{'!' if trend.shrinking else ' '} {trend.name}, {trend.outcome}: ",
                         style="bold red" if trend.shrinking else None)
            words.append(trend.trend + "\n", style="bold red" if trend.shrinking else None)
        out += [t, words]
    if r.notes:
        out.append(Text("\n".join(f"note: {n}" for n in r.notes)))
    return out


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _signals(db: Path, config: Path, as_json: bool, as_csv: bool, as_of: str | None) -> None:
    from aha.analyses.signals_eval import SignalsResult
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.commands.accounts_cmd import render_signals

    result = remote.analysis(SignalsResult, db, config, "evaluate_signals", as_of=as_of)
    if not output.machine(result, "signals", as_json, as_csv):
        output.console().print(render_signals(result))
