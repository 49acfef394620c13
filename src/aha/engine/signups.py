"""Who is in a cohort: t0 is a user's first signup event (SEMANTICS.md, "Time and people")."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.definitions import Definitions
from aha.engine import columns as c


def signups_query(events: ir.Table, definitions: Definitions) -> ir.Table:
    """One row per signed-up user: t0 and the properties of that first signup event (for segment breakdowns).

    Ties in timestamp are broken by message id, as everywhere in aha.
    """
    signup = events.filter(events.event.isin(definitions.signup.events))
    first_rank = ibis.row_number().over(group_by="user_id", order_by=["timestamp", "message_id"])
    ranked = signup.mutate(_rank=first_rank)
    first = ranked.filter(ranked._rank == 0)
    return first.select(**{c.ENTITY_ID: first.user_id, c.T0: first.timestamp, c.SIGNUP_PROPERTIES: first.properties})
