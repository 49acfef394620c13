"""Milestone state, hand-counted for every rule of SEMANTICS.md "Milestones" (one journey per rule, commented)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from aha.analyses.state import build
from aha.definitions import Definitions, parse
from aha.store import Store, open_store
from tests.journeys import write_events, write_identities, write_memberships, write_traits

DEFINITIONS = parse("""
signup: {event: Signed Up}
paid: {event: Paid, within: 2d}
milestones:
  - {id: ws, event: W, within: 1h}
  - {id: a3, event: A, count: 3, within: 1d}
  - {id: kinds, event: K, distinct: {property: kind, at_least: 2}, within: 1d}
  - {id: rows, event: R, sum: {property: rows, at_least: 50}, within: 1d}
  - {id: pg, event: C, where: {db: {in: [postgres, mysql]}, size: {gte: 10}}, within: 1d}
  - {id: core, all_of: [ws, a3], within: 1d, level: primary}
  - {id: admin, event: S, scope: {persona: admin}, within: 1d}
""")
AS_OF = datetime(2026, 1, 5)
T0 = "2026-01-01T00:00:00"


def at(offset: str, base: str = T0) -> str:
    """`+59m59s`-style offsets from t0, so each journey reads as time since signup."""
    sign = -1 if offset.startswith("-") else 1
    total, number = 0, ""
    for ch in offset.lstrip("+-"):
        if ch.isdigit():
            number += ch
        else:
            total += int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[ch]
            number = ""
    return (datetime.fromisoformat(base) + sign * timedelta(seconds=total)).isoformat()


JOURNEYS = [
    ("u1", "Signed Up", T0),
    ("u1", "W", at("+59m59s")),                       # ws: one second inside the 1h window → reached
    ("u1", "S", at("+1h")),                           # admin (trait persona=admin) → reached
    ("u2", "Signed Up", T0),
    ("u2", "W", at("+1h")),                           # ws: exactly t0 + W does not count → missed
    ("u2", "S", at("+1h")),                           # admin: persona=analyst → not applicable
    ("u3", "W", at("-1m")),                           # before signup: never counts
    ("u3", "Signed Up", T0),                          # first signup is t0 ...
    ("u3", "Signed Up", at("+30m")),                  # ... a second one changes nothing
    ("u4", "W", at("+5m")),                           # u4 never signs up: in no cohort
    ("u5", "Signed Up", T0),
    ("u5", "Paid", at("-1h")),                        # paid before signup: not a conversion
    ("u5", "A", at("+2h")), ("u5", "A", at("+2h")), ("u5", "A", at("+2h")),  # three ties → a3 at +2h
    ("u6", "Signed Up", T0),
    ("u6", "A", at("+1h")), ("u6", "A", at("+2h")),
    ("u6", "A", at("+1d")),                           # third A at exactly t0 + 1d → a3 missed, progress 2
    ("u7", "Signed Up", T0),
    ("u7", "K", at("+1h"), {"kind": "x"}), ("u7", "K", at("+2h"), {"kind": "x"}),
    ("u7", "K", at("+3h"), {"kind": "y"}),           # second distinct kind at +3h → kinds reached, progress 2
    ("u8", "Signed Up", T0),
    ("u8", "R", at("+1h"), {"rows": 30}),
    ("u8", "R", at("+2h"), {"rows": "25"}),          # a quoted number still counts: running sum 55 at +2h
    ("u9", "Signed Up", T0),
    ("u9", "R", at("+1h"), {"rows": 30}), ("u9", "R", at("+2h"), {}), ("u9", "R", at("+3h"), {"rows": 10}),  # 40
    ("u10", "Signed Up", T0),
    ("u10", "C", at("+1h"), {"db": "postgres", "size": 5}),   # size filter fails
    ("u10", "C", at("+2h"), {"db": "sqlite", "size": 100}),   # db filter fails
    ("u10", "C", at("+3h"), {"db": "mysql", "size": 10}),     # both hold → pg reached at +3h
    ("u11", "Signed Up", T0),
    ("u11", "W", at("+10m")),
    ("u11", "A", at("+5h")), ("u11", "A", at("+6h")), ("u11", "A", at("+7h")),  # core = later part = +7h
    ("u11", "Paid", at("+1d")),                       # converted inside 2d
    ("u12", "Signed Up", T0),
    ("u12", "Paid", at("+2d")),                       # exactly t0 + 2d: not a conversion
    ("u13", "Signed Up", "2026-01-04T12:00:00"),      # young: a3's 1d window still open at as_of
    ("u13", "A", "2026-01-05T01:00:00"), ("u13", "A", "2026-01-05T01:00:00"),
    ("u13", "A", "2026-01-05T01:00:00"),              # ... but these are after as_of: ignored
]
TRAITS = {"u1": {"persona": "admin"}, "u2": {"persona": "analyst"}}
# u3 has no trait but signed up with persona=admin in the signup event's properties → in admin's scope
JOURNEYS.insert(JOURNEYS.index(("u3", "Signed Up", T0)), ("u3", "Signed Up", T0, {"persona": "admin"}))
JOURNEYS.remove(("u3", "Signed Up", T0))

# (user, milestone): (status, reach offset from t0 or None, progress) — counted by hand from the journeys above
EXPECTED = {
    ("u1", "ws"): ("reached", "+59m59s", 1), ("u2", "ws"): ("missed", None, 0), ("u3", "ws"): ("missed", None, 0),
    ("u1", "admin"): ("reached", "+1h", 1), ("u2", "admin"): ("not_applicable", None, 0),
    ("u3", "admin"): ("missed", None, 0), ("u5", "admin"): ("not_applicable", None, 0),
    ("u5", "a3"): ("reached", "+2h", 3), ("u6", "a3"): ("missed", None, 2),
    ("u7", "kinds"): ("reached", "+3h", 2), ("u8", "rows"): ("reached", "+2h", 55),
    ("u9", "rows"): ("missed", None, 40),
    ("u10", "pg"): ("reached", "+3h", 1),
    ("u11", "core"): ("reached", "+7h", 2), ("u11", "ws"): ("reached", "+10m", 1),
    ("u11", "a3"): ("reached", "+7h", 3),
    ("u5", "core"): ("missed", None, 1), ("u1", "core"): ("missed", None, 1),
    ("u11", "_paid"): ("reached", "+1d", 1), ("u12", "_paid"): ("missed", None, 0),
    ("u5", "_paid"): ("missed", None, 0),
    ("u13", "a3"): ("in_progress", None, 0), ("u13", "ws"): ("missed", None, 0),
    ("u13", "_paid"): ("in_progress", None, 0),
}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("state") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    ms = build(store, DEFINITIONS, AS_OF)
    frame = ms.state.execute()
    return ms, {(r.entity_id, r.milestone_id): r for r in frame.itertuples()}


@pytest.mark.parametrize(("key", "expected"), list(EXPECTED.items()), ids=[f"{u}-{m}" for u, m in EXPECTED])
def test_hand_counted_state(state, key, expected):
    _, rows = state
    row = rows[key]
    status, offset, progress = expected
    t0 = row.t0.to_pydatetime()
    assert row.status == status
    reach = None if row.reach_time is None or str(row.reach_time) == "NaT" else row.reach_time.to_pydatetime()
    assert reach == (datetime.fromisoformat(at(offset, t0.isoformat())) if offset else None)
    assert row.progress == progress


def test_users_without_signup_are_in_no_cohort_but_counted(state):
    ms, rows = state
    assert {u for u, _ in rows} == {f"u{i}" for i in range(1, 14)} - {"u4"}
    assert ms.users_without_signup == 1


def test_first_signup_is_t0(state):
    _, rows = state
    assert rows[("u3", "ws")].t0.to_pydatetime() == datetime(2026, 1, 1)


def test_state_is_reused_until_data_or_definitions_change(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", T0), ("u1", "W", at("+5m"))])
    assert build(store, DEFINITIONS, AS_OF).rebuilt
    assert not build(store, DEFINITIONS, AS_OF).rebuilt
    write_events(store, [("u2", "Signed Up", T0, {}, {"message_id": "other"})])
    assert build(store, DEFINITIONS, AS_OF).rebuilt  # one new event of two: more than an incremental share
    changed = parse(DEFINITIONS.model_dump_json().replace('"1h"', '"2h"'))
    assert build(store, changed, AS_OF).rebuilt
    later = build(store, changed, AS_OF + timedelta(days=1))  # as_of forward from a state that saw every call
    assert later.refreshed and not later.rebuilt
    assert build(store, changed, AS_OF).rebuilt  # as_of moved back


def test_anonymous_events_belong_to_the_identified_user_retroactively(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        (None, "W", at("+5m"), {}, {"anonymous_id": "anon-1"}),   # before identify, under the anonymous id
        ("u1", "Signed Up", T0),
        (None, "W", at("+5m"), {}, {"anonymous_id": "anon-2"}),   # anon-2 is never identified: nobody's
    ])
    write_identities(store, [("anon-1", "u1", at("+1h")), ("anon-1", "u9", at("+2h"))])  # earliest link wins
    rows = build(store, DEFINITIONS, AS_OF).state.execute().set_index(["entity_id", "milestone_id"])
    assert rows.loc[("u1", "ws"), "status"] == "reached"
    assert rows.loc[("u1", "ws"), "reach_time"] == datetime.fromisoformat(at("+5m"))


def with_account_messages(count: int) -> Definitions:
    """DEFINITIONS' workspace milestone as primary plus "`count` M messages per account within a day"."""
    return parse(f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: ws, event: W, within: 1h, level: primary}}
  - {{id: msgs, event: M, count: {count}, within: 1d, entity: account}}
