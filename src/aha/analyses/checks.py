"""Do the definitions fit the data? Event names that never occur, segments nobody carries, milestones nobody reaches.

A milestone on a misspelt event is not an error the YAML schema can see: it silently reads 0%. This check is what
turns that into a message with a suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, ClassVar

from aha.analyses.absent_events import absent_events, event_counts
from aha.analyses.accounts_checks import email_accounts_warnings
from aha.analyses.state import event_source
from aha.analyses.where_checks import where_warnings
from aha.definitions import Definitions, content_hash
from aha.engine.signups import signups_query
from aha.jsonpointer import pointer
from aha.results import ResultMixin
from aha.store import Store, schema

SIGNUP_COVERAGE = 0.5  # below this share of the users seen having a signup event, validate warns


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "warning" (numbers will be wrong or empty) or "info"
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class ChecksResult(ResultMixin):
    kind: ClassVar[str] = "checks"
    config: str
    definitions_hash: str
    milestones: int
    primary: str
    events_in_data: int
    findings: tuple[Finding, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"level": f.level, "path": f.path, "message": f.message} for f in self.findings]

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level == "warning")


def run(definitions: Definitions, config: str, store: Store | None) -> ChecksResult:
    findings: list[Finding] = []
    funnel = definitions.funnel_ids
    if not 3 <= len(funnel) <= 5:
        findings.append(Finding("info", "funnel", f"holds {len(funnel)} milestones; the method recommends 3 to 5."))
    total = 0
    if store is not None:
        counts = event_counts(store)
        total = int(sum(counts.values()))
        findings += [Finding("warning", path, message) for path, message in absent_events(definitions, counts)]
        findings += [Finding("warning", path, message) for path, message in where_warnings(store, definitions)]
        findings += _segments(store, definitions)
        findings += _scopes(store, definitions)
        findings += _signup_coverage(store, definitions)
        findings += [Finding("warning", path, message) for path, message in email_accounts_warnings(store, definitions)]
    return ChecksResult(config, content_hash(definitions), len(definitions.milestones), definitions.primary.id,
                        total, tuple(findings))


def _signup_coverage(store: Store, definitions: Definitions) -> list[Finding]:
    """A signup event most users never send leaves most of them in no cohort: say how many, and offer first_seen."""
    if definitions.signup.first_seen is not None:
        return []
    source = event_source(store, None)
    seen = int(store.execute(source.users().count()))
    signups = signups_query(source.select(definitions.signup.events), definitions, properties=False)
    signed = int(store.execute(signups.count()))
    if not seen or signed / seen >= SIGNUP_COVERAGE:
        return []
    names = " / ".join(repr(e) for e in definitions.signup.events)
    return [Finding("warning", "signup.event", (
        f"only {signed:,} of the {seen:,} users seen ({signed / seen:.0%}) have a {names} event; the rest are in no "
        "cohort and every number leaves them out. If the data has no signup event for most users, use "
        "`signup: {first_seen: true}` (t0 = the user's first event) or `first_seen: {events: [...]}`."))]


def _has_key(store: Store, definitions: Definitions, key: str) -> bool:
    """Whether some user's traits or some signup event's properties hold `key` (a name, or a JSON Pointer)."""
    path, signup = pointer(key), list(definitions.signup.defining or [])
    return bool(store.scalar(f"SELECT count(*) FROM {schema.USERS} WHERE json_exists(traits, ?)", [path]) or
                store.scalar(  # with `first_seen: true` (no names), any event's properties may be the first's
                    f"SELECT count(*) FROM {schema.EVENTS} WHERE (len(?) = 0 OR event IN (SELECT unnest(?))) "
                    "AND json_exists(properties, ?)", [signup, signup, path]))


def _scopes(store: Store, definitions: Definitions) -> list[Finding]:
    """A user milestone's or a user rule's `scope` key that no trait or signup property holds matches nobody: the
    milestone is measured on nobody, the rule nudges nobody (a misspelt `personna` read as ok)."""
    scoped = [(f"milestones[{i}]", "the milestone is measured on nobody", m.scope)
              for i, m in enumerate(definitions.milestones) if m.scope and m.entity == "user"]
    scoped += [(f"rules[{i}]", "the rule nudges nobody", r.scope)
               for i, r in enumerate(definitions.rules) if r.scope and r.when.signal is None]
    out: list[Finding] = []
    known: list[str] | None = None
    for where, meaning, scope in scoped:
        for key in scope:
            if _has_key(store, definitions, key):
                continue
            if known is None:  # the names there are, for "did you mean": read once, on the first missing key
                signup = list(definitions.signup.defining or [])
                known = sorted({str(k) for (k,) in store.raw.execute(
                    f"SELECT DISTINCT unnest(json_keys(traits)) FROM {schema.USERS} UNION SELECT DISTINCT "
                    f"unnest(json_keys(properties)) FROM {schema.EVENTS} WHERE len(?) = 0 OR event IN "
                    "(SELECT unnest(?))", [signup, signup]).fetchall()})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            out.append(Finding("warning", f"{where}.scope.{key}", f"no user trait or signup-event property {key!r}: "
                               f"the scope matches nobody, so {meaning}.{hint}"))
    return out


def _segments(store: Store, definitions: Definitions) -> list[Finding]:
    out = []
    signup = list(definitions.signup.defining or [])
    for i, seg in enumerate(definitions.segments):
        path = pointer(seg)
        in_traits = store.scalar(f"SELECT count(*) FROM {schema.USERS} WHERE json_exists(traits, ?)", [path])
        in_signups = store.scalar(  # with `first_seen: true` (no names), any event's properties may be the first's
            f"SELECT count(*) FROM {schema.EVENTS} WHERE (len(?) = 0 OR event IN (SELECT unnest(?))) "
            "AND json_exists(properties, ?)", [signup, signup, path])
        if not in_traits and not in_signups:
            out.append(Finding("warning", f"segments[{i}]", f"no user trait or signup-event property {seg!r}."))
    return out
