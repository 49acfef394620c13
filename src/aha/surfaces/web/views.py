"""Page contexts from result objects, and the Jinja2 environment that renders them (autoescape on).

Templates format (`pct`, `interval`, `count`, `duration` filters) and never compute: every number shown is a field
of a result object, or a chart rendered from one (`aha.surfaces.web.charts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import markupsafe

from aha.analyses.discovery import DiscoveryResult, MagicNumber
from aha.analyses.paths import PathsResult
from aha.analyses.retention import RetentionResult
from aha.analyses.revalidation import RevalidationResult
from aha.analyses.scoring import ScoringResult
from aha.analyses.validation import ValidationResult
from aha.engine.discovery import WINDOWS
from aha.errors import UserError
from aha.project import ReportResult
from aha.results import Rate
from aha.surfaces.amounts import amount
from aha.surfaces.cli.render import duration
from aha.surfaces.visible import visible
from aha.surfaces.web import charts

TOP_CANDIDATES = 15  # ranked discovery candidates listed on /milestones
DOSE_CHARTS = 6  # events whose dose–response curve is drawn
PAGES = (("/", "Overview"), ("/funnel", "Funnel"), ("/time-to-value", "Time to value"), ("/drop-off", "Drop-off"),
         ("/retention", "Retention"), ("/milestones", "Milestones"), ("/nudges", "Nudges"), ("/accounts", "Accounts"),
         ("/users", "Users"))


@dataclass(frozen=True)
class Filters:
    """What every view is filtered by; the query parameters of every page (so a URL is a bookmarkable view)."""

    as_of: str | None = None
    segment: str | None = None
    signups_from: str | None = None  # `from`: the signup range's first UTC day (analyses.signups)
    signups_to: str | None = None  # `to`: the day after its last (excluded)
    order: str = "ordered"  # the funnel's: ordered or unordered
    include_immature: bool = False  # the funnel counts open windows too (shown as still open)
    outcome: str = "retention"  # what /milestones' discovery and scoring predict: retention or conversion
    window: int = 14  # discovery's magic-number window in days (one of engine.discovery.WINDOWS)

    @classmethod
    def parse(cls, q: Mapping[str, str]) -> Filters:
        """The filters of a page's query parameters (`query()`'s inverse); a bad value is a UserError naming it."""
        order = q.get("order") or "ordered"
        if order not in ("ordered", "unordered"):
            raise UserError(f"order: {order!r} is not a funnel order; use ordered or unordered.")
        outcome = q.get("outcome") or "retention"
        if outcome not in ("retention", "conversion"):
            raise UserError(f"outcome: {outcome[:40]!r} is not an outcome; use retention or conversion.")
        window = q.get("window", "").strip().removesuffix("d") or "14"
        if window not in {str(w) for w in WINDOWS}:
            raise UserError(f"window: {window[:40]!r} is not a discovery window; use one of "
                            f"{', '.join(str(w) for w in WINDOWS)} (days).")
        return cls(as_of=q.get("as_of", "").strip() or None, segment=q.get("segment", "").strip() or None,
                   signups_from=q.get("from", "").strip() or None, signups_to=q.get("to", "").strip() or None,
                   order=order, include_immature=q.get("include_immature", "").lower() in ("true", "1", "on"),
                   outcome=outcome, window=int(window))

    def query(self) -> str:
        from urllib.parse import urlencode

        pairs = {k: v for k, v in (("as_of", self.as_of), ("segment", self.segment),
                                   ("from", self.signups_from), ("to", self.signups_to),
                                   ("order", None if self.order == "ordered" else self.order),
                                   ("include_immature", "true" if self.include_immature else None),
                                   ("outcome", None if self.outcome == "retention" else self.outcome),
                                   ("window", None if self.window == 14 else str(self.window))) if v}
        return "?" + urlencode(pairs) if pairs else ""

    def options(self) -> dict[str, str | None]:
        """The options every analysis takes: `Project.<analysis>(**filters.options())`."""
        return {"segment": self.segment, "as_of": self.as_of, "signups_from": self.signups_from,
                "signups_to": self.signups_to}


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def interval(r: Rate | None) -> str:
    if r is None or r.low is None or r.high is None:
        return "—"
    return f"{r.low:.1%}–{r.high:.1%}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def points(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} pts"


def shown(value: Any) -> Any:
    """Every value a page writes (`{{ … }}`): text made visible (aha.surfaces.visible: a bidi override or a control
    character in a name is shown as `\\u202e`), then escaped by autoescape; markup the page made itself is kept."""
    return visible(value, lines=True) if isinstance(value, str) and not isinstance(value, markupsafe.Markup) else value


def status(value: str) -> str:
    """A checklist status in words (aha.guidance.checklist.STATUS_LABELS): `not_applicable` is no word for a reader."""
    from aha.guidance.checklist import STATUS_LABELS

    return STATUS_LABELS.get(value, value)


DOT_SEGMENTS = (".", "..")  # ids no path can carry: a browser resolves them (and %2e, %2e%2e) away


def page_of(user_or_account: str, kind: str, as_of: str | None = None) -> str:
    """The link to a user's or an account's page (`kind`: users, accounts). The id is one path segment, `/` and all
    quoted: Jinja's `urlencode` keeps `/`, so the account `x/../y` was linked as `/accounts/x/../y`, which a browser
    resolves to another account's page. `.` and `..` are dot segments however they are written, so they are linked
    by `?id=`, which shows the page."""
    from urllib.parse import quote, urlencode

    query = {"as_of": as_of} if as_of else {}
    if user_or_account in DOT_SEGMENTS:
        return f"/{kind}?" + urlencode({"id": user_or_account, **query})
    return f"/{kind}/{quote(user_or_account, safe='')}" + ("?" + urlencode(query) if query else "")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("aha.surfaces.web", "templates"), finalize=shown,
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters |= {"pct": pct, "interval": interval, "count": count, "duration": duration, "points": points,
                    "status": status, "page_of": page_of, "amount": amount}
    return env


ENV = environment()


def overview(report: ReportResult) -> dict[str, Any]:
    return {"overview": report.overview, "headline": report.headline, "activation": report.activation,
            "activation_chart": charts.svg(charts.activation(report.activation))}


def funnel(report: ReportResult) -> dict[str, Any]:
    return {"funnel": report.funnel, "funnel_chart": charts.svg(charts.funnel(report.funnel, f"{report.unit}s"))}


def time_to_value(report: ReportResult) -> dict[str, Any]:
    return {"timing": report.timing, "histogram_chart": charts.svg(charts.histogram(report.timing, f"{report.unit}s")),
            "km_chart": charts.svg(charts.kaplan_meier(report.timing))}


def drop_off(result: PathsResult) -> dict[str, Any]:
    return {"paths": result, "drop_off_chart": charts.svg(charts.drop_off(result))}


def retention(result: RetentionResult) -> dict[str, Any]:
    return {"retention": result, "retention_chart": charts.svg(charts.retention(result))}


def milestones(result: ValidationResult, trends: RevalidationResult, discovery: DiscoveryResult | None = None,
               scoring: ScoringResult | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"validation": result, "revalidation": trends, "discovery": discovery,
                               "scoring": scoring, "top": (), "magic": (), "dose_chart": "", "computing": False}
    if discovery is not None:
        magic = drawn_magic_numbers(discovery)
        context |= {"top": [k for k in discovery.candidates if k.rank is not None][:TOP_CANDIDATES],
                    "magic": magic, "dose_chart": charts.svg(charts.dose_response(magic, discovery.outcome))}
    return context


def drawn_magic_numbers(discovery: DiscoveryResult) -> list[MagicNumber]:
    """The events whose curves are drawn: those with a magic number, strongest lift first, then the events of the
    best-ranked candidates (a flat curve is worth seeing too), DOSE_CHARTS at most."""
    best: dict[str, int] = {}
    for k in discovery.candidates:
        if k.rank is not None:
            best.setdefault(k.event, k.rank)
    with_step = sorted((m for m in discovery.magic_numbers if m.threshold is not None),
                       key=lambda m: -(m.lift_low or 0.0))
    rest = sorted((m for m in discovery.magic_numbers if m.threshold is None and m.event in best),
                  key=lambda m: best[m.event])
    return [*with_step, *rest][:DOSE_CHARTS]


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(pages=PAGES, **context)
