"""Who did it: events under an anonymous id belong to the user an identify/alias linked it to, retroactively."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir


def links(identities: ir.Table) -> ir.Table:
    """One user per anonymous id: the earliest link wins, so a later re-identify cannot move history twice."""
    return identities.group_by("anonymous_id").aggregate(linked_user=identities.user_id.argmin(identities.timestamp))


@dataclass(frozen=True)
class EventSource:
    """The raw event table, the identity links and `as_of`, resolved lazily per question.

    Resolution happens after the event-name filter, so a query that needs five event names joins those rows only,
    not the whole table (the filter cannot be pushed through the identity join by every engine).
    """

    events: ir.Table
    identities: ir.Table
    as_of: datetime | None
    seen_users: ir.Table | None = None  # (user_id, first_seen): every user id the events carry, kept by writers
    seen_members: ir.Table | None = None  # (user_id, account_id, first_seen): pairs carried by the same event
    seen_anonymous: ir.Table | None = None  # (anonymous_id, first_seen): of the events without a user id
    linked: ir.Table | None = None  # `links(identities)` computed once, when a caller reads the events many times

    def _links(self) -> ir.Table:
        return self.linked if self.linked is not None else self.identity_links()

    def identity_links(self) -> ir.Table:
        """`links` of the identify/alias calls made up to `as_of`: a later call is data the moment did not have,
        and applying it would change an as-of answer when newer data arrives (an anonymous visitor identified next
        week is not a user yet)."""
        return links(self.upto(self.identities))

    def upto(self, table: ir.Table, column: str = "timestamp") -> ir.Table:
        """`table`'s rows up to `as_of` (by `column`): events, identity links, group calls."""
        return table if self.as_of is None else table.filter(table[column] <= ibis.literal(self.as_of))

    def select(self, names: Iterable[str] | None = None, joined_next: bool = False) -> ir.Table:
        """Events (of these names) up to `as_of`, with `user_id` resolved through identity links.

        Anonymous events never linked to a user stay out: they belong to nobody's journey (yet). `joined_next`: the
        caller joins on `user_id` at once, which drops them anyway; leaving the filter out keeps DuckDB's size
        estimate high enough that it builds its hash table on the (smaller) other side.
        """
        events = self.upto(self.events)
        if names is not None:
            events = events.filter(events.event.isin(sorted(set(names))))
        return self.resolve(events, joined_next)

    def resolve(self, events: ir.Table, joined_next: bool = False) -> ir.Table:
        """Resolve `user_id` of these (already filtered) raw events through the identity links."""
        joined = events.left_join(self._links(), "anonymous_id")
        resolved = joined.mutate(user_id=ibis.coalesce(joined.user_id, joined.linked_user))
        if not joined_next:
            resolved = resolved.filter(resolved.user_id.notnull())
        return resolved.select(*self.events.columns)

    def raw(self, names: Iterable[str]) -> ir.Table:
        """Events of these names up to `as_of`, without identity resolution (for rows that need none)."""
        events = self.upto(self.events)
        return events.filter(events.event.isin(sorted(set(names))))

    def users(self) -> ir.Table:
        """Distinct resolved user ids (to count users who never signed up).

        Known ids come from `seen_users`, anonymous ones from `seen_anonymous`, when the store keeps them (a row
        per id rather than per event); the anonymous ids are joined to the links.
        """
        events = self.upto(self.events)
        if self.seen_users is not None:
            seen = self.upto(self.seen_users, "first_seen")
            known = seen.select(user_id=seen.user_id.cast("string"))  # the key is NOT NULL; the union's is not
        else:
            known = events.filter(events.user_id.notnull()).select("user_id")
        if self.seen_anonymous is not None:
            ids = self.upto(self.seen_anonymous, "first_seen").select(anonymous_id=ibis._.anonymous_id.cast("string"))
        else:
            ids = events.filter(events.user_id.isnull()).select("anonymous_id")
        anonymous = ids.join(self._links(), "anonymous_id")
        return known.union(anonymous.select(user_id=anonymous.linked_user), distinct=True)

    def members(self) -> ir.Table:
        """(user_id, account_id) pairs carried by the same event, up to `as_of`."""
        if self.seen_members is not None:
            seen = self.upto(self.seen_members, "first_seen")
            return seen.select(user_id=seen.user_id.cast("string"), account_id=seen.account_id.cast("string"))
        events = self.upto(self.events)
        pairs = events.filter(events.account_id.notnull(), events.user_id.notnull())
        return pairs.select("user_id", "account_id").distinct()