""")


def test_account_milestone_counts_members_together_from_the_earliest_member(tmp_path):
    definitions = with_account_messages(3)
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("u1", "Signed Up", T0, {}, {"account_id": "acme"}),     # account t0 = u1's t0
        ("u2", "Signed Up", at("+2h"), {}, {"account_id": "acme"}),
        ("u1", "M", at("+1h"), {}, {"account_id": "acme"}),
        ("u2", "M", at("+3h"), {}, {"account_id": "acme"}),
        ("u2", "M", at("+1d")),                                  # no account id: credited via membership, but at
        ("u2", "M", at("+23h")),                                 # t0+1d it is outside; +23h is the third → reached
        ("u3", "Signed Up", T0), ("u3", "M", at("+1h")),         # u3 in "solo" via a group call only
        (None, "M", at("+2h"), {}, {"anonymous_id": "anon-7", "account_id": "acme"}),  # linked to u2 below: counts
        (None, "M", at("+2h"), {}, {"anonymous_id": "anon-8", "account_id": "acme"}),  # never linked: nobody's
    ])
    write_memberships(store, [("u2", "acme", at("+2h")), ("u3", "solo", at("+1m"))])
    write_identities(store, [("anon-7", "u2", at("+2h"))])
    rows = build(store, definitions, AS_OF).state.execute()
    acct = rows[rows.entity_type == "account"].set_index("entity_id")
    assert acct.loc["acme", "t0"] == datetime(2026, 1, 1)
    assert acct.loc["acme", "status"] == "reached"
    # +1h (u1), +2h (anon-7 → u2), +3h (u2): the third is at +3h; +23h is the fourth, +1d is outside
    assert acct.loc["acme", "reach_time"] == datetime.fromisoformat(at("+3h"))
    assert acct.loc["acme", "progress"] == 4
    assert acct.loc["solo", "status"] == "missed" and acct.loc["solo", "progress"] == 1


def test_segment_sources_are_built_when_first_asked_for_and_follow_the_data(tmp_path):
    """A report without a breakdown never writes the JSON; a breakdown builds `aha_segments` once per state."""
    from aha.analyses.segment_sources import with_segments
    from aha.analyses.state import SEGMENTS_TABLE
    from aha.engine.segments import SEGMENT, segment_column

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", T0, {"source": "ads"}), ("u2", "Signed Up", T0, {"source": "seo"}),
                         ("u3", "Signed Up", T0)])
    write_traits(store, {"u1": {"source": "partner"}})  # a trait wins over the signup property
    ms = build(store, DEFINITIONS, AS_OF)
    assert not store.exists(SEGMENTS_TABLE)

    def sources(ms):
        users = ms.entities.filter(ms.entities.entity_type == "user")
        frame = users.select("entity_id", **{SEGMENT: segment_column(users, "source")}).execute()
        return dict(zip(frame.entity_id, frame[SEGMENT], strict=True))

    assert sources(with_segments(store, ms)) == {"u1": "partner", "u2": "seo", "u3": "(none)"}
    assert store.exists(SEGMENTS_TABLE)
    write_events(store, [("u3", "Signed Up", at("+1h"), {"source": "late"}, {"message_id": "second"}),
                         ("u4", "Signed Up", T0, {"source": "ads"}, {"message_id": "fourth"})])
    ms = build(store, DEFINITIONS, AS_OF)
    assert not store.exists(SEGMENTS_TABLE)  # dropped with the state it belonged to
    assert sources(with_segments(store, ms)) == {"u1": "partner", "u2": "seo", "u3": "(none)", "u4": "ads"}


def candidate_parts(store: Store, definitions: Definitions, as_of: datetime) -> tuple[Any, dict[str, list[Any]]]:
    """The entities (a temp table) and each entity type's candidate statements, made step by step as `build` makes
    them (the owners materialised first)."""
    from aha.analyses.state import event_source
    from aha.engine.state import entities_query, owners_query, relevant_parts

    source = event_source(store, as_of)
    memberships = store.table("memberships")
    entities = store.materialise("e", entities_query(source, store.table("users"), memberships, definitions),
                                 temp=True)
    owners = {kind: store.materialise(f"o_{kind}", owners_query(entities, definitions, kind), temp=True)
              for kind in ("user", "account")}
    return entities, relevant_parts(source, owners, memberships, definitions)


def test_state_query_as_one_statement_equals_the_state_built_step_by_step(tmp_path):
    """`build` names each reach as a view before spreading them (cheaper to compile); `state_query` is the same plan
    as one expression, the form another engine runs. Both must give the same rows."""
    from aha.engine.state import state_query

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    built = build(store, DEFINITIONS, AS_OF).entities.execute()
    entities, candidates = candidate_parts(store, DEFINITIONS, AS_OF)
    relevant = {kind: store.materialise(f"r_{kind}", parts[0], temp=True) for kind, parts in candidates.items()}
    for kind, parts in candidates.items():
        for part in parts[1:]:
            store.append(f"r_{kind}", part, temp=True)
    whole = store.execute(state_query(relevant, entities, DEFINITIONS))

    def rows(frame):
        frame = frame.drop(columns=["entity_key"]).sort_values("entity_id").reset_index(drop=True)
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    assert len(built) == 12
    assert rows(whole) == rows(built)


def test_a_rebuilt_state_is_written_to_the_file_beside_the_copy_the_analyses_read(tmp_path):
    """`build` returns the state from memory while a second connection writes it into the file: once settled, the
    file holds the same rows, its key, and the long view, and a new process reuses it without a rebuild."""
    db = tmp_path / "aha.duckdb"
    store = open_store(db)
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    ms = build(store, DEFINITIONS, AS_OF)
    in_memory = ms.entities.execute().sort_values("entity_id").reset_index(drop=True)
    store.settle()
    stored = store.table("aha_entities").execute().sort_values("entity_id").reset_index(drop=True)
    assert len(in_memory) == 12 and in_memory.equals(stored)
    assert store.scalar("SELECT count(*) FROM aha_state WHERE status = 'reached'") == int(
        (ms.state.status == "reached").sum().execute())
    assert ms.users_without_signup == 1  # counted with the build, written beside the state
    store.close()
    again = open_store(db)
    reused = build(again, DEFINITIONS, AS_OF)
    assert not reused.rebuilt and reused.users_without_signup == 1


def test_a_failed_background_write_is_raised_and_leaves_the_state_stale(tmp_path):
    """The write's error reaches the caller (here: a table squatting on the view's name), and its key is not
    written, so the next build starts again instead of trusting a state the file does not hold."""
    import duckdb

    from aha.project import Project

    db = tmp_path / "aha.duckdb"
    store = open_store(db)
    write_events(store, JOURNEYS)
    store.raw.execute("CREATE TABLE aha_state (x INTEGER)")
    with pytest.raises(duckdb.CatalogException, match="aha_state"):
        Project(store, DEFINITIONS).funnel(as_of=AS_OF)
    assert store.scalar("SELECT count(*) FROM aha_meta WHERE key = 'state_key'") == 0
    store.raw.execute("DROP TABLE aha_state")
    assert build(store, DEFINITIONS, AS_OF).rebuilt


def test_a_state_keeps_its_own_count_and_refuses_to_read_another_state(tmp_path):
    """A state held while another is built (another as_of) keeps its users-without-signup count, and its long view
    refuses to read the file's state, which is now the other one's, instead of answering with its rows."""
    from aha.store.database import StoreError

    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    later = AS_OF + timedelta(days=30)
    rebuilt = build(store, DEFINITIONS, AS_OF, force=True)
    build(store, DEFINITIONS, later)  # rewrites the file's state and its count
    assert rebuilt.users_without_signup == 1  # u4 has events but no signup (hand-counted above)
    with pytest.raises(StoreError, match="ask again"):
        rebuilt.state  # noqa: B018
    assert build(store, DEFINITIONS, later).state.count().execute() > 0


def test_identify_and_group_calls_after_as_of_do_not_apply(tmp_path):
    """As of +3h, anon-1 (identified at +4h) is nobody yet and u3 (grouped into acme at +4h) not a member: the answer
    as of +3h must not change when those later calls arrive. As of the end, both apply."""
    definitions = with_account_messages(2)
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        (None, "W", at("+5m"), {}, {"anonymous_id": "anon-1"}),
        ("u1", "Signed Up", T0),
        ("u2", "Signed Up", T0, {}, {"account_id": "acme"}), ("u2", "M", at("+1h"), {}, {"account_id": "acme"}),
        ("u3", "Signed Up", T0), ("u3", "M", at("+2h")),        # credited to acme only through the group call
        ("u4", "Signed Up", at("+6h")),
    ])
    write_identities(store, [("anon-1", "u1", at("+4h"))])
    write_memberships(store, [("u3", "acme", at("+4h"))])
    early = build(store, definitions, datetime.fromisoformat(at("+3h"))).state.execute()
    early = early.set_index(["entity_id", "milestone_id"])
    assert early.loc[("u1", "ws"), "status"] == "missed"            # anon-1's W is not u1's yet
    assert early.loc[("acme", "msgs"), "progress"] == 1              # u3 is not in acme yet
    late = build(store, definitions, datetime.fromisoformat(at("+1d"))).state.execute()
    late = late.set_index(["entity_id", "milestone_id"])
    assert late.loc[("u1", "ws"), "status"] == "reached"
    assert late.loc[("acme", "msgs"), "status"] == "reached" and late.loc[("acme", "msgs"), "progress"] == 2
