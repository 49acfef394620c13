"""Vega-Lite charts (written with Altair) from result objects, rendered to SVG or PNG by vl-convert.

Charts reshape result objects into rows; they compute nothing (rates, intervals and curves come from the analyses).
Colours: Okabe–Ito, a palette readable with every common colour-vision deficiency; text at WCAG AA contrast.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import altair as alt

from aha.analyses.discovery import MagicNumber
from aha.analyses.paths import PathsResult
from aha.analyses.report_results import ActivationResult, FunnelResult, TimingResult
from aha.analyses.retention import RetentionResult
from aha.surfaces.visible import visible

G = TypeVar("G")
Chart = alt.TopLevelMixin | None  # None: nothing to draw (no group, or every rate still unobserved)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
INK = "#1f2328"  # 15.8:1 on white
MUTED = "#57606a"  # 6.4:1 on white: AA for small text
WIDTH = 720
MAX_FACET_COLUMNS = 3


def count_axis(scale: str) -> alt.Axis:
    """Counts of users: whole-number ticks (never "0.5 users"), as many as the scale's own top count up to 10.
    `tickMinStep` is ignored by the renderer and a format alone rounds 0.5 to a second "1" ("0 1 1 2 2"); the tick
    count is read from the scale named `scale` in the chart's Vega output (in each facet of a small multiple)."""
    return alt.Axis(format=",d", tickCount=alt.ExprRef(f"min(10, ceil(domain('{scale}')[1]))"))


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure(font="Helvetica, Arial, sans-serif", background="white").configure_axis(
        labelColor=INK, titleColor=INK, gridColor="#d0d7de", domainColor=MUTED, tickColor=MUTED, labelFontSize=13,
        titleFontSize=13, labelLimit=220,
    ).configure_legend(labelColor=INK, titleColor=INK, labelLimit=260, orient="bottom",
                                                labelFontSize=13, titleFontSize=13, symbolSize=120).configure_view(
        stroke=None).configure_header(labelColor=INK, titleColor=INK, labelFontSize=13, labelLimit=260)


def _colour(field: str, domain: Sequence[str], title: str) -> alt.Color:
    return alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=list(domain), range=PALETTE[: len(domain)]))


def largest(groups: Sequence[G], size: Callable[[G], int]) -> G | None:
    """The segment group a one-group chart draws: the largest (the tables beside it show every group)."""
    return max(groups, key=size, default=None)


def titled(chart: alt.TopLevelMixin, segment_by: str | None, group: Any) -> alt.TopLevelMixin:
    if segment_by is None or group is None:
        return chart
    return chart.properties(title=alt.TitleParams(f"{segment_by} = {group.segment} (the largest group)",
                                                  anchor="start", color=INK, fontSize=13))


def _order(rows: list[dict[str, Any]]) -> list[str]:
    """Small multiples in the result's order (the definitions'), not alphabetical."""
    return list(dict.fromkeys(r["milestone"] for r in rows))


def funnel(result: FunnelResult, who: str = "users") -> Chart:
    """Users at each step as bars; users still inside a step's window stacked apart (lighter), never as drop-off."""
    rows = []
    for group in result.groups:
        for order, step in enumerate(group.steps):
            rows.append({"segment": group.segment, "step": step.name, "order": order, "status": "reached",
                         "users": step.entities})
            if step.in_progress:
                rows.append({"segment": group.segment, "step": step.name, "order": order,
                             "status": "still open", "users": step.in_progress})
    if not any(r["users"] for r in rows):  # every signup's window still open: the page says so, not an empty axis
        return None
    steps = [s.name for s in result.groups[0].steps]
    bars = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("step:N", sort=steps, title=None),
        x=alt.X("users:Q", title=who, stack="zero", axis=count_axis("x")),
        color=_colour("status", ["reached", "still open"], "status"),
        opacity=alt.value(1.0),
        tooltip=["segment:N", "step:N", "status:N", alt.Tooltip("users:Q", format=",")],
    ).properties(width=WIDTH, height=max(28 * len(steps), 120))
    if len(result.groups) > 1:
        return _config(bars.properties(width=260).facet(
            facet=alt.Facet("segment:N", title=None), columns=2))
    return _config(bars)


