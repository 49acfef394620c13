"""Who is in a cohort: t0 is a user's first signup event, or with `first_seen` their first (qualifying) event
(SEMANTICS.md, "Time and people")."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions
from aha.engine import columns as c


def signups_query(events: ir.Table, definitions: Definitions, properties: bool = True) -> ir.Table:
    """One row per signed-up user: t0 and (with `properties`) those of that first signup event, for segments.

    Ties in timestamp are broken by message id, as everywhere in aha.
    """
    names = definitions.signup.defining
    signup = events if names is None else events.filter(events.event.isin(names))
    if not properties:
        first = signup.group_by("user_id").aggregate(_t0=signup.timestamp.min())
        return first.select(**{c.ENTITY_ID: first.user_id, c.T0: first._t0})
    # An aggregate rather than a ranking window: one pass, no sort of every signup.
    order = ibis.struct({"t": signup.timestamp, "m": signup.message_id})
    first = signup.group_by("user_id").aggregate(_t0=signup.timestamp.min(), _props=signup.properties.argmin(order))
    return first.select(**{c.ENTITY_ID: first.user_id, c.T0: first._t0, c.SIGNUP_PROPERTIES: first._props})
