"""`aha report`: funnel, time to value and activation by cohort, as Rich tables or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.errors import UserError
from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from aha.store.notes import Note
    from aha.surfaces.web.report_actions import Actions


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
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    cohort: Cohort = typer.Option(Cohort.week, "--cohort", help="Signup cohort period for activation rates."),
    order: Order = typer.Option(Order.ordered, "--order", help="Funnel order: ordered (default) or unordered."),
    include_immature: bool = typer.Option(
        False, "--include-immature", help="Count users whose windows are still open (shown as in progress)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write the report as one self-contained HTML file "
                                     "(charts inline, opens offline)."),
    png: Path | None = typer.Option(None, "--png", help="Write each chart as a PNG into this folder."),
    level: options.Level = options.LEVEL,
) -> None:
    """Print the activation report: funnel, time to value, activation by cohort."""
    from aha.analyses.report_results import ReportResult
    from aha.surfaces.cli import remote

    result = remote.analysis(ReportResult, db, config, "report", segment=segment, as_of=as_of, period=cohort.value,
                             signups_from=signups_from, signups_to=signups_to,
                             order=order.value, include_immature=include_immature, **options.level_options(level))
    if html is not None or png is not None:
        _export(result, html, png, db, config, segment, as_of, signups_from, signups_to)
        if level == options.Level.account:
            typer.echo("accounts as the unit: drop-off paths and retention are per user (one person's events), not "
                       "drawn; the page says so in their place")
        return
    if output.machine(result, "report", as_json, as_csv):
        return
    from aha.surfaces.cli import render

    console = output.console()
    if level == options.Level.account:
        console.print(options.ACCOUNT_NOTE)
    render.report(console, result)


def _export(result: object, html: Path | None, png: Path | None, db: Path, config: Path, segment: str | None,
            as_of: str | None, signups_from: str | None, signups_to: str | None) -> None:
    from aha.analyses.paths import PathsResult
    from aha.analyses.report_results import ReportResult
    from aha.analyses.retention import RetentionResult
    from aha.surfaces.cli import remote
    from aha.surfaces.web import export

    assert isinstance(result, ReportResult)
    signups = {"signups_from": signups_from, "signups_to": signups_to}
    retention: RetentionResult | None = None
    paths: PathsResult | None = None
    missing: str | None = None  # why paths are not drawn for users (the page says so in their place)
    if result.unit == "user":  # both follow one user's events: not drawn with accounts as the unit
        retention = remote.analysis(RetentionResult, db, config, "retention", segment=segment, as_of=as_of,
                                    **signups)
        if result.headline is not None and result.headline.conversion_horizon_seconds is None:  # no paid: event
            missing = "drop-off paths split users by conversion; add a `paid:` section to the definitions file."
        else:
            paths = remote.analysis(PathsResult, db, config, "paths", segment=segment, as_of=as_of, **signups)

    if html is not None:
        actions = _actions(db, config, as_of, unfiltered=bool(segment or signups_from or signups_to))
        try:
            export.write_html(html, result, retention, paths, _notes(db), missing, actions)
        except OSError as exc:
            raise UserError(f"--html {html}: cannot write it ({exc.strerror}); choose a writable path.") from None
        typer.echo(f"wrote {html}")
    if png is not None:
        try:
            written, empty = export.write_pngs(png, result, retention, paths)
        except OSError as exc:
            raise UserError(f"--png {png}: cannot write there ({exc.strerror}); choose a writable folder.") from None
        for path in written:
            typer.echo(f"wrote {path}")
        if empty:
            who = f"{result.overview.signed_up_users:,} signed-up {result.unit}s"
            typer.echo(f"not written, nothing to draw: {', '.join(empty)} ({who} as of "
                       f"{result.overview.as_of:%Y-%m-%d %H:%M} UTC; a chart needs one whose window has closed, or "
                       "one who reached a milestone)")


def _actions(db: Path, config: Path, as_of: str | None, unfiltered: bool) -> Actions:
    """The rules' impact and outboxes and the accounts (`aha interventions --impact`, `aha accounts`, `aha evaluate
    --signals`), asked as every other part of the report: from the server holding `db`, else from the file (one
    project for all of them: on Spark each opening builds the milestone state again)."""
    from aha.analyses.accounts import AccountsResult
    from aha.analyses.signals_eval import SignalsResult
    from aha.definitions import load
    from aha.guidance.impact import ImpactResult
    from aha.guidance.rules import InterventionsResult
    from aha.surfaces.cli import remote
    from aha.surfaces.web import nudges, report_actions

    definitions = load(config)
    if remote.server_of(db) is not None:
        return report_actions.gather(
            definitions,
            impact=lambda rule: remote.analysis(ImpactResult, db, config, "impact", rule_id=rule, as_of=as_of),
            outbox=lambda rule: remote.analysis(InterventionsResult, db, config, "interventions", rule_id=rule,
                                                limit=nudges.LATEST),
            accounts=lambda top: remote.analysis(AccountsResult, db, config, "accounts", top=top, as_of=as_of),
            signals=lambda: remote.analysis(SignalsResult, db, config, "evaluate_signals", as_of=as_of),
            unfiltered=unfiltered)
    if not definitions.rules and not report_actions.accounts_configured(definitions):
        return report_actions.Actions([], None, None, None, None, None, unfiltered)  # nothing to ask
    import aha
    from aha.surfaces.cli.output import working

    project = aha.open(str(db), str(config))
    try:
        with working("computing the nudges' impact and the accounts"):
            return report_actions.gather(
                definitions, impact=lambda rule: project.impact(rule, as_of=as_of),
                outbox=lambda rule: project.interventions(rule, limit=nudges.LATEST),
                accounts=lambda top: project.accounts(top=top, as_of=as_of),
                signals=lambda: project.evaluate_signals(as_of=as_of), unfiltered=unfiltered)
    finally:
        project.close()


def _notes(db: Path) -> list[Note]:
    """The drop-off notes (`aha.store.notes`): from the server holding `db`, else from the file."""
    from aha.results import from_jsonable
    from aha.store import open_store
    from aha.store.connection import StoreError
    from aha.store.notes import Note, all_notes
    from aha.surfaces.cli import remote

    served = remote.post(db, "/v1/query/notes")
    if served is not None:
        return [from_jsonable(Note, n) for n in served]
    store = open_store(db, read_only=True)
    try:
        return list(all_notes(store))
    except StoreError:  # a store that keeps no notes (Spark refuses DuckDB SQL): none to show
        return []
    finally:
        store.close()
