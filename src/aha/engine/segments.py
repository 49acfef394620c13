"""Segment values for breakdowns: a user trait, else the signup event's property of the same name."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.matchers import text

ALL = "(all)"
NONE = "(none)"
SEGMENT = c.SEGMENT


def segment_column(entities: ir.Table, segment: str | None) -> ir.StringValue:
    """Traits win over signup properties because traits are the user's current, deliberate description."""
    if segment is None:
        return ibis.literal(ALL)
    return ibis.coalesce(text(entities[c.TRAITS], segment), text(entities[c.SIGNUP_PROPERTIES], segment),
                         ibis.literal(NONE))