def histogram(result: TimingResult, who: str = "users") -> Chart:
    """Time to each milestone among those who reached it, one small multiple per milestone (the largest group).
    Each count axis names what it counts: an account milestone counts accounts, whatever the report's unit (`who`).
    When users' and accounts' milestones are both drawn, they are two rows of small multiples, one per unit (users
    first), each axis titled with its own unit: one axis cannot say both."""
    group = largest(result.groups, lambda g: sum(m.reached for m in g.milestones))
    units: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(group.milestones if group else (), key=lambda m: m.entity != "user"):
        units.setdefault(f"{m.entity}s", []).extend(
            {"milestone": m.name, "bin": b.label, "order": i, "count": b.entities} for i, b in enumerate(m.histogram))
    if not any(r["count"] for rows in units.values() for r in rows):  # nobody reached a milestone: the page says so
        return None
    drawn = list(units.items())
    if len(drawn) == 1:
        unit, rows = drawn[0]
        return _config(titled(_histogram_facets(rows, unit, "child_y"), result.segment_by, group))
    return _config(titled(alt.vconcat(*(_histogram_facets(rows, unit, f"concat_{i}_child_y")
                                        for i, (unit, rows) in enumerate(drawn))), result.segment_by, group))


def _histogram_facets(rows: list[dict[str, Any]], unit: str, scale: str) -> alt.FacetChart:
    """One unit's small multiples; `scale`: the name of their count scale in the compiled chart (count_axis)."""
    labels: list[str] = list(dict.fromkeys(r["bin"] for r in sorted(rows, key=lambda r: int(r["order"]))))
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("bin:O", sort=labels, title="time to reach"),
        y=alt.Y("count:Q", title=unit, axis=count_axis(scale)),
        tooltip=["milestone:N", "bin:N", alt.Tooltip("count:Q", format=",", title=unit)],
    ).properties(width=240, height=140)
    facets = chart.facet(facet=alt.Facet("milestone:N", title=None, sort=_order(rows),
                                         header=alt.Header(labelLimit=320)), columns=MAX_FACET_COLUMNS)
    return facets.resolve_scale(x="independent", y="independent")


def kaplan_meier(result: TimingResult) -> Chart:
    """The Kaplan–Meier share reaching each milestone by time since signup (hours), by segment."""
    groups = sorted(result.groups, key=lambda g: -sum(m.eligible for m in g.milestones))[: len(PALETTE)]
    segments = [g.segment for g in groups]
    rows = [{"milestone": m.name, "segment": g.segment, "hours": p.seconds / 3600, "share": p.reached_share}
            for g in groups for m in g.milestones for p in m.km_curve]
    if not rows:
        return None
    chart = alt.Chart(alt.Data(values=rows)).mark_line(interpolate="step-after").encode(
        x=alt.X("hours:Q", title="hours since signup"),
        y=alt.Y("share:Q", title="reached (Kaplan–Meier)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=_colour("segment", segments, "segment") if len(segments) > 1 else alt.value(PALETTE[0]),
        tooltip=["milestone:N", "segment:N", alt.Tooltip("hours:Q", format=",.1f"),
                 alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=240, height=140)
    facets = chart.facet(facet=alt.Facet("milestone:N", title=None, sort=_order(rows)), columns=MAX_FACET_COLUMNS)
    return _config(facets.resolve_scale(x="independent"))


def activation(result: ActivationResult) -> Chart:
    """Activation at Day N by signup cohort (the largest segment group). A cohort only partly observed at Day N is drawn
    as a hollow point off the line ("partial"), so a young cohort never looks like a dip; unobserved: not drawn."""
    group = largest(result.groups, lambda g: g.total.signups)
    rows = []
    for cohort in group.cohorts if group else ():
        for day, rate in zip(result.days, cohort.rates, strict=True):
            if rate is None or rate.value is None:
                continue
            rows.append({"cohort": cohort.cohort.isoformat() if cohort.cohort else "", "day": f"Day {day}",
                         "rate": rate.value, "low": rate.low, "high": rate.high, "users": rate.denominator,
                         "reached": rate.numerator,
                         "observed": "complete" if rate.denominator == cohort.signups else "partial (window open)"})
    if not rows:
        return None
    days = [f"Day {d}" for d in result.days]
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=cohort_axis(result.period, sorted({str(r["cohort"]) for r in rows if r["cohort"]})),
        color=_colour("day", days, "activation at"),
    )
    when = alt.Tooltip("cohort:T", title="cohort", timeUnit="utcyearmonthdate",
                       format=COHORT_FORMAT.get(result.period, "%Y-%m-%d"))
    tooltip = [when, "day:N", "observed:N", alt.Tooltip("rate:Q", format=".1%"),
               alt.Tooltip("low:Q", format=".1%"), alt.Tooltip("high:Q", format=".1%"), "reached:Q", "users:Q"]
    y = alt.Y("rate:Q", title="activated", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, rate_ceiling(rows)]))
    complete = alt.datum.observed == "complete"
    line = base.transform_filter(complete).mark_line(point=True).encode(y=y, tooltip=tooltip)
    band = base.transform_filter(complete).mark_errorbar().encode(y=alt.Y("low:Q", title="activated"), y2="high:Q")
    layers = [band, line]
    if any(r["observed"] != "complete" for r in rows):  # an empty layer's legend has no size: an unbounded SVG
        layers.append(base.transform_filter(~complete).mark_point(filled=False, size=60).encode(
            y=y, shape=alt.Shape("observed:N", title=None), tooltip=tooltip))
    layered = alt.layer(*layers).properties(width=WIDTH, height=280)
    return _config(titled(layered, result.segment_by, group))


