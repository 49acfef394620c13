"""Does each milestone's `where` match any of its events? A property key misspelt (`integration_typ`), a nested member
written with dots (`integration.type` for `{"integration": {"type": ...}}`) or a value in another case (`Postgres`)
is not an error the schema can see: the milestone silently reads 0%, as a misspelt event name did before
analyses/checks.py warned of it. This says which key or value matches nothing, what the events carry instead, and
the fix.
"""

from __future__ import annotations

import difflib
import re

import ibis

from aha.definitions import Definitions
from aha.engine import matchers
from aha.store import Store, schema

SHOWN_VALUES = 5
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def where_warnings(store: Store, definitions: Definitions) -> list[tuple[str, str]]:
    """(YAML path, message) for each milestone whose `where` no stored event of its names satisfies."""
    events = store.table(schema.EVENTS)
    out: list[tuple[str, str]] = []
    for j, milestone in enumerate(definitions.milestones):
        if not milestone.where or not milestone.events:
            continue
        named = events.filter(events.event.isin(list(milestone.events)))
        if not int(store.execute(named.count())):
            continue  # no such event at all: the event-name check says so
        matching = named.filter(matchers.where(matchers.JsonProperties(named.properties), milestone.where))
        if int(store.execute(matching.count())):
            continue  # a `ne` or `exists: false` on a key no event has matches: only a `where` matching none is wrong
        names = " / ".join(repr(e) for e in milestone.events)
        absent = [key for key in milestone.where
                  if not int(store.execute(named.filter(matchers.text(named.properties, key).notnull()).count()))]
        for key in absent:
            out.append((f"milestones[{j}].where{_yaml_key(key)}",
                        f"no {names} event has a property {shown_key(key)}, so nobody reaches this milestone."
                        + _key_hint(store, list(milestone.events), key)))
        if absent:
            continue
        seen = "; ".join(f"{shown_key(key)}: {_values(store, named, key)}" for key in milestone.where)
        out.append((f"milestones[{j}].where", f"no {names} event matches this `where`, so nobody reaches this "
                                              f"milestone. Values the events carry: {seen}. Values compare exactly "
                                              "(case included)."))
    return out


def _yaml_key(key: str) -> str:
    return f".{key}" if _PLAIN_KEY.fullmatch(key) else f"[{key!r}]"


def _key_hint(store: Store, events: list[str], key: str) -> str:
    """The nested pointer a dotted key likely meant, else the closest top-level key those events carry."""
    if "." in key and not key.startswith("/"):
        nested = "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in key.split("."))
        found = store.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {schema.EVENTS} WHERE event IN (SELECT unnest(?)) "
                             "AND json_exists(properties, ?) LIMIT 1)", [events, nested])
        if found:
            return (f" A key is one member's literal name; a nested member is written as a JSON Pointer: "
                    f"did you mean {nested!r}?")
    if key.startswith("/"):
        return ""
    keys = [k for (k,) in store.raw.execute(
        f"SELECT DISTINCT unnest(json_keys(properties)) FROM {schema.EVENTS} WHERE event IN (SELECT unnest(?))",
        [events]).fetchall() if isinstance(k, str)]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close:
        folded = [k for k in keys if k.casefold() == key.casefold()]
        close = folded[:1]
    if close:
        return f" Did you mean {close[0]!r}?"
    return f" Their keys: {', '.join(repr(k) for k in sorted(keys)[:10])}." if keys else " They carry no properties."


def _values(store: Store, named: ibis.Table, key: str) -> str:
    value = matchers.text(named.properties, key).name("value")
    top = named.select(value).group_by("value").aggregate(n=ibis._.count()).order_by(
        [ibis.desc("n"), "value"]).limit(SHOWN_VALUES)
    rows = store.records(top)
    shown = ", ".join(f"{_shown_value(row['value'])} ({row['n']:,})" for row in rows if row["value"] is not None)
    return shown or "none"


def shown_key(key: str) -> str:
    return repr(key)


def _shown_value(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
