"""`aha evaluate` and `aha retention`: milestones against conversion and retention."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from aha.surfaces.cli import options


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("retention")(retention)


def _console() -> Console:
    return Console() if Console().is_terminal else Console(width=160)


def evaluate(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
) -> None:
    """Validate each milestone against conversion and retention: lift with 95% CI, p-value, verdict."""
    from aha.analyses.validation import ValidationResult
    from aha.results import to_jsonable
    from aha.surfaces.cli import remote

    result = remote.analysis(ValidationResult, db, config, "evaluate", segment=segment, as_of=as_of)
    if as_json:
        typer.echo(json.dumps(to_jsonable(result, "validation"), indent=2, allow_nan=False))
        return
    from aha.surfaces.cli import render_outcomes

    _console().print(*render_outcomes.validation(result))


def retention(
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    segment: str | None = options.SEGMENT,
    as_of: str | None = options.AS_OF,
) -> None:
    """Retention curves, Day 0…90, for users who reached each milestone vs not, with the gap at Day 30."""
    from aha.analyses.retention import RetentionResult
    from aha.results import to_jsonable
    from aha.surfaces.cli import remote

    result = remote.analysis(RetentionResult, db, config, "retention", segment=segment, as_of=as_of)
    if as_json:
        typer.echo(json.dumps(to_jsonable(result, "retention"), indent=2, allow_nan=False))
        return
    from aha.surfaces.cli import render_outcomes

    _console().print(*render_outcomes.retention(result))
