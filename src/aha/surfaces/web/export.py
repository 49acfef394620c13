"""`aha report --html FILE` (one self-contained page: inline SVG charts and CSS, no script, nothing fetched) and
`aha report --png DIR` (each chart as a PNG for slides)."""

from __future__ import annotations

from pathlib import Path

from aha.analyses.retention import RetentionResult
from aha.project import ReportResult
from aha.surfaces.web import charts, views
from aha.surfaces.web.views import Filters

SECTIONS = (("overview", "Overview"), ("funnel", "Funnel"), ("time-to-value", "Time to value"),
            ("retention", "Retention"))


def html(report: ReportResult, retention: RetentionResult) -> str:
    context = {**views.overview(report), **views.funnel(report), **views.time_to_value(report),
               **views.retention(retention)}
    title = f"Activation report as of {report.overview.as_of:%Y-%m-%d %H:%M} UTC"
    return views.render("report.html", title=title, served=False, sections=SECTIONS, filters=Filters(), path="",
                        **context)


def write_html(path: Path, report: ReportResult, retention: RetentionResult) -> None:
    path.write_text(html(report, retention), encoding="utf-8")


def write_pngs(folder: Path, report: ReportResult, retention: RetentionResult) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "activation": charts.activation(report.activation), "funnel": charts.funnel(report.funnel),
        "time-to-value": charts.histogram(report.timing), "kaplan-meier": charts.kaplan_meier(report.timing),
        "retention": charts.retention(retention),
    }
    written = []
    for name, chart in made.items():
        if chart is None:
            continue
        target = folder / f"{name}.png"
        target.write_bytes(charts.png(chart))
        written.append(target)
    return written
