"""`aha report`: funnel, time to value and activation by cohort, as Rich tables or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from aha.surfaces.cli import options, output


class Cohort(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Order(StrEnum):
    ordered = "ordered"
    unordered = "unordered"


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
    cohort: Cohort = typer.Option(Cohort.week, "--cohort", help="Signup cohort period for activation rates."),
    order: Order = typer.Option(Order.ordered, "--order", help="Funnel order: ordered (default) or unordered."),
    include_immature: bool = typer.Option(
        False, "--include-immature", help="Count users whose windows are still open (shown as in progress)."
    ),
) -> None:
    """Print the activation report: funnel, time to value, activation by cohort."""
    from aha.project import ReportResult
    from aha.surfaces.cli import remote

    result = remote.analysis(ReportResult, db, config, "report", segment=segment, as_of=as_of, period=cohort.value,
                             order=order.value, include_immature=include_immature)
    if output.machine(result, "report", as_json, as_csv):
        return
    from aha.surfaces.cli import render

    console = output.console()
    render.report(console, result)
