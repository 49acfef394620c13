"""`aha report --html FILE` (one self-contained page: inline SVG charts and CSS, no script, nothing fetched; with the
rules' impact and the accounts when the definitions have them) and
`aha report --png DIR` (each chart as a PNG for slides)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aha.analyses.paths import PathsResult
from aha.analyses.retention import RetentionResult
from aha.project import ReportResult
from aha.store.notes import Note
from aha.surfaces.web import charts, views
from aha.surfaces.web.report_actions import Actions
from aha.surfaces.web.views import Filters

SECTIONS = (("overview", "Overview"), ("funnel", "Funnel"), ("time-to-value", "Time to value"),
            ("drop-off", "Drop-off"), ("retention", "Retention"))


def html(report: ReportResult, retention: RetentionResult | None, paths: PathsResult | None,
         notes: Sequence[Note] = (), paths_missing: str | None = None, actions: Actions | None = None) -> str:
    """The page; without `retention` and `paths` (accounts as the unit: both follow one user's events) it says so
    in their place. `notes`: the drop-off notes (`aha.store.notes`), shown beside their step (escaped, as every
    text). `paths_missing`: why the user-level drop-off paths are not drawn (no `paid:` to split users by).
    `actions`: the rules' impact and the accounts (`report_actions.gather`), as the dashboard shows them."""
    by_step: dict[str, list[Note]] = {}
    for note in notes:
        by_step.setdefault(note.step, []).append(note)
    context = {**views.overview(report), **views.funnel(report), **views.time_to_value(report),
               **(views.drop_off(paths) if paths is not None else {"paths": None}),
               **(views.retention(retention) if retention is not None else {"retention": None}), "notes": by_step}
    unit = "accounts" if report.unit == "account" else "users"
    title = (f"Activation report{' (accounts as the unit)' if report.unit == 'account' else ''} as of "
             f"{report.overview.as_of:%Y-%m-%d %H:%M} UTC")
    sections = SECTIONS + (actions.sections() if actions is not None else ())
    return views.render("report.html", title=title, served=False, sections=sections, filters=Filters(), path="",
                        who=unit, signups=report.signups, paths_missing=paths_missing, actions=actions, **context)


def write_html(path: Path, report: ReportResult, retention: RetentionResult | None, paths: PathsResult | None,
               notes: Sequence[Note] = (), paths_missing: str | None = None, actions: Actions | None = None) -> None:
    path.write_text(html(report, retention, paths, notes, paths_missing, actions), encoding="utf-8")


def write_pngs(folder: Path, report: ReportResult, retention: RetentionResult | None, paths: PathsResult | None
               ) -> tuple[list[Path], list[str]]:
    """Each chart as a PNG; drop-off and retention only when given (not with accounts as the unit). Returns the
    files written and the charts with nothing to draw (no signup, every window still open), which the command
    names: an empty folder and no word was all a user got for a project without signups."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "activation": charts.activation(report.activation),
        "funnel": charts.funnel(report.funnel, f"{report.unit}s"),
        "time-to-value": charts.histogram(report.timing, f"{report.unit}s"),
        "kaplan-meier": charts.kaplan_meier(report.timing),
        "drop-off": charts.drop_off(paths) if paths is not None else None,
        "retention": charts.retention(retention) if retention is not None else None,
    }
    written, empty = [], []
    for name, chart in made.items():
        if chart is None:
            if name not in ("drop-off", "retention") or report.unit == "user":
                empty.append(name)
            continue
        target = folder / f"{name}.png"
        target.write_bytes(charts.png(chart))
        written.append(target)
    return written, empty
