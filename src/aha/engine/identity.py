"""Who did it: events under an anonymous id belong to the user an identify/alias linked it to, retroactively."""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir


def links(identities: ir.Table) -> ir.Table:
    """One user per anonymous id: the earliest link wins, so a later re-identify cannot move history twice."""
    return identities.group_by("anonymous_id").aggregate(linked_user=identities.user_id.argmin(identities.timestamp))


def resolved_events(events: ir.Table, identities: ir.Table, as_of: datetime | None = None) -> ir.Table:
    """Events with `user_id` resolved through identity links and everything after `as_of` dropped.

    Anonymous events never linked to a user stay out: they belong to nobody's journey (yet).
    """
    if as_of is not None:
        events = events.filter(events.timestamp <= ibis.literal(as_of))
    joined = events.left_join(links(identities), "anonymous_id")
    resolved = joined.mutate(user_id=ibis.coalesce(joined.user_id, joined.linked_user))
    return resolved.filter(resolved.user_id.notnull()).select(*events.columns)
