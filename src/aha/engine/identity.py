"""Who did it: events under an anonymous id belong to the user an identify/alias linked it to, and a user id an
alias merged into another belongs to that one, retroactively."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from aha.engine.relations import union_all

DOUBLINGS = 3  # chains of merges (u1 → u2 → u3 …) are followed 2**3 = 8 links deep


def links(identities: ir.Table) -> ir.Table:
    """(anonymous_id, linked_user): the user each linked id belongs to (SEMANTICS.md, "Time and people").

    A linked id is an anonymous id an identify or alias named, or a user id an alias merged into another
    (`alias(previousId=u_old, userId=u_new)`: the new id wins). Per id the earliest link wins, so a later
    re-identify cannot move history twice; chains are followed (a1 → u_old → u_new gives a1 → u_new); of two ids
    aliased to each other, the later link is ignored (tied in time: the one from the id that sorts first is kept).
    """
    first = identities.group_by("anonymous_id").aggregate(
        linked_user=identities.user_id.argmin(identities.timestamp), _at=identities.timestamp.min())
    first = first.filter(first.anonymous_id != first.linked_user)
    back = first.select(_from=first.anonymous_id, _to=first.linked_user, _back_at=first._at)
    j = first.left_join(back, (first.linked_user == back._from) & (first.anonymous_id == back._to))
    kept = j.filter(j._back_at.isnull() | (j._back_at > j._at)
                    | ((j._back_at == j._at) & (j.anonymous_id < j.linked_user)))
    resolved = kept.select("anonymous_id", "linked_user")
    for _ in range(DOUBLINGS):  # each pass doubles the chain length followed
        # Both sides as views: joined to itself without them, Ibis folds the pass into the previous join and binds
        # the predicate to the wrong relation (chains stopped at two links).
        left, right = resolved.view(), resolved.view()
        step = right.select(_from=right.anonymous_id, _to=right.linked_user)
        j = left.left_join(step, left.linked_user == step._from)
        resolved = j.select("anonymous_id", linked_user=ibis.coalesce(j._to, j.linked_user))
    return resolved


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
    merged: ir.Table | None = None  # `merges()` computed once, likewise

    def _links(self) -> ir.Table:
        return self.linked if self.linked is not None else self.identity_links()

    def _merges(self) -> ir.Table:
        return self.merged if self.merged is not None else self.merges()

    def merges(self) -> ir.Table:
        """The links whose id is a user id (an alias between two identified users): usually none, so looking up
        every identified event's user id in them costs little, where looking it up in every link doubled the
        cost of resolving events."""
        links = self._links()
        if self.seen_users is not None:
            ids = self.seen_users.select(_uid=self.seen_users.user_id.cast("string"))
        else:
            ids = self.events.filter(self.events.user_id.notnull()).select(_uid=self.events.user_id).distinct()
        return links.semi_join(ids, links.anonymous_id == ids._uid)

    def identity_links(self) -> ir.Table:
        """`links` of the identify/alias calls made up to `as_of`: a later call is data the moment did not have,
        and applying it would change an as-of answer when newer data arrives (an anonymous visitor identified next
        week is not a user yet)."""
        return links(self.upto(self.identities))

    def upto(self, table: ir.Table, column: str = "timestamp") -> ir.Table:
        """`table`'s rows up to `as_of` (by `column`): events, identity links, group calls."""
        return table if self.as_of is None else table.filter(table[column] <= ibis.literal(self.as_of))

    def select(self, names: Iterable[str] | None = None, joined_next: bool = False, apart: bool = False) -> ir.Table:
        """Events (of these names) up to `as_of`, with `user_id` resolved through identity links.

        Anonymous events never linked to a user stay out: they belong to nobody's journey (yet). `joined_next`: the
        caller joins on `user_id` at once, which drops them anyway; leaving the filter out keeps DuckDB's size
        estimate high enough that it builds its hash table on the (smaller) other side.

        `apart`: each name asked for by a filter of its own (`event = name`), the rows a union of them. DuckDB uses
        an `IN` list only to skip row groups and tests it row by row after the scan, so every column is decoded
        for every row of the row groups it keeps (for two rare names 1.97M rows for 308k at ten million events);
        an equality it tests inside the scan, and decodes the other columns of the matching rows only. Worth it
        where those columns are wide (the JSON properties, the message id).
        """
        events = self.upto(self.events)
        if names is not None:
            wanted = sorted(set(names))
            events = (union_all([events.filter(events.event == name) for name in wanted]) if apart and wanted
                      else events.filter(events.event.isin(wanted)))
        return self.resolve(events, joined_next)

    def resolve(self, events: ir.Table, joined_next: bool = False) -> ir.Table:
        """Resolve `user_id` of these (already filtered) raw events through the identity links: an event's user
        id (merged into another by an alias: that one), or without one its anonymous id's user."""
        joined = events.left_join(self._links(), "anonymous_id")
        merges = self._merges().select(_id=ibis._.anonymous_id, _merged=ibis._.linked_user)
        joined = joined.left_join(merges, joined.user_id == merges._id)
        resolved = joined.mutate(user_id=ibis.coalesce(joined._merged, joined.user_id, joined.linked_user))
        if not joined_next:
            resolved = resolved.filter(resolved.user_id.notnull())
        return resolved.select(*self.events.columns)

    def canonical(self, table: ir.Table) -> ir.Table:
        """`table` with its `user_id` column mapped to the id an alias merged it into (memberships, seen pairs)."""
        merges = self._merges().select(_id=ibis._.anonymous_id, _merged=ibis._.linked_user)
        joined = table.left_join(merges, table.user_id == merges._id)
        return joined.mutate(user_id=ibis.coalesce(joined._merged, joined.user_id)).select(*table.columns)

    def canonical_members(self, memberships: ir.Table) -> ir.Table:
        """Memberships (group calls) with `user_id` mapped to the user it is linked to now: an id an alias merged
        into another, or an anonymous visitor's id an identify linked (a group call made before identifying)."""
        links = self._links().select(_id=ibis._.anonymous_id, _linked=ibis._.linked_user)
        joined = memberships.left_join(links, memberships.user_id == links._id)
        return joined.mutate(user_id=ibis.coalesce(joined._linked, joined.user_id)).select(*memberships.columns)

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
        known = self.canonical(known)
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
            pairs = seen.select(user_id=seen.user_id.cast("string"), account_id=seen.account_id.cast("string"))
        else:
            events = self.upto(self.events)
            events = events.filter(events.account_id.notnull(), events.user_id.notnull())
            pairs = events.select("user_id", "account_id").distinct()
        return self.canonical(pairs)