COHORT_FORMAT = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}


def cohort_axis(period: str, cohorts: Sequence[str]) -> alt.X:
    """Cohorts are UTC days, ISO weeks (their Monday) or months: a tick and a label at each cohort's own date, read
    and drawn in UTC. Drawn in the renderer's local time, a cohort's point sat hours before its date (Sun 1 Mar
    16:00 for the week of 2 Mar, with TZ=America/Los_Angeles) between day ticks that never named a week."""
    fmt = COHORT_FORMAT.get(period, "%Y-%m-%d")
    return alt.X("cohort:T", title=f"signup {period}", scale=alt.Scale(type="utc"),
                 axis=alt.Axis(values=[_utc_ms(c) for c in cohorts], format=fmt,
                               labelOverlap="greedy", labelAngle=0 if len(cohorts) <= 8 else -45))


def _utc_ms(day: str) -> int:
    from datetime import UTC, date, datetime, time

    return int(datetime.combine(date.fromisoformat(day), time(), UTC).timestamp() * 1000)


def rate_ceiling(rows: Sequence[dict[str, Any]]) -> float:
    """The top of a rate axis that starts at 0: the highest interval end rounded up to the next 10%. On 0–100%, lines
    around 38% (the sample's activation) were a flat bundle in the lower third; zero stays, so no gap is inflated."""
    highest = max(float(r["high"] if r["high"] is not None else r["rate"]) for r in rows)
    return min(1.0, max(0.1, math.ceil(round(highest * 10, 6)) / 10))


WHO = ["reached", "not reached"]
LINE_KEY = alt.Legend(symbolType="stroke", symbolSize=500, symbolStrokeWidth=2.5)


def retention(result: RetentionResult) -> Chart:
    """Retention curves of users who reached each milestone vs not (the largest segment group)."""
    group = largest(result.groups, lambda g: sum(m.rule_reached.denominator + m.rule_not_reached.denominator
                                                 for m in g.milestones))
    rows = [{"milestone": m.name, "who": who, "day": p.day, "rate": p.rate.value, "users": p.rate.denominator}
            for m in (group.milestones if group else ())
            for who, points in (("reached", m.reached), ("not reached", m.not_reached))
            for p in points if p.rate.value is not None]
    if not rows:
        return None
    chart = alt.Chart(alt.Data(values=rows)).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("day:Q", title=f"{'day' if result.bucket == 'day' else 'week start day'} since signup"),
        y=alt.Y("rate:Q", title="active", axis=alt.Axis(format="%")),
        # the legend draws a stretch of each line (a dashed circle read as a blob), colour and dash merged into one
        color=alt.Color("who:N", title="users who", scale=alt.Scale(domain=WHO, range=PALETTE[:2]), legend=LINE_KEY),
        strokeDash=alt.StrokeDash("who:N", title="users who", scale=alt.Scale(domain=WHO, range=[[1, 0], [5, 3]]),
                                  legend=LINE_KEY),
        tooltip=["milestone:N", "who:N", "day:Q", alt.Tooltip("rate:Q", format=".1%"), "users:Q"],
    ).properties(width=240, height=140)
    facets = chart.facet(facet=alt.Facet("milestone:N", title=None, sort=_order(rows)), columns=MAX_FACET_COLUMNS)
    return _config(titled(facets, result.segment_by, group))


