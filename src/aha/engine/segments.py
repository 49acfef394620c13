"""Segment values for breakdowns: a user trait, else the signup event's property of the same name."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aha.engine import columns as c
from aha.engine.matchers import text
from aha.engine.members import member

ALL = "(all)"
NONE = "(none)"
SEGMENT = c.SEGMENT


def segment_column(entities: ir.Table, segment: str | None) -> ir.StringValue:
    """Traits win over signup properties because traits are the user's current, deliberate description."""
    if segment is None:
        return ibis.literal(ALL)
    return ibis.coalesce(_value(entities[c.TRAITS], segment), _value(entities[c.SIGNUP_PROPERTIES], segment),
                         ibis.literal(NONE))


def _value(doc: ir.JSONValue, key: str) -> ir.StringValue:
    """The member's text; null when it is absent or JSON `null` (no value, as `where` reads it: docs/semantics.md
    "Property keys"), so such users fall to the next source and then to "(none)", not to a segment named "null"
    (the string "null" is still one)."""
    return ibis.ifelse(member(doc, key).cast("string") == "null", ibis.null("string"), text(doc, key))
