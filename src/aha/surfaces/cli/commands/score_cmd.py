"""`aha score`: discovered events scored 1–5 on predictiveness, proximity, controllability, clarity; the shortlist."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from aha.surfaces.cli import options, output
from aha.surfaces.cli.commands.discover_cmd import OutcomeChoice

if TYPE_CHECKING:
    from rich.table import Table

    from aha.analyses.scoring import ScoringResult


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    as_of: str | None = options.AS_OF,
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    outcome: OutcomeChoice = typer.Option(OutcomeChoice.retention, "--outcome", help="What the candidates predict."),
    landmark: bool | None = typer.Option(
        None, "--landmark/--no-landmark", help="Discover among users still active after each window (default; for "
        "conversion, also not yet paid when it closed), as `aha discover` does."),
) -> None:
    """Score each significant discovered event 1–5 on four axes and pick the 3–5 event milestone shortlist."""
    from aha.analyses.scoring import ScoringResult
    from aha.surfaces.cli import remote

    result = remote.analysis(ScoringResult, db, config, "score", outcome=outcome.value, as_of=as_of,
                             signups_from=signups_from, signups_to=signups_to,
                             landmark=landmark)
    if output.machine(result, "scoring", as_json, as_csv):
        return
    console = output.console()
    console.print(render(result))


def legend(cuts: tuple[float, ...], scores: tuple[int, ...]) -> str:
    """'<0.1 → 5, <0.25 → 4, … ≥1 → 1', from the constants the scores are computed with (so it cannot drift)."""
    parts = [f"<{cut:g} → {score}" for cut, score in zip(cuts, scores, strict=False)]
    return ", ".join([*parts, f"≥{cuts[-1]:g} → {scores[-1]}"])


def render(result: ScoringResult) -> Table:
    """The scores table: shortlisted events marked ★, defaulted scores marked *."""
    from rich.table import Table

    from aha.analyses.scoring import PREDICTIVENESS_CUTS, PROXIMITY_CUTS, PROXIMITY_SCORES  # heavy: not at startup
    from aha.results import duration_text

    paid = "no paid event to compare with" if result.median_seconds_to_paid is None else (
        f"median signup → paid {duration_text(result.median_seconds_to_paid)} "
        f"({result.converters:,} mature converters)")
    caption = [f"* defaulted to 3 (no data or no annotation in the definitions file); {paid}; † a prerequisite of "
               "paying, never shortlisted",
               f"predictiveness from the lift's lower 95% bound: {legend(PREDICTIVENESS_CUTS, (1, 2, 3, 4, 5))}; "
               f"proximity from time to it ÷ time to paid: {legend(PROXIMITY_CUTS, PROXIMITY_SCORES)}",
               *result.notes]
    table = Table(title=f"Scores vs {result.outcome} — shortlist: {', '.join(result.shortlist) or 'none'}",
                  title_justify="left", caption="\n".join(caption), caption_justify="left")
    for col in ("", "best candidate", "lift (95% CI)", "time to it", "predictive", "proximity", "control",
                "clarity", "total", "milestone"):
        table.add_column(col, justify="left" if col in ("best candidate", "milestone") else "right")
    for s in result.scores:
        lift = "∞" if s.lift is None else (
            f"{s.lift:.2f} ({s.lift_low:.2f}–{s.lift_high:.2f})" if s.lift_low is not None and s.lift_high is not None
            else f"{s.lift:.2f}")

        mark = "★" if s.shortlisted else "†" if s.prerequisite else ""
        table.add_row(mark, f"{s.candidate} ≥ {s.threshold} in {s.window_days}d", lift,
                      duration_text(s.median_seconds_to_candidate), str(s.predictiveness),
                      *(f"{v}*" if axis in s.defaulted else str(v) for axis, v in
                        (("proximity", s.proximity), ("controllability", s.controllability), ("clarity", s.clarity))),
                      str(s.total), s.milestone_id or "—")
    return table


def write_shortlist(db: Path, config: Path, outcome: str, discovery: object) -> None:
    """`aha discover --write`: score `discovery` and append its shortlist to `config` as commented milestones."""
    import aha
    from aha.analyses.discovery import DiscoveryResult
    from aha.analyses.scoring import ScoringResult, append_shortlist
    from aha.definitions import load
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.shown_console import Console

    assert isinstance(discovery, DiscoveryResult)
    chosen: Literal["conversion", "retention"] = "conversion" if outcome == "conversion" else "retention"
    served = remote.ask(ScoringResult, db, config, "score", outcome=chosen, as_of=discovery.as_of.isoformat())
    result = served if served is not None else aha.open(str(db), str(config)).score(outcome=chosen,
                                                                                     discovery=discovery)
    status, _ = append_shortlist(config, result, load(config))
    err = Console(stderr=True)
    if status == "empty":
        err.print(f"{config}: nothing written, no significant candidate to shortlist.")
    elif status == "duplicate":
        err.print(f"{config}: nothing written, this shortlist ({', '.join(result.shortlist)}) is already in the file.")
    else:
        err.print(f"{config}: appended {len(result.shortlist)} commented milestones "
                  f"({', '.join(result.shortlist)}); uncomment the ones to track.")
