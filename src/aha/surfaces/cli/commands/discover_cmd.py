"""`aha discover`: candidate milestones ranked by the lower bound of their lift, and each event's magic number."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from aha.surfaces.cli import options, output


class OutcomeChoice(StrEnum):
    retention = "retention"
    conversion = "conversion"


def register(app: typer.Typer) -> None:
    app.command("discover")(discover)


def discover(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    as_of: str | None = options.AS_OF,
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    outcome: OutcomeChoice = typer.Option(OutcomeChoice.retention, "--outcome", help="What the candidates predict."),
    window: str = typer.Option("14d", "--window", help="Window for magic numbers: 1d, 3d, 7d or 14d."),
    top: int = typer.Option(15, "--top", min=1, help="How many ranked candidates and magic numbers to print."),
    segment: str | None = typer.Option(None, "--segment", "-s",
                                       help="Discover within one segment value: KEY=VALUE, e.g. persona=admin."),
    landmark: bool | None = typer.Option(
        None, "--landmark/--no-landmark", help="Compare each window's candidates among users still active after it "
        "(default), so users who left early do not make frequent events look like causes; for conversion, also not "
        "yet paid when it closed (their outcome was decided inside it)."),
    write: bool = typer.Option(False, "--write", help="Append the scored shortlist to the definitions file as "
                               "commented milestones (see `aha score`); existing lines are never changed."),
) -> None:
    """Every event × threshold × window against the outcome: lift with 95% CI, BH q-values, magic numbers."""
    from rich.table import Table

    from aha.analyses.discovery import MIN_LIFT, DiscoveryResult
    from aha.errors import UserError
    from aha.surfaces.cli import remote

    days = {"1d": 1, "3d": 3, "7d": 7, "14d": 14}.get(window)
    if days is None:
        raise UserError(f"--window {window!r}: use one of 1d, 3d, 7d, 14d.")
    result = remote.analysis(DiscoveryResult, db, config, "discover", outcome=outcome.value, window=days, as_of=as_of,
                             signups_from=signups_from, signups_to=signups_to,
                             segment=segment, landmark=landmark)
    if write:
        from aha.surfaces.cli.commands.score_cmd import write_shortlist

        write_shortlist(db, config, outcome.value, result)
    if output.machine(result, "discovery", as_json, as_csv):
        return
    console = output.console()
    within = f" — {result.segment_by} = {result.segment}" if result.segment_by else ""
    among = ""
    if result.landmark:
        who = "still active and not yet paid" if outcome.value == "conversion" else "still active"
        among = f"; compared among users {who} after the window: " + ", ".join(
            f"{p.window_days}d {p.users:,}" for p in result.populations)
    ranked = Table(title=f"Candidates vs {result.outcome}{within} — {result.population:,} eligible users, "
                         f"{result.outcome_users:,} with the outcome", title_justify="left",
                   caption=f"ranked by the lift's lower 95% bound; * = significant (q < 0.05, lift's lower bound "
                           f"≥ {MIN_LIFT}); support ≥ {result.min_support:,} users on each "
                           f"side; q = Benjamini–Hochberg; never candidates: {', '.join(result.excluded_events)}"
                           f"{among}")
    for col in ("#", "did it", "users", "rate if did", "rate if not", "lift (95% CI)", "q", "Youden J"):
        ranked.add_column(col, justify="left" if col == "did it" else "right")
    from aha.analyses.scoring import parse_label

    steps = {p.event: p.reason for p in result.prerequisites}
    if steps:
        ranked.caption = str(ranked.caption) + "\n† prerequisite of paying, kept out of `aha score`'s shortlist: " + \
            "; ".join(f"{event}: {reason}" for event, reason in steps.items())
    for k in [k for k in result.candidates if k.rank is not None][:top]:
        cmp = k.comparison
        lift = "∞" if cmp.lift_code == "infinite" else (
            f"{cmp.lift:.2f} ({cmp.lift_low:.2f}–{cmp.lift_high:.2f})" if cmp.lift_low is not None else "—")
        ranked.add_row(str(k.rank), f"{k.event} ≥ {k.threshold} in {k.window_days}d" + (" *" if k.significant else "")
                       + (" †" if parse_label(k.event)[0] in steps else ""),
                       f"{k.a + k.b:,}", f"{cmp.rate_reached:.1%}", f"{cmp.rate_not_reached:.1%}", lift,
                       "—" if k.q_value is None else f"{k.q_value:.2g}",
                       "—" if k.youden_j is None else f"{k.youden_j:.2f}")
    # The events with a magic number first, largest rise first; --top of them (the rest are in --json).
    shown = sorted(result.magic_numbers, key=lambda m: (m.threshold is None, -(m.rise_points or 0.0), m.event))
    hidden = len(shown) - top
    magic = Table(title=f"Magic numbers ({result.window_days}d window): where more of an event starts to matter",
                  title_justify="left", caption="largest significant rise in outcome rate between adjacent count "
                                                "bands (times done: rate of the band's users); Youden's threshold "
                                                "beside it for comparison"
                                                + (f"; {hidden} more events below these (--top, --json)"
                                                   if hidden > 0 else ""))
    for col in ("event", "magic number", "rise", "lift ≥ k vs < k", "Youden", "outcome rate by count band"):
        magic.add_column(col, justify="left" if col in ("event", "outcome rate by count band") else "right")
    for m in shown[:top]:
        band_text = "  ".join(f"{b.label}: {b.rate.value:.0%} of {b.rate.denominator:,}"
                              for b in m.bands if b.rate.value is not None)
        magic.add_row(m.event, "—" if m.threshold is None else str(m.threshold),
                      "—" if m.rise_points is None else f"+{m.rise_points:.1f} pts",
                      "—" if m.lift is None or m.lift_low is None or m.lift_high is None else
                      f"{m.lift:.2f} ({m.lift_low:.2f}–{m.lift_high:.2f})",
                      "—" if m.youden_threshold is None else str(m.youden_threshold), band_text)
    if not any(k.rank is not None for k in result.candidates):
        kind = result.outcome.split(":")[0]
        why = (f"none of the {result.population:,} users eligible had the outcome ({result.outcome}), so no "
               "candidate has a lift" if result.population and not result.outcome_users else
               f"no candidate has {result.min_support:,} users on each side (did it / did not) among the "
               f"{result.population:,} users eligible for {kind}; discovery needs more signed-up users whose windows "
               "have closed")
        console.print(f"Nothing ranked as of {result.as_of:%Y-%m-%d %H:%M} UTC: {why}.", highlight=False)
        return
    console.print(ranked, magic)
    for note in result.notes:  # why the magic numbers are empty (a window this outcome does not compare)
        console.print(f"note: {note}; choose another with --window.", highlight=False)
