"""`aha paths`: the orders in which users reach the funnel milestones, converters vs not, and where they drop off."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from rich.table import Table

    from aha.analyses.paths import PathsResult


def register(app: typer.Typer) -> None:
    app.command("paths")(paths)


def paths(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
    signups_from: str | None = options.SIGNUPS_FROM,
    signups_to: str | None = options.SIGNUPS_TO,
    top: int = typer.Option(10, "--top", min=1, help="How many of the most common paths to list before '(other)'."),
) -> None:
    """Most common milestone orders, split by converters and non-converters, and the drop-off between milestones."""
    from aha.analyses.paths import PathsResult
    from aha.surfaces.cli import remote

    result = remote.analysis(PathsResult, db, config, "paths", segment=segment, as_of=as_of, top=top,
                             signups_from=signups_from, signups_to=signups_to)
    if output.machine(result, "paths", as_json, as_csv):
        return
    console = output.console()
    if not result.groups:
        from aha.surfaces.cli.render_outcomes import nobody

        console.print(nobody("Milestone orders and drop-off", result.as_of))
    console.print(*render(result))


def render(r: PathsResult) -> list[Table]:
    from rich.table import Table

    from aha.surfaces.cli.render import rate

    tables = []
    for g in r.groups:
        where = f" — {r.segment_by} = {g.segment}" if r.segment_by else ""
        t = Table(title=f"Milestone orders{where}: {g.users:,} users, {g.converters:,} converted", title_justify="left",
                  caption=f"funnel milestones by reach time; converted = {r.conversion}; users whose windows have all "
                          f"closed ({g.immature:,} still open, {g.out_of_scope:,} out of scope left out)")
        for col in ("path", "users", "converters", "share of converters", "non-converters", "share of non-converters",
                    "conversion"):
            t.add_column(col, justify="left" if col == "path" else "right")
        for p in g.paths:
            t.add_row(p.path, f"{p.users:,}", f"{p.converters:,}", rate(p.share_of_converters, False),
                      f"{p.non_converters:,}", rate(p.share_of_non_converters, False), rate(p.conversion))
        tables.append(t)
        if not g.drop_offs:
            continue
        d = Table(title=f"Where we lose them{where}", title_justify="left",
                  caption="from signup, then from each milestone: who never reached the next (in any order), and how "
                          "each side converted")
        for col in ("step", "reached", "never reached next", "share lost", "conversion if continued",
                    "conversion if lost", "gap"):
            d.add_column(col, justify="left" if col == "step" else "right")
        for s in g.drop_offs:
            d.add_row(f"{s.from_name} → {s.to_name}", f"{s.reached_from:,}", f"{s.lost:,}", rate(s.lost_share, False),
                      rate(s.conversion_continued), rate(s.conversion_lost),
                      "—" if s.gap_points is None else f"{s.gap_points:+.1f} pts")
        tables.append(d)
    if tables and r.notes:
        tables[-1].caption = "\n".join([str(tables[-1].caption), *(f"note: {n}" for n in r.notes)])
    return tables
