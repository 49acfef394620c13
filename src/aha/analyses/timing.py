"""How long from signup to each milestone? Percentiles among those who made it, and Kaplan–Meier over everyone.

SEMANTICS.md, "Time to value": the percentiles describe reachers only, which flatters a milestone few reach; the
Kaplan–Meier median counts everyone eligible, censoring each at min(W, as_of − t0), so it is the honest headline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from aha.analyses import report_sql
from aha.analyses.report_results import HistogramBin, KmPoint, MilestoneTiming, TimingGroup, TimingResult
from aha.analyses.state import MilestoneState
from aha.engine import columns as c
from aha.engine.columns import SEGMENT
from aha.engine.tracked import tracked
from aha.results import number
from aha.stats.survival import kaplan_meier
from aha.store import Store

if TYPE_CHECKING:
    import ibis.expr.types as ir

# Histogram edges in seconds: human-sized buckets from a minute to a month (the last bucket is open-ended).
EDGES = (0, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)
LABELS = ("<1m", "1–5m", "5–15m", "15m–1h", "1–4h", "4–24h", "1–3d", "3–7d", "7–14d", "14–30d", "≥30d")


def _rows(ms: MilestoneState) -> list[ir.Table]:
    """One row per eligible (entity, milestone): in scope, t0 ≤ as_of, as one select per milestone (to be unioned)
    from the wide state with the milestone's window as a constant (the `state` view would compute window ends and
    statuses first)."""
    import ibis

    from aha.engine.state import applicable


    entities, as_of = ms.entities, ms.as_of
    parts = []
    for k, m in enumerate(tracked(ms.definitions)):
        rows = entities.filter(applicable(entities, k, m),
                               entities[c.T0] <= ibis.literal(as_of))
        parts.append(rows.select(
            c.ENTITY_KEY, **{c.MILESTONE_ID: ibis.literal(m.id), c.T0: rows[c.T0], c.REACH_TIME: rows[c.reach_of(k)]},
            _window=ibis.literal(float(m.within.total_seconds())),
        ))
    return parts


def _base(joined: ir.Table, ms: MilestoneState, segment: str | None) -> ir.Table:
    """`_rows` with time to milestone and the censored duration; a segment is read once per entity and joined to
    the rows, not parsed again for every milestone."""
    import ibis

    from aha.engine.segments import segment_column


    entities, as_of = ms.entities, ms.as_of
    if segment is None:  # no join just to attach "(all)"
        joined = joined.mutate(**{SEGMENT: segment_column(entities, None)})
    else:
        joined = joined.join(entities.select(c.ENTITY_KEY, **{SEGMENT: segment_column(entities, segment)}),
                             c.ENTITY_KEY)
    ttm = (joined[c.REACH_TIME].epoch_seconds() - joined[c.T0].epoch_seconds()).cast("float64")
    observed = (ibis.literal(as_of).epoch_seconds() - joined[c.T0].epoch_seconds()).cast("float64")
    censor_at = ibis.cases((joined._window < observed, joined._window), else_=observed)
    return joined.mutate(
        _ttm=ttm, _reached=joined[c.REACH_TIME].notnull(),
        _duration=ibis.cases((joined[c.REACH_TIME].notnull(), ttm), else_=censor_at),
    )


def percentiles_query(base: ir.Table) -> ir.Table:
    reached = base._reached
    # One multi-quantile aggregate: one sort of each group's times instead of four.
    return base.group_by([SEGMENT, c.MILESTONE_ID]).aggregate(
        eligible=base.count(), reached=reached.cast("int64").sum(), window=base._window.max(),
        quantiles=base._ttm.quantile(list(QUANTILES), where=reached),
    )


QUANTILES = (0.25, 0.5, 0.75, 0.9)


KM_RESOLUTION = 60  # seconds: Kaplan–Meier runs on whole minutes, so millions of users give thousands of rows
# The histogram is counted from the same per-minute rows: exact, because every edge is a whole minute (a time
# floored to the minute is below an edge exactly when the time is).
assert all(edge % KM_RESOLUTION == 0 for edge in EDGES)


def survival_query(base: ir.Table) -> ir.Table:
    """Grouped (duration, reached) rows: Kaplan–Meier needs no more than that.

    Durations are floored to the minute for this estimate only (events and censorings alike, so their order is
    kept; at a tie KM counts the events first). The percentiles above stay exact to the second.
    """
    minute = (base._duration // KM_RESOLUTION) * KM_RESOLUTION
    return base.group_by([SEGMENT, c.MILESTONE_ID, minute.name("_duration"), "_reached"]).aggregate(n=base.count())


def summarise(percentiles: list[dict[str, Any]], survival: Mapping[str, Any], names: Mapping[str, tuple[str, str]],
              as_of: datetime, segment_by: str | None) -> TimingResult:
    """`survival` holds the grouped Kaplan–Meier rows as columns (segment, milestone_id, _duration, _reached, n);
    the histogram of times to reach is counted from its reached rows."""
    columns = {k: np.asarray(survival[k]) for k in (SEGMENT, c.MILESTONE_ID, "_duration", "_reached", "n")}
    by_segment: dict[str, list[MilestoneTiming]] = defaultdict(list)
    order = list(names)
    for row in sorted(percentiles, key=lambda r: (r[SEGMENT], order.index(r[c.MILESTONE_ID]))):
        key = (row[SEGMENT], row[c.MILESTONE_ID])
        rows = (columns[SEGMENT] == key[0]) & (columns[c.MILESTONE_ID] == key[1])
        km = kaplan_meier(columns["_duration"][rows], columns["_reached"][rows], columns["n"][rows])
        reached = rows & columns["_reached"].astype(bool)
        bucket = np.searchsorted(EDGES, columns["_duration"][reached], side="right") - 1
        counts = np.bincount(bucket, weights=columns["n"][reached], minlength=len(EDGES))
        hist = tuple(
            HistogramBin(LABELS[i], float(EDGES[i]), float(EDGES[i + 1]) if i + 1 < len(EDGES) else None,
                         int(counts[i]))
            for i in range(len(EDGES)) if EDGES[i] < float(row["window"])
        )
        name, entity = names[row[c.MILESTONE_ID]]
        found = row["quantiles"]
        q = [number(v) for v in found] if isinstance(found, list | np.ndarray) else [None] * len(QUANTILES)
        by_segment[row[SEGMENT]].append(MilestoneTiming(
            milestone_id=row[c.MILESTONE_ID], name=name, entity=entity, window_seconds=float(row["window"]),
            eligible=int(row["eligible"]), reached=int(row["reached"] or 0),
            p25_seconds=q[0], median_seconds=q[1], p75_seconds=q[2], p90_seconds=q[3], histogram=hist,
            km_median_seconds=km.median,
            km_median_low_seconds=km.median_low, km_median_high_seconds=km.median_high,
            km_reached_share=km.reached_by_end,
            km_followed_seconds=float(columns["_duration"][rows].max()) if rows.any() else None,
            km_curve=tuple(KmPoint(t, share) for t, share in km.curve),
        ))
    groups = tuple(TimingGroup(seg, tuple(ms)) for seg, ms in sorted(by_segment.items()))
    return TimingResult(as_of, segment_by, groups)


def run(store: Store, ms: MilestoneState, segment: str | None = None) -> TimingResult:
    # with accounts as the unit the milestones are relabelled as the unit's own (account_level): each is an account's
    names = {m.id: (m.label if m.id != c.PAID else "Paid", c.ACCOUNT if ms.unit == c.ACCOUNT else m.entity)
             for m in tracked(ms.definitions)}
    if report_sql.usable(store, ms):  # the kept statements (aha.analyses.report_sql), no expression built
        views_rows, views_base, percentiles_sql, survival_sql = report_sql.statements(
            store, ms, ("timing", segment or ""), lambda m: _compile(store, m, segment))
        store.raw.execute(views_rows)
        store.raw.execute(views_base)
        percentiles = report_sql.records(store.raw, percentiles_sql)
        survival: Any = store.raw.sql(survival_sql).to_arrow_table()
    else:
        rows = store.temp_union_view(ROWS_VIEW, _rows(ms))  # its parts compiled apart: cheaper
        base = store.temp_view(BASE_VIEW, _base(rows, ms, segment))  # read by two queries
        percentiles = store.records(percentiles_query(base))
        survival = store.to_pyarrow(survival_query(base))
    return summarise(
        percentiles,
        {name: _numpy(column) for name, column in zip(
            (SEGMENT, c.MILESTONE_ID, "_duration", "_reached", "n"), survival.columns, strict=True)},
        names, ms.as_of, segment,
    )


ROWS_VIEW, BASE_VIEW = "aha_timing_rows", "aha_timing_base"


def _compile(store: Store, ms: MilestoneState, segment: str | None) -> list[str]:
    """`run`'s statements: its two views (each created as it is compiled, for the next to be bound against) and
    its two reads."""
    views_rows = f'CREATE OR REPLACE TEMP VIEW "{ROWS_VIEW}" AS {store.union_sql(_rows(ms))}'
    store.raw.execute(views_rows)
    base = _base(store.ibis.table(ROWS_VIEW, database="temp"), ms, segment)
    views_base = f'CREATE OR REPLACE TEMP VIEW "{BASE_VIEW}" AS {store.ibis.compile(base)}'
    store.raw.execute(views_base)
    bound = store.ibis.table(BASE_VIEW, database="temp")
    return [views_rows, views_base, str(store.ibis.compile(percentiles_query(bound))),
            str(store.ibis.compile(survival_query(bound)))]


def _numpy(column: Any) -> np.ndarray:
    """An Arrow column as numpy through Python values: pyarrow's `to_numpy` imports pandas (0.3–0.8 s that nothing
    else in a report needs), and these grouped rows are few. Text as objects; numbers with NULL as float NaN."""
    values = column.to_pylist()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.array(values, dtype=object)
    if column.null_count:
        return np.array(values, dtype=float)
    return np.array(values)