def drop_off(result: PathsResult) -> Chart:
    """Share of users lost between consecutive funnel milestones (their window closed), with 95% intervals, by
    segment (the largest groups, as many as the palette has colours)."""
    groups = sorted(result.groups, key=lambda g: -g.users)[: len(PALETTE)]
    rows = [{"segment": g.segment, "transition": f"{d.from_name} → {d.to_name}", "lost": d.lost_share.value,
             "low": d.lost_share.low, "high": d.lost_share.high, "users": d.reached_from, "lost users": d.lost}
            for g in groups for d in g.drop_offs if d.lost_share.value is not None]
    if not rows:
        return None
    segments = [g.segment for g in groups]
    transitions = list(dict.fromkeys(str(r["transition"]) for r in rows))
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("transition:N", sort=transitions, title=None, axis=alt.Axis(labelLimit=420)),
        yOffset=alt.YOffset("segment:N", sort=segments),
        color=_colour("segment", segments, result.segment_by or "segment"),
    )
    x = alt.X("lost:Q", title="lost before the next milestone", axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    bars = base.mark_bar().encode(x=x, tooltip=["transition:N", "segment:N", alt.Tooltip("lost:Q", format=".1%"),
                                                alt.Tooltip("low:Q", format=".1%"),
                                                alt.Tooltip("high:Q", format=".1%"), "lost users:Q", "users:Q"])
    whiskers = base.mark_rule(strokeWidth=1.5).encode(x="low:Q", x2="high:Q", color=alt.value(INK))
    return _config(alt.layer(bars, whiskers).properties(width=WIDTH - 160, height=alt.Step(22)))


def dose_response(magic: Sequence[MagicNumber], outcome: str) -> Chart:
    """Each event's dose–response curve: the outcome rate by how many times it was done in the window, with 95%
    intervals, one small multiple per event; the magic number (the threshold) as a dashed rule where there is one."""
    rows = [{"event": m.event, "times": b.label, "order": i, "rate": b.rate.value, "low": b.rate.low,
             "high": b.rate.high, "users": b.rate.denominator, "outcome users": b.rate.numerator,
             "magic": m.threshold is not None and b.lower == m.threshold}
            for m in magic for i, b in enumerate(m.bands) if b.rate.value is not None]
    if not rows:
        return None
    title = f"{outcome.split(':')[0]} rate"  # "retention: active on day 30 …" → "retention rate"
    x = alt.X("times:O", title="times done in the window", sort=alt.SortField("order"), axis=alt.Axis(labelAngle=0))
    base = alt.Chart().encode(x=x)
    y = alt.Y("rate:Q", title=title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    whiskers = base.mark_rule(strokeWidth=1.5, color=MUTED).encode(y=alt.Y("low:Q", title=title), y2="high:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=40), color=PALETTE[0]).encode(
        y=y, tooltip=["event:N", "times:O", alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%"),
                      alt.Tooltip("high:Q", format=".1%"), "outcome users:Q", "users:Q"])
    threshold = base.transform_filter(alt.datum.magic).mark_rule(strokeDash=[4, 3], color=PALETTE[5],
                                                                  strokeWidth=2)
    layered = alt.layer(whiskers, line, threshold, data=alt.Data(values=rows)).properties(width=240, height=150)
    facets = layered.facet(facet=alt.Facet("event:N", title=None, sort=list(dict.fromkeys(m.event for m in magic)),
                                           header=alt.Header(labelLimit=300)), columns=MAX_FACET_COLUMNS)
    return _config(facets.resolve_scale(x="independent"))


def spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    # The specs are fixed by this module (validating costs ~1 s); the names in their data are users' (`_shown`).
    return dict(_shown(chart.to_dict(validate=False)))


LONGEST_TEXT = 300  # characters of a text in a chart; the widest label (420 px) shows about 60 of them
SHORT_WIDE_TEXT = 12  # characters of a text holding one beyond the BMP (an emoji): 12 at 16 px fit in 220 px
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


def _shown(value: Any) -> Any:
    """Every text of a spec made visible (aha.surfaces.visible: the renderer would draw a bidi override's reordering
    and a control character's box) and cut before the renderer has to: its own cut of a label wider than its limit
    took 19 s of CPU for a 10,000-character name, and split an emoji's UTF-16 pair, failing the whole chart
    ("unexpected end of hex escape"), so a text with an emoji is cut to what fits the narrowest label unsplit."""
    if isinstance(value, str):
        text = visible(value)
        limit = SHORT_WIDE_TEXT if _BEYOND_BMP.search(text) else LONGEST_TEXT
        return text if len(text) <= limit else text[:limit - 1] + "…"
    if isinstance(value, dict):
        return {visible(k): _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def svg(chart: Chart) -> str:
    """The chart as an SVG document (text escaped by the renderer), to inline in a page; the same spec is rendered
    once (a dashboard shows the same cached result to every visitor)."""
    return "" if chart is None else _svg(json.dumps(spec(chart), sort_keys=True))


@functools.lru_cache(maxsize=128)
def _svg(spec_json: str) -> str:
    import vl_convert

    return str(vl_convert.vegalite_to_svg(spec_json))


def png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(json.dumps(spec(chart)), scale=scale))


def warm() -> None:
    """Start the renderer (its JavaScript engine takes ~0.5 s to boot) before the first page asks for a chart."""
    svg(alt.Chart(alt.Data(values=[{"x": 0}])).mark_point().encode(x="x:Q"))
