"""`aha validate --db` names a `scope` key that no user trait or signup-event property holds (outside8): a milestone
scoped `{personna: admin}` (misspelt) is measured on nobody and a rule so scoped nudges nobody, and validate said
"ok" (it checked event names and `segments:`, not scopes)."""

from __future__ import annotations

from aha.analyses import checks
from aha.definitions import parse
from aha.store import open_store
from tests.journeys import write_events, write_traits

DEFINITIONS = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
  - {id: admin_setup, event: Connected, within: 3d, scope: {personna: admin}}
  - {id: pro_setup, event: Connected, within: 3d, scope: {plan: pro, persona: admin}}
rules:
  - {id: r, when: {reached: connected}, scope: {plann: pro}, then: {in_app: hi}}
  - {id: ok, when: {reached: connected}, scope: {plan: pro}, then: {in_app: hi}}
"""


def test_a_scope_key_nobody_has_is_a_warning_naming_it_and_the_closest_key(tmp_path) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    # persona is a trait, plan a property of the signup event: the only two keys there are
    write_events(store, [("u1", "Signed Up", "2026-01-01T00:00", {"plan": "pro"}),
                         ("u1", "Connected", "2026-01-01T01:00", {"source": "x"})])
    write_traits(store, {"u1": {"persona": "admin"}})
    found = [(f.level, f.path, f.message) for f in checks.run(parse(DEFINITIONS), "aha.yaml", store).findings
             if "scope" in f.path]
    assert found == [
        ("warning", "milestones[1].scope.personna", "no user trait or signup-event property 'personna': the scope "
         "matches nobody, so the milestone is measured on nobody. Did you mean 'persona'?"),
        ("warning", "rules[0].scope.plann", "no user trait or signup-event property 'plann': the scope matches "
         "nobody, so the rule nudges nobody. Did you mean 'plan'?"),
    ]
    store.close()
