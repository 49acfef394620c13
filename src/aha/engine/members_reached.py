"""When did enough of an account's members reach a user milestone? (SEMANTICS.md, "Accounts": `members_reached`.)

An account milestone of this kind is not counted from events but from the user milestones' reach times: each member's
reach (scope kept) is credited to each account the member belongs to, at the member's own reach time, inside the
account's window `[t0, t0 + W)`. Reach time is the first moment the condition held: the k-th member's reach (or the
k-th distinct email domain's first), or, with `within`, the first reach at which k members (domains) had reached it
inside the span `within` ending there.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.definitions.models import Milestone
from aha.engine import columns as c
from aha.engine.email_accounts import email_domain
from aha.engine.milestones import kth_first

USER_KEY, ACCOUNT_KEY, DOMAIN = "_user_key", "_account_key", "_domain"


def member_keys_query(pairs: ir.Table, entities: ir.Table, users: ir.Table) -> ir.Table:
    """(user key, account key, email domain) per signed-up member of each account, once per pair.

    `pairs` are (user_id, account_id) membership pairs, possibly repeated (`accounts.members_query`)."""
    pairs = pairs.select("user_id", "account_id").distinct()
    people = entities.filter(entities[c.ENTITY_TYPE] == c.USER)
    people = people.select(_uid=people[c.ENTITY_ID], **{USER_KEY: people[c.ENTITY_KEY]})
    teams = entities.filter(entities[c.ENTITY_TYPE] == c.ACCOUNT)
    teams = teams.select(_aid=teams[c.ENTITY_ID], **{ACCOUNT_KEY: teams[c.ENTITY_KEY]})
    joined = pairs.join(people, pairs.user_id == people._uid).join(teams, pairs.account_id == teams._aid)
    traits = users.select(_tid=users.user_id, _domain_of=email_domain(users.traits))
    joined = joined.left_join(traits, joined.user_id == traits._tid)
    return joined.select(USER_KEY, ACCOUNT_KEY, **{DOMAIN: joined._domain_of})


def members_reached_query(member_reach: ir.Table, members: ir.Table, entities: ir.Table,
                          milestone: Milestone) -> ir.Table:
    """Per account with a member who reached the user milestone inside the account's window: `reach_time` (null
    while unmet) and `progress` = members (or domains) counted together: all of them, or with `within` the most
    inside any one span.

    `member_reach` is the user milestone's sparse reach (entity_key, reach_time), out-of-scope users already left
    out; `members` is `member_keys_query`'s table."""
    rule = milestone.members_reached
    assert rule is not None
    reached = member_reach.filter(member_reach[c.REACH_TIME].notnull())
    credited = reached.join(members, reached[c.ENTITY_KEY] == members[USER_KEY])
    owners = entities.filter(entities[c.ENTITY_TYPE] == c.ACCOUNT).select(_owner=c.ENTITY_KEY, _t0=c.T0)
    joined = credited.join(owners, credited[ACCOUNT_KEY] == owners._owner)
    window_end = joined._t0 + ibis.interval(seconds=int(milestone.within.total_seconds()))
    joined = joined.filter(joined[c.REACH_TIME] >= joined._t0, joined[c.REACH_TIME] < window_end)
    # The unit counted: a member (its key), or its email domain (members without one count for nothing).
    unit = joined[USER_KEY].cast("string") if rule.distinct is None else joined[DOMAIN]
    rows = joined.select(**{c.ENTITY_KEY: joined[ACCOUNT_KEY], "_unit": unit, "_at": joined[c.REACH_TIME]})
    rows = rows.filter(rows._unit.notnull())
    if rule.within is None:
        return kth_first(rows, "_unit", "_at", rule.at_least)
    return _kth_in_span(rows, rule.at_least, int(rule.within.total_seconds()))


def _kth_in_span(rows: ir.Table, k: int, span_seconds: int) -> ir.Table:
    """At every reach (an anchor), the units that reached in (anchor − span, anchor]; the first anchor where they
    number k is the reach time. A range self-join per account: members per account are few (tens), so it is
    cheap, and unlike a distinct count over a range window every engine runs it."""
    anchors = rows.select(_key=rows[c.ENTITY_KEY], _anchor=rows._at).distinct()
    span = ibis.interval(seconds=span_seconds)
    joined = anchors.join(rows, [anchors._key == rows[c.ENTITY_KEY], rows._at <= anchors._anchor,
                                 rows._at > anchors._anchor - span])
    per = joined.group_by(["_key", "_anchor"]).aggregate(_n=joined._unit.nunique())
    out = per.group_by("_key").aggregate(_reach=per._anchor.min(where=per._n >= k), _most=per._n.max())
    return out.select(**{c.ENTITY_KEY: out._key, c.REACH_TIME: out._reach,
                         c.PROGRESS: out._most.cast("float64")})
