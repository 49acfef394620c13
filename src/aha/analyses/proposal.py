"""What would a first aha.yaml for these events look like? `aha init --db` reads the store and proposes one.

The proposal is a start that validates and runs, not a finding: the likely signup event (else the event users most
often start with, or `first_seen` when the definitions support it), a likely paid event, a suggested retention rule
the data's span can measure, one placeholder primary milestone (the file needs one), and the most common events as
commented candidate milestones with their counts, for the user to pick from or for `aha discover` to test.
Names are recognised, never guessed from values: a checkout step such as `payment_choice` is not a paid event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import ibis

from aha.errors import UserError
from aha.store import Store, one_row, schema

# Normalised names (lower case, letters and digits only) of events that mark a signup or a first payment in the
# usual trackers' naming (Segment's spec, GA4's recommended events, Mixpanel/PostHog/Amplitude habits).
SIGNUP_NAMES = frozenset({
    "signup", "signedup", "usersignedup", "usersignup", "signupcompleted", "accountcreated", "usercreated",
    "registered", "userregistered", "registration", "registrationcompleted", "completeregistration",
    "createaccount", "accountsignup", "newuser", "signupsuccess",
    # verb first and form submits, as Amplitude's and Heap's taxonomies write them (`Complete Sign Up`,
    # `Sign Up - Submit`): init found no signup and took the event users start with
    "completesignup", "completedsignup", "signupcomplete", "signupsubmit", "signupsubmitted", "createdaccount",
    "registrationcomplete", "register", "userregistration",
})
PAID_NAMES = frozenset({
    "purchase", "purchased", "purchasecompleted", "ordercompleted", "orderplaced", "checkoutcompleted",
    "paymentsucceeded", "paymentcompleted", "paymentreceived", "subscriptionstarted", "subscriptioncreated",
    "subscribed", "invoicepaid", "paid", "trialconverted", "planupgraded", "upgraded", "transaction",
    # verb first (`Start Subscription`, `Complete Purchase`): init said "paid none found"
    "startsubscription", "startedsubscription", "completepurchase", "completedpurchase", "completeorder",
    "placeorder", "placedorder", "makepurchase", "subscribe", "upgradeplan", "upgradedplan", "purchasecomplete",
    "ordercomplete", "checkoutcomplete", "paymentsuccess", "paymentsuccessful", "subscriptionactivated",
    "subscriptionpurchased", "convertedtopaid",
})
CANDIDATES = 10  # commented candidate milestones listed
# The candidate milestones' window by the data's span: a window the data cannot close leaves every user immature,
# and the first report an empty funnel ("0 of 0"): 5 days of data took 7d windows.
MILESTONE_WINDOW_BY_SPAN = ((14, "7d"), (2, "1d"), (0, "1h"))  # (span at least, days) → window
# Retention day by the data's span: the rule must leave some users eligible (t0 + day + bracket ≤ as_of).
RETENTION_BY_SPAN = ((60, 30), (28, 14), (14, 7), (0, 1))  # (span at least, days) → day


@dataclass(frozen=True, slots=True)
class EventCount:
    event: str
    events: int
    users: int  # distinct user ids (or anonymous ids when there is none)
    first: int  # users whose first event it is


@dataclass(frozen=True, slots=True)
class Proposal:
    users: int
    span_days: int
    counts: tuple[EventCount, ...]  # most users first
    signup: str | None  # a signup-like event, or None
    start: str  # the event t0 is taken from when there is no signup-like event: the one users most often start with
    paid: str | None
    retention_day: int
    retention_bracket: str
    window: str = "7d"  # the candidate milestones' window, one the data's span can close
    # With a signup event: per event, the events and users at or after each user's first signup, and how many users
    # signed up; the milestone candidates are ranked and counted on these (a milestone is reached after signup).
    after_signup: tuple[EventCount, ...] = ()
    signed_up: int = 0


def normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def counts_query(store: Store, identified: bool) -> ibis.Table:
    """Per event: events, users, users whose first event it is, first and last time. `identified`: count user ids
    only (anonymous visits before an identify are not more users); else anonymous ids, the only ids there are."""
    events = store.table(schema.EVENTS)
    who = events.user_id if identified else events.anonymous_id
    rank = ibis.row_number().over(group_by=who, order_by=[events.timestamp, events.message_id])
    marked = events.filter(who.notnull()).mutate(_who=who, _first=rank == 0)
    return marked.group_by("event").aggregate(
        events=marked.count(), users=marked._who.nunique(), first=marked._first.cast("int64").sum(),
        earliest=marked.timestamp.min(), latest=marked.timestamp.max())


def after_signup_query(store: Store, identified: bool, signup: str) -> ibis.Table:
    """Per event: events and users at or after each user's first `signup` (only users who signed up). Counted over
    every event, an export's anonymous traffic ranked first: PostHog's `$pageview` by visitors who never signed up
    was the placeholder milestone, reached by nobody after signup."""
    events = store.table(schema.EVENTS)
    who = events.user_id if identified else events.anonymous_id
    seen = events.filter(who.notnull()).mutate(_who=who)
    starts = seen.filter(seen.event == signup).group_by("_who").aggregate(_t0=seen.timestamp.min())
    after = seen.inner_join(starts, "_who")
    after = after.filter(after.timestamp >= after._t0)
    return after.group_by("event").aggregate(events=after.count(), users=after._who.nunique())


def propose(store: Store) -> Proposal:
    users = one_row(store.raw, f"SELECT count(DISTINCT user_id), count(DISTINCT anonymous_id) FROM {schema.EVENTS}")
    identified = bool(users and users[0])
    rows = store.records(counts_query(store, identified))
    if not rows:
        raise UserError(f"{store.path}: holds no events yet. Load some with `aha import FILE --db {store.path}`, "
                        "then run `aha init --db` again.")
    counts = tuple(sorted((EventCount(str(r["event"]), int(r["events"]), int(r["users"]), int(r["first"] or 0))
                           for r in rows), key=lambda e: (-e.users, -e.events, e.event)))
    span = max(r["latest"] for r in rows) - min(r["earliest"] for r in rows)
    span_days = int(span / timedelta(days=1))
    signup = _best(counts, SIGNUP_NAMES)
    paid = _best([e for e in counts if e.event != signup], PAID_NAMES)
    start = max(counts, key=lambda e: (e.first, e.users, e.event)).event
    day = next(d for at_least, d in RETENTION_BY_SPAN if span_days >= at_least)
    assert users is not None
    window = next(w for at_least, w in MILESTONE_WINDOW_BY_SPAN if span_days >= at_least)
    after: tuple[EventCount, ...] = ()
    if signup is not None:
        after = tuple(sorted((EventCount(str(r["event"]), int(r["events"]), int(r["users"]), 0)
                              for r in store.records(after_signup_query(store, identified, signup))),
                             key=lambda e: (-e.users, -e.events, e.event)))
    signed_up = next((e.users for e in counts if e.event == signup), 0)
    return Proposal(int(users[0] if identified else users[1]), span_days, counts, signup, start, paid, day,
                    "7d" if day >= 7 else "1d", window, after, signed_up)


def _best(counts: list[EventCount] | tuple[EventCount, ...], names: frozenset[str]) -> str | None:
    """The matching event most users did (ties: more events, then by name)."""
    found = [e for e in counts if normalised(e.event) in names]
    return found[0].event if found else None


YAML_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "null"})  # the lowercase plain words YAML 1.1 reads
# as something other than text (PyYAML's resolvers); a slug is lowercase letters, digits and _, so no others apply


def _slug(event: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_") or "event"
    # e_ before a digit (an id starts with a letter) and before a word YAML 1.1 reads as a truth value or nothing
    # (`id: yes` is true, `id: null` None): the file's own ids must read back as the text written
    base = (slug if slug[0].isalpha() and slug not in YAML_WORDS else f"e_{slug}")[:56]
    out, n = base, 2
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    taken.add(out)
    return out


def _q(text: str) -> str:
    """A YAML scalar that reads back as `text` whatever it holds: a JSON string (a YAML double-quoted scalar) with
    every character YAML may not hold as it is written as an escape. JSON leaves DEL, the C1 controls (0x80-0x9f) and
    0xfffe/0xffff unescaped, which YAML refuses ("unacceptable character #x007f"), and NEL (0x85) unescaped, which
    YAML reads inside quotes as a line break folded into a space."""
    return YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


YAML_UNPRINTABLE = re.compile("[\x7f-\x9f\ufffe\uffff]")


def _many(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "—"


def to_yaml(p: Proposal, db: str, first_seen_supported: bool = False) -> str:
    """The proposal as a commented aha.yaml that `aha validate` accepts as it is."""
    lines = [f"# A starting aha.yaml proposed by `aha init --db {db}` from {p.users:,} users and "
             f"{sum(e.events for e in p.counts):,} events over {p.span_days:,} days.",
             "# Every choice below is a guess from event names and counts: check each, then run `aha validate`,",
             "# `aha report`, and `aha discover` / `aha score` to find the milestones that matter.",
             "version: 1", "", "signup:"]
    by_name = {e.event: e for e in p.counts}
    if p.signup is not None:
        e = by_name[p.signup]
        lines.append(f"  event: {_q(p.signup)}   # t0 = a user's first; {e.users:,} users "
                     f"({_share(e.users, p.users)} of those seen)")
    elif first_seen_supported:
        lines += ["  first_seen: true   # no signup-like event found: t0 = each user's first event"]
    else:
        e = by_name[p.start]
        lines += [f"  event: {_q(p.start)}   # no signup-like event found: the event users most often start with "
                  f"({e.first:,} of {p.users:,} users);",
                  "  # a user who never did it has no t0. When your aha supports it, `first_seen: true` instead takes",
                  "  # each user's first event:",
                  "  # first_seen: true"]
    lines.append("")
    if p.paid is not None:
        e = by_name[p.paid]
        lines += ["paid:", f"  event: {_q(p.paid)}   # the first paid moment; {e.users:,} users",
                  "  within: 30d             # conversion horizon after signup"]
    else:
        lines += ["# paid:                  # no paid-like event found (purchase, order completed, subscription "
                  "started, ...): name yours", "#   event: \"Your Paid Event\"", "#   within: 30d"]
    lines += ["", "retention:",
              f"  day: {p.retention_day}                  # retained = active in [t0 + {p.retention_day}d, "
              f"t0 + {p.retention_day}d + bracket); the data spans {p.span_days:,} days",
              f"  bracket: {p.retention_bracket}", ""]
    # Without a signup event t0 is the first event, so the event users most often start with is reached at t0 by
    # most of them: as the placeholder it read "100% activated in 0s".
    ranked, base = (p.after_signup, p.signed_up) if p.signup is not None else (p.counts, p.users)
    candidates = [e for e in ranked if e.event not in {p.signup, p.paid} and
                  (p.signup is not None or e.event != p.start)]
    taken: set[str] = set()
    lines.append("milestones:")
    if candidates:
        top = candidates[0]
        lines += ["  # A placeholder so the file is complete: the most common event after signup. Replace it with the",
                  "  # action you believe marks value (or one of the candidates below).",
                  f"  - id: {_slug(top.event, taken)}", f"    name: {_q(top.event + ' (placeholder)')}",
                  "    level: primary", f"    event: {_q(top.event)}", f"    within: {p.window}"]
    else:
        fallback = p.signup or p.start
        lines += ["  # No other event to propose: a placeholder on the signup event itself; replace it.",
                  f"  - {{id: {_slug(fallback, taken)}, level: primary, event: {_q(fallback)}, "
                  f"within: {p.window}}}"]
    listed = candidates[1:CANDIDATES + 1]
    if listed:
        lines += ["", "  # The most common other events, as candidate milestones: uncomment to track one (and run",
                  "  # `aha discover` to see which predict conversion and retention). Counts: events, users."]
        if p.signup is not None:
            lines.append("  # Counted at or after each user's signup; the share is of the signed-up users.")
        for e in listed:
            lines.append(f"  # - {{id: {_slug(e.event, taken)}, event: {_q(e.event)}, within: {p.window}}}"
                         f"   # {_many(e.events, 'event')}, {_many(e.users, 'user')} ({_share(e.users, base)})")
    return "\n".join(lines) + "\n"
