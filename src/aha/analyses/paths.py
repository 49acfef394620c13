"""In which order do users reach the funnel's milestones, do converters take other paths, and where do we lose them?

Population: signed-up users in scope for every funnel milestone whose paid horizon and every funnel milestone window
have closed (as the funnel's maturity), so an open window never reads as a path that stopped or a user who did not pay.
A user's path is the funnel milestones they reached, ordered by reach time, ties by the milestones' funnel order;
"(none)" when they reached none. Converters paid within the horizon.

The path is built in the engine (an ordered `group_concat` per user) and only user counts per segment, path and
conversion come back: a few hundred rows at most, whatever the number of users.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from aha.analyses.defaults import PATHS_TOP
from aha.analyses.funnel import SIGNUP
from aha.analyses.left_out import account_milestones
from aha.analyses.state import MilestoneState
from aha.definitions import Definitions
from aha.engine import columns as c
from aha.engine.segments import SEGMENT, segment_column
from aha.errors import UserError
from aha.results import Rate, ResultMixin
from aha.store import Store

TOP = PATHS_TOP
NONE = "(none)"  # reached no funnel milestone
OTHER = "(other)"  # every path outside the top ones, together
ARROW = " → "
_SEP = ","  # joins ids in the engine; milestone ids are identifiers, so it never occurs inside one


@dataclass(frozen=True, slots=True)
class PathCount:
    path: str  # "workspace → data_connected → core_workflow", "(none)" or "(other)"
    milestones: tuple[str, ...]  # the ids in order; empty for "(none)" and "(other)"
    users: int
    converters: int
    non_converters: int
    share_of_converters: Rate  # converters on this path / all converters
    share_of_non_converters: Rate
    conversion: Rate  # converters / users on this path


@dataclass(frozen=True, slots=True)
class DropOff:
    from_id: str
    to_id: str
    from_name: str
    to_name: str
    reached_from: int  # users who reached `from_id`
    continued: int  # of whom also reached `to_id` (in any order)
    lost: int  # of whom never reached `to_id` (its window closed)
    lost_share: Rate  # lost / reached_from
    conversion_continued: Rate
    conversion_lost: Rate
    gap_points: float | None  # conversion_continued − conversion_lost, in percentage points


@dataclass(frozen=True, slots=True)
class PathsGroup:
    segment: str
    signups: int  # signed-up users in this segment, before maturity and scope
    immature: int  # left out: the paid horizon or a funnel milestone's window is still open
    out_of_scope: int  # left out: a funnel milestone's scope excludes them
    users: int  # the population
    converters: int
    paths: tuple[PathCount, ...]  # most common first, at most `top`, then "(other)" if any
    distinct_paths: int
    drop_offs: tuple[DropOff, ...]  # signup → the first funnel milestone, then each consecutive pair


@dataclass(frozen=True, slots=True)
class PathsResult(ResultMixin):
    kind: ClassVar[str] = "paths"
    as_of: datetime
    funnel: tuple[str, ...]
    conversion: str  # the outcome in plain words
    top: int
    segment_by: str | None
    groups: tuple[PathsGroup, ...]
    notes: tuple[str, ...] = ()  # what was left out and why (account milestones)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"segment": g.segment, "path": p.path, "users": p.users, "converters": p.converters,
             "non_converters": p.non_converters, "share_of_converters": p.share_of_converters.value,
             "share_of_non_converters": p.share_of_non_converters.value, "conversion": p.conversion.value}
            for g in self.groups for p in g.paths
        ]


def paths_query(entities: ir.Table, state: ir.Table, funnel: list[str], as_of: datetime,
                segment: str | None) -> ir.Table:
    """Users per (segment, path, converted), plus who was left out and why; one pass over the narrow state."""
    rows = state.filter(state[c.ENTITY_TYPE] == c.USER, state[c.MILESTONE_ID].isin([*funnel, c.PAID]))
    mid = rows[c.MILESTONE_ID]
    step = mid != c.PAID
    funnel_order = ibis.cases(*[(mid == m, i) for i, m in enumerate(funnel)], else_=len(funnel))
    per_user = rows.group_by(c.ENTITY_KEY).aggregate(
        path=mid.group_concat(_SEP, where=step & rows[c.REACH_TIME].notnull(),
                              order_by=[rows[c.REACH_TIME], funnel_order]),
        converted=(~step & rows[c.REACH_TIME].notnull()).any(),
        open_=(rows[c.WINDOW_END] > ibis.literal(as_of)).any(),
        excluded=(step & ~rows[c.APPLICABLE]).any(),
    )
    users = entities.filter(entities[c.ENTITY_TYPE] == c.USER)
    users = users.select(c.ENTITY_KEY, **{SEGMENT: segment_column(users, segment)})
    joined = users.join(per_user, c.ENTITY_KEY)
    counted = ~joined.excluded & ~joined.open_
    return joined.group_by(
        [SEGMENT, joined.path.fill_null("").name("path"), joined.converted.fill_null(False).name("converted")]
    ).aggregate(
        users=counted.cast("int64").sum(),
        signups=joined.count(),
        immature=(~joined.excluded & joined.open_).cast("int64").sum(),
        out_of_scope=joined.excluded.cast("int64").sum(),
    )


def summarise(rows: list[dict[str, Any]], funnel: list[str], names: dict[str, str], as_of: datetime, conversion: str,
              segment_by: str | None, top: int = TOP) -> PathsResult:
    """Rows are (segment, path, converted, users, signups, immature, out_of_scope) from `paths_query`."""
    by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_segment[str(row[SEGMENT])].append(row)
    groups = tuple(_group(seg, seg_rows, funnel, names, top) for seg, seg_rows in sorted(by_segment.items()))
    return PathsResult(as_of, tuple(funnel), conversion, top, segment_by, groups)


def _group(segment: str, rows: list[dict[str, Any]], funnel: list[str], names: dict[str, str],
           top: int) -> PathsGroup:
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])  # path -> [converters, non-converters]
    for row in rows:
        ids = tuple(p for p in str(row["path"] or "").split(_SEP) if p)
        counts[ids][0 if row["converted"] else 1] += int(row["users"] or 0)
    counts = {k: v for k, v in counts.items() if sum(v) > 0}
    converters = sum(v[0] for v in counts.values())
    non_converters = sum(v[1] for v in counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-sum(kv[1]), ARROW.join(kv[0])))
    paths = [_path(ARROW.join(ids) or NONE, ids, yes, no, converters, non_converters)
             for ids, (yes, no) in ranked[:top]]
    rest = ranked[top:]
    if rest:
        paths.append(_path(OTHER, (), sum(v[0] for _, v in rest), sum(v[1] for _, v in rest), converters,
                           non_converters))
    drop_offs = tuple(_drop_off(counts, a, b, names) for a, b in pairwise([SIGNUP, *funnel]))
    return PathsGroup(
        segment=segment, signups=_total(rows, "signups"), immature=_total(rows, "immature"),
        out_of_scope=_total(rows, "out_of_scope"),
        users=converters + non_converters, converters=converters, paths=tuple(paths), distinct_paths=len(counts),
        drop_offs=drop_offs,
    )


def _total(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r[key] or 0) for r in rows)


def _path(label: str, ids: tuple[str, ...], yes: int, no: int, all_yes: int, all_no: int) -> PathCount:
    return PathCount(label, ids, yes + no, yes, no, Rate.of(yes, all_yes), Rate.of(no, all_no), Rate.of(yes, yes + no))


def _drop_off(counts: dict[tuple[str, ...], list[int]], first: str, then: str, names: dict[str, str]) -> DropOff:
    """Reaching `then` counts in any order: the question is whom we never get there, not who took a detour. From
    `SIGNUP`, everyone in the population has reached `first`."""
    cont, lost = [0, 0], [0, 0]  # [converters, non-converters]
    for ids, (yes, no) in counts.items():
        if first != SIGNUP and first not in ids:
            continue
        into = cont if then in ids else lost
        into[0] += yes
        into[1] += no
    conv_cont, conv_lost = Rate.of(cont[0], sum(cont)), Rate.of(lost[0], sum(lost))
    gap = (None if conv_cont.value is None or conv_lost.value is None
           else round(100 * (conv_cont.value - conv_lost.value), 10))
    reached = sum(cont) + sum(lost)
    return DropOff(first, then, names.get(first, "Signed up"), names[then], reached, sum(cont), sum(lost),
                   Rate.of(sum(lost), reached), conv_cont, conv_lost, gap)


def describe(definitions: Definitions) -> str:
    assert definitions.paid is not None
    return f"{' or '.join(definitions.paid.events)} within {definitions.paid.within.days}d of signup"


def run(store: Store, ms: MilestoneState, segment: str | None = None, top: int = TOP) -> PathsResult:
    definitions = ms.definitions
    if definitions.paid is None:
        raise UserError("aha paths splits users by conversion: add a `paid:` section to the definitions file.")
    funnel = definitions.funnel_ids
    names = {m.id: m.label for m in definitions.milestones} | {SIGNUP: definitions.signup.label}
    query = paths_query(ms.entities, ms.state, funnel, ms.as_of, segment)
    rows = store.execute(query).to_dict("records")
    result = summarise(rows, funnel, names, ms.as_of, describe(definitions), segment, top)
    return replace(result, notes=account_milestones(definitions, "paths follow users through the funnel"))
