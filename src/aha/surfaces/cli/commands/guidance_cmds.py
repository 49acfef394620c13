"""`aha rules run` (one pass of the rules, for cron; `--dry-run` lists who would get what and why) and
`aha interventions` (the outbox; `--impact RULE`: did the nudge move its milestone, nudged vs held out)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from aha.guidance.impact import ImpactResult
    from aha.guidance.rules import InterventionsResult, RulesRunResult

rules_app = typer.Typer(help="Rules that nudge users toward milestones (rules: in aha.yaml).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
    app.command("interventions")(interventions)


@rules_app.command("run")
def run(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    dry_run: bool = typer.Option(False, "--dry-run", help="List who would be nudged and why; record nothing."),
    as_of: str | None = options.AS_OF,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
) -> None:
    """Evaluate every rule once and record new firings in the outbox (held-out users too): safe to run from cron,
    a user is recorded once per rule however often it runs."""
    from aha.guidance.rules import RulesRunResult
    from aha.surfaces.cli import remote

    result = remote.analysis(RulesRunResult, db, config, "run_rules", dry_run=dry_run, as_of=as_of)
    if output.machine(result, "rules_run", as_json, as_csv):
        return
    console = output.console()
    console.print(*render_run(result))
    if not dry_run and (result.sent or result.deferred):
        console.print(f"deliveries (webhook and email): {result.sent:,} attempted: {result.delivered:,} delivered, "
                      f"{result.retrying:,} to retry, {result.failed:,} failed for good (aha interventions --failed)"
                      + (f", {result.deferred:,} deferred by the cap or quiet hours" if result.deferred else ""))
    if not dry_run and result.withdrawn:
        console.print(f"withdrawn: {result.withdrawn:,} waiting firings of rules removed from the definitions "
                      "(never sent; aha interventions lists them)")


def render_run(r: RulesRunResult) -> list[Table]:
    from rich.table import Table
    verb = "would record" if r.dry_run else "recorded"
    caption = (f"new: eligible users (accounts, for a signal rule) this run {verb}; already: recorded by an earlier "
               "run (each fires once per rule); too late: eligible longer ago than the rule's late_after (default "
               "1d), not nudged")
    t = Table(title=f"Rules as of {r.as_of:%Y-%m-%d %H:%M} UTC{' (dry run: nothing recorded)' if r.dry_run else ''}",
              title_justify="left", caption=caption, caption_justify="left")
    counts = ("new", "nudged", "held out", "already", "too late")
    for col in ("rule", "when", "channel", "aims at", *counts):
        t.add_column(col, justify="right" if col in counts else "left")
    for run_ in r.rules:
        t.add_row(run_.rule_id, run_.why, run_.channel, run_.milestone_id, f"{run_.new:,}",
                  f"{run_.nudged:,}", f"{run_.held_out:,}", f"{run_.already:,}", f"{run_.too_late:,}")
    tables = [t]
    for run_ in r.rules:
        if not run_.firings:
            continue
        more = run_.new - len(run_.firings)
        f = Table(title=f"{run_.rule_id}: {'who would be nudged' if r.dry_run else 'new firings'}",
                  title_justify="left", caption=f"and {more:,} more" if more else None, caption_justify="left")
        for col in (run_.unit, "eligible at", "arm"):
            f.add_column(col)
        for firing in run_.firings:
            f.add_row(firing.user_id, f"{firing.eligible_at:%Y-%m-%d %H:%M}",
                      "held out" if firing.held_out else f"nudge ({run_.channel})")
        tables.append(f)
    return tables


def interventions(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    impact: str | None = typer.Option(None, "--impact", metavar="RULE",
                                      help="Nudged vs held-out users of RULE: its milestone reached (95% CI)."),
    rule: str | None = typer.Option(None, "--rule", help="Only this rule's firings."),
    failed: bool = typer.Option(False, "--failed", help="Only deliveries that failed for good."),
    replay_failed: bool = typer.Option(False, "--replay-failed", help="Put failed deliveries back to be sent by the "
                                       "next `aha rules run` (with --rule: that rule's only)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="How many of the latest firings to list."),
    as_of: str | None = options.AS_OF,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
) -> None:
    """The outbox: who was nudged (or held out) by which rule and when, and what became of each delivery."""
    from aha.surfaces.cli import remote

    if replay_failed:
        import aha

        remote.refuse_while_serving(db, "interventions --replay-failed", "let the server's schedule retry them")
        n = aha.open(str(db), str(config)).replay_failed(rule)
        typer.echo(f"{n:,} failed deliveries put back; the next `aha rules run` sends them")
        return
    if impact is not None:
        from aha.guidance.impact import ImpactResult

        result = remote.analysis(ImpactResult, db, config, "impact", rule_id=impact, as_of=as_of)
        if not output.machine(result, "impact", as_json, as_csv):
            output.console().print(*render_impact(result))
        return
    from aha.guidance.rules import InterventionsResult

    listed = remote.analysis(InterventionsResult, db, config, "interventions", rule_id=rule,
                             status="failed" if failed else None, limit=limit)
    if not output.machine(listed, "interventions", as_json, as_csv):
        output.console().print(render_list(listed))


def render_list(r: InterventionsResult) -> Table:
    from rich.table import Table
    counts = ", ".join(f"{n:,} {status.replace('_', ' ')}" for status, n in r.by_status.items()) or "none yet"
    t = Table(title=f"Interventions: {r.total:,} ({counts})", title_justify="left",
              caption=f"latest {len(r.interventions):,} of {r.total:,}" if r.total > len(r.interventions) else None,
              caption_justify="left")
    for col in ("eligible at", "rule", "user or account", "channel", "aims at", "status", "attempts", "last error"):
        t.add_column(col, justify="right" if col == "attempts" else "left")
    for i in r.interventions:
        who = i.user_id if i.unit == "user" else f"account {i.user_id}"
        t.add_row(f"{i.eligible_at:%Y-%m-%d %H:%M}", i.rule_id, who, i.channel, i.milestone_id,
                  i.status.replace("_", " "), f"{i.attempts:,}", i.last_error or "")
    return t


def render_impact(r: ImpactResult) -> list[Text | Table]:
    from rich.table import Table
    from rich.text import Text

    from aha.surfaces.cli.render import duration, rate

    headline = Text.assemble((f"{r.rule_id}", "bold"), f" → {r.milestone_id}: ",
                             (r.verdict, "bold green" if r.verdict.startswith("works") else "bold"))
    what = ("account conversion (any member paid) inside the account's horizon, at or after entering the signal, "
            "among accounts whose horizon has closed" if r.unit == "account" else
            "inside the milestone's window, among users whose window has closed")
    t = Table(title=f"Nudged vs held out {r.unit}s ({r.holdout:.0%} held out)", title_justify="left",
              caption_justify="left",
              caption=f"as of {r.as_of:%Y-%m-%d %H:%M} UTC; intention to treat: every {r.unit} recorded as eligible, "
                      f"whatever became of the delivery; reached = {what} (still open: in no rate); time from the "
                      "moment of eligibility "
                      "(Kaplan–Meier median; — when fewer than half reach it)"
                      + (f"; p = {r.p_value:.3g}" if r.p_value is not None else "") + _out_of_scope(r))
    for col in ("arm", "eligible", "still open", "reached / closed", "reached", "median time"):
        t.add_column(col, justify="left" if col == "arm" else "right")
    for arm in (r.nudged, r.held_out):
        counts = f"{arm.reached.numerator:,} / {arm.reached.denominator:,}"
        t.add_row(arm.name, f"{arm.eligible:,}", f"{arm.still_open:,}", counts, rate(arm.reached),
                  duration(arm.median_seconds_to_milestone))
    if r.difference_points is not None and r.difference_low is not None and r.difference_high is not None:
        t.add_row("difference", "", "", "", f"{r.difference_points:+.1f} pts ({r.difference_low:+.1f} to "
                                            f"{r.difference_high:+.1f})", "")
    return [headline, t]



def _out_of_scope(r: ImpactResult) -> str:
    """The sentence on recorded users the target's scope excludes (in neither rate), when there are any."""
    if not (r.nudged.out_of_scope or r.held_out.out_of_scope):
        return ""
    return (f"; outside {r.milestone_id}'s scope, in no rate (they cannot reach it): {r.nudged.out_of_scope:,} "
            f"nudged, {r.held_out.out_of_scope:,} held out")
