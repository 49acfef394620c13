"""`aha report --html FILE` (one self-contained page: inline SVG charts and CSS, no script, nothing fetched) and
`aha report --png DIR` (each chart as a PNG for slides)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aha.analyses.paths import PathsResult
from aha.analyses.retention import RetentionResult
from aha.project import ReportResult
from aha.store.notes import Note
from aha.surfaces.web import charts, views
from aha.surfaces.web.views import Filters

SECTIONS = (("overview", "Overview"), ("funnel", "Funnel"), ("time-to-value", "Time to value"),
            ("drop-off", "Drop-off"), ("retention", "Retention"))


def html(report: ReportResult, retention: RetentionResult, paths: PathsResult, notes: Sequence[Note] = ()) -> str:
    """`notes`: the drop-off notes (`aha.store.notes`), shown beside their step (escaped, as every text)."""
    by_step: dict[str, list[Note]] = {}
    for note in notes:
        by_step.setdefault(note.step, []).append(note)
    context = {**views.overview(report), **views.funnel(report), **views.time_to_value(report),
               **views.drop_off(paths), **views.retention(retention), "notes": by_step}
    title = f"Activation report as of {report.overview.as_of:%Y-%m-%d %H:%M} UTC"
    return views.render("report.html", title=title, served=False, sections=SECTIONS, filters=Filters(), path="",
                        signups=report.signups, **context)


def write_html(path: Path, report: ReportResult, retention: RetentionResult, paths: PathsResult,
               notes: Sequence[Note] = ()) -> None:
    path.write_text(html(report, retention, paths, notes), encoding="utf-8")


def write_pngs(folder: Path, report: ReportResult, retention: RetentionResult, paths: PathsResult) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "activation": charts.activation(report.activation), "funnel": charts.funnel(report.funnel),
        "time-to-value": charts.histogram(report.timing), "kaplan-meier": charts.kaplan_meier(report.timing),
        "drop-off": charts.drop_off(paths), "retention": charts.retention(retention),
    }
    written = []
    for name, chart in made.items():
        if chart is None:
            continue
        target = folder / f"{name}.png"
        target.write_bytes(charts.png(chart))
        written.append(target)
    return written
