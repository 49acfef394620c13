"""How many signups reach each milestone in order, where do they drop off, and how long does each step take?

SEMANTICS.md, "Funnel": ordered by default; only users whose every step window has closed count (maturity), so young
cohorts never look like drop-off. With `include_immature`, everyone counts and the open windows are shown apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aha.analyses import report_sql
from aha.analyses.report_results import FunnelGroup, FunnelResult, FunnelStep, Order
from aha.analyses.state import MilestoneState
from aha.analyses.wide import applicable_col, end_col, reach_col, users_wide
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.columns import SEGMENT
from aha.results import Rate, number
from aha.store import Store

if TYPE_CHECKING:
    import ibis.expr.types as ir

SIGNUP = "signup"


def step_ids(definitions: Definitions) -> list[str]:
    return [*definitions.funnel_ids, *([c.PAID] if definitions.paid else [])]


def funnel_query(wide: ir.Table, steps: list[str], as_of: datetime, order: Order, include_immature: bool) -> ir.Table:
    """Aggregated counts per segment; one row per segment, a few columns per step."""
    import ibis

    in_scope = ibis.and_(*[wide[applicable_col(s)] == 1 for s in steps]).fill_null(False)
    mature = ibis.and_(*[wide[end_col(s)] <= ibis.literal(as_of) for s in steps]).fill_null(False)
    population = in_scope if include_immature else in_scope & mature
    # How far each user got (-1: not counted, 0: signed up, i: made step i), as one CASE whose branches may assume
    # the steps before them held: the query grows with the number of steps, not with its square.
    branches: list[tuple[ir.BooleanValue, int]] = [(~population, -1)]
    previous: ir.TimestampValue = wide[c.T0]
    for i, step in enumerate(steps, start=1):
        reach = wide[reach_col(step)]
        made = reach.notnull() & (reach >= previous) if order == "ordered" else reach.notnull()
        branches.append((~made.fill_null(False), i - 1))
        previous = reach
    rows = wide.mutate(_depth=ibis.cases(*branches, else_=len(steps)))
    depth = rows._depth
    metrics: dict[str, Any] = {
        "signups": rows.count(),
        "immature": (in_scope & ~mature).cast("int64").sum() if not include_immature else ibis.literal(0),
        "out_of_scope": (~in_scope).cast("int64").sum(),
        "n_0": (depth >= 0).cast("int64").sum(),
    }
    previous = rows[c.T0]
    for i, step in enumerate(steps, start=1):
        reach = rows[reach_col(step)]
        here = depth >= i
        metrics[f"n_{i}"] = here.cast("int64").sum()
        metrics[f"any_{i}"] = ((depth >= 0) & reach.notnull()).cast("int64").sum()
        # Still able to make the step: not reached and the window open. A reach before the previous step's (ordered
        # mode) is final, so that user is a drop-off for good, not in progress.
        still = (depth == i - 1) & reach.isnull() & (rows[end_col(step)] > ibis.literal(as_of))
        metrics[f"open_{i}"] = still.cast("int64").sum()
        from_signup = (reach.epoch_seconds() - rows[c.T0].epoch_seconds()).cast("float64")
        metrics[f"med_signup_{i}"] = from_signup.median(where=here)
        if order == "ordered":
            from_previous = (reach.epoch_seconds() - previous.epoch_seconds()).cast("float64")
            metrics[f"med_prev_{i}"] = from_previous.median(where=here)
        previous = reach
    return rows.group_by(SEGMENT).aggregate(**metrics).order_by(SEGMENT)


def summarise(rows: list[dict[str, Any]], steps: list[str], names: dict[str, str], as_of: datetime, order: Order,
              include_immature: bool, segment_by: str | None) -> FunnelResult:
    groups = []
    for row in rows:
        counts = [int(row[f"n_{i}"] or 0) for i in range(len(steps) + 1)]
        built = [FunnelStep(SIGNUP, names.get(SIGNUP, "Signed up"), counts[0], 0, None, None,
                            Rate.of(counts[0], counts[0]), None, 0.0)]
        for i, step in enumerate(steps, start=1):
            built.append(FunnelStep(
                id=step, name=names[step], entities=counts[i], in_progress=int(row[f"open_{i}"] or 0),
                drop_off=counts[i - 1] - counts[i], conversion_from_previous=Rate.of(counts[i], counts[i - 1]),
                conversion_overall=Rate.of(counts[i], counts[0]),
                median_seconds_from_previous=number(row.get(f"med_prev_{i}")),
                median_seconds_from_signup=number(row.get(f"med_signup_{i}")),
                reached_any_order=int(row.get(f"any_{i}") or 0),
            ))
        groups.append(FunnelGroup(str(row[SEGMENT]), int(row["signups"]), int(row["immature"] or 0),
                                  int(row["out_of_scope"] or 0), tuple(built)))
    return FunnelResult(order, include_immature, as_of, segment_by, tuple(groups))


def run(store: Store, ms: MilestoneState, order: Order = "ordered", include_immature: bool = False,
        segment: str | None = None) -> FunnelResult:
    steps = step_ids(ms.definitions)
    names = {m.id: m.label for m in ms.definitions.milestones} | {c.PAID: "Paid", SIGNUP: ms.definitions.signup.label}
    rows = report_sql.read(store, ms, ("funnel", order, str(include_immature), segment or ""), lambda m: funnel_query(
        users_wide(m, steps, segment), steps, m.as_of, order, include_immature))
    return summarise(rows, steps, names, ms.as_of, order, include_immature, segment)

