"""Build (or reuse) the materialised per-entity milestone state every analysis reads.

The state is keyed by the definitions' content hash, the store's data version and `as_of`: it is recomputed only
when one of them changes, so a second report on unchanged data reads a small table, not the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aha import progress
from aha.analyses import compiled, incremental
from aha.definitions import Definitions, content_hash
from aha.engine import columns as c
from aha.store import Store, schema
from aha.store.database import MEMORY, StoreError, one_row

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aha.analyses.signups import SignupRange
    from aha.engine.identity import EventSource

ENTITIES_TABLE = "aha_entities"  # one row per entity: ids, t0, segment sources and every milestone's state columns
RELEVANT_TABLE = "aha_relevant"  # + _user, _account: the candidate events of each entity type (temp)
REACH_VIEW = "aha_reach"  # + _i: each milestone's sparse reach, while the state is built (temp views)
LINKS_TABLE = "aha_links"  # anonymous id → user, while the state is built (temp)
MERGES_TABLE = "aha_merges"  # user id → the user an alias merged it into, likewise
BUILD_TABLE = "aha_entities_build"  # the entities before their state columns (temp)
MEMBERS_TABLE = "aha_members"  # (user key, account key, email domain), for members_reached milestones (temp)
DELTA_TABLE = "aha_entities_delta"  # an incremental update's recomputed entities (temp)
SINCE_SQL = f"SELECT min({c.T0}) FROM temp.{BUILD_TABLE}"  # the earliest t0 an incremental update recomputes
STATE_TABLE = "aha_state"  # a view: one row per (entity, milestone), with ids and status
STATE_KEY = "state_key"
WITHOUT_SIGNUP = "users_without_signup"  # key in aha_meta: counted with the state, read by the overview
SEGMENTS_TABLE = "aha_segments"  # (entity_key, signup_properties, traits) of users: built when a segment is asked for
SEGMENTS_KEY = "segments_key"  # the state key the segments table was built for
LAYOUT = "wide-5"  # part of the state key: a state written by an aha with another layout or rules is rebuilt
# (wide-4: property keys are literal member names, no longer JSON paths)
STALE_TABLES = ("aha_state_narrow", "aha_milestones")  # layouts of earlier releases


class Named:
    """The state's entities table by name, bound by Ibis only on first use (`MilestoneState.entities`): the file's
    (`database` None) or a rebuild's copy in memory (`MEMORY`). A report whose reads are kept statements
    (aha.analyses.report_sql) reads it by this name and never imports Ibis."""

    def __init__(self, store: Store, database: str | None = None) -> None:
        self.store, self.database = store, database

    @cached_property
    def table(self) -> ir.Table:
        if self.database is None:
            return self.store.table(ENTITIES_TABLE)
        return self.store.ibis.table(ENTITIES_TABLE, database=self.database)


@dataclass(frozen=True)
class MilestoneState:
    """Bound tables of one computed state. `entities` has one row per entity (t0, segment sources, and the wide
    state columns of engine.state.state_query); `state` is the long view, one row per (entity, milestone).
    `source` is that table, or its name (`Named`: the stored state, bound when `entities` is first read).

    Right after a rebuild, `entities` is the in-memory copy while the file's is still being written (`build`);
    `state` reads the file's and `users_without_signup` is counted with the write, so both wait for it."""

    definitions: Definitions
    as_of: datetime
    source: ir.Table | Named
    long_view: Callable[[], ir.Table] = field(repr=False)
    count_without_signup: Callable[[], int] = field(repr=False)
    rebuilt: bool = False  # recomputed from every event
    refreshed: bool = False  # brought up to date from the stored state: only the entities new calls touch
    key: str = ""  # the state key the file holds this state under (entity_rows reads the file's view by it)
    signups: SignupRange | None = None  # the signup date range its entities were restricted to (analyses.signups)
    # after an incremental update: the (entity_type, entity_id) pairs it recomputed (replaced, or removed when no
    # longer an entity); every other row is as the stored state had it (the server's checklist copy patches these)
    touched: frozenset[tuple[str, str]] | None = None
    unit: str = "user"  # what its entities are: "user", or "account" (analyses.account_level relabels accounts)

    @property
    def entities(self) -> ir.Table:
        return self.source.table if isinstance(self.source, Named) else self.source

    def on(self, store: Store) -> MilestoneState:
        """This state read through another handle on the same database (a thread's `Store.cursor`): a named table
        is bound there, on first use, not on the handle another thread is running a query on."""
        return replace(self, source=Named(store, self.source.database)) if isinstance(self.source, Named) else self

    @property
    def state(self) -> ir.Table:
        return self.long_view()

    def to_frame(self) -> Any:
        """The long state as a pandas frame, one row per (entity, milestone): for a notebook (it holds every
        signed-up user once per milestone of their type)."""
        return self.state.to_pandas()

    @property
    def users_without_signup(self) -> int:
        """Users with events but no signup event (SEMANTICS.md: in no cohort, reported)."""
        return self.count_without_signup()


def entity_rows(store: Store, ms: MilestoneState, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """One entity's rows of the long state (one per milestone of its type, the paid pseudo-milestone for users):
    what a checklist reads. Empty when the entity is not in the state. The file's view, read by a parameterised
    query: a point lookup per request, without compiling an expression."""
    _check_written(store, ms.key)
    result = store.raw.execute(f'SELECT * FROM "{STATE_TABLE}" WHERE {c.ENTITY_TYPE} = ? AND {c.ENTITY_ID} = ?',
                               [entity_type, entity_id])
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def long_state_rows(store: Store, ms: MilestoneState) -> Any:
    """The file's long view, whole, as an Arrow table sorted by (entity_type, entity_id): one entity's rows are then
    a slice, read without planning the view's union per entity (the server's checklists, aha.guidance.lookup)."""
    _check_written(store, ms.key)
    return store.raw.sql(f'SELECT * FROM "{STATE_TABLE}" ORDER BY {c.ENTITY_TYPE}, {c.ENTITY_ID}, '
                         f"{c.MILESTONE_ID}").to_arrow_table()


def event_source(store: Store, as_of: datetime | None) -> EventSource:
    """The store's events as the engine reads them, with the per-user tables writers keep beside them."""
    from aha.engine.identity import EventSource

    return EventSource(store.table(schema.EVENTS), store.table(schema.IDENTITIES), as_of,
                       store.table(schema.SEEN_USERS), store.table(schema.SEEN_MEMBERS),
                       store.table(schema.SEEN_ANONYMOUS))


def default_as_of(store: Store) -> datetime | None:
    """SEMANTICS.md: `as_of` defaults to the latest stored call (event, identity link, group membership), which
    every writer keeps in the store's meta table (`schema.latest_event`) rather than each report scanning for it."""
    value = store.meta(schema.LATEST_EVENT)
    return datetime.fromisoformat(value) if value else None


def _check_written(store: Store, key: str) -> None:
    """Wait for a state still being written; refuse to read the file's state for `key` if the file holds another
    (its write failed, or a later build replaced it): another state's rows would be read without an error."""
    store.settle()
    if store.meta(STATE_KEY) != key:
        raise StoreError("the milestone state was rebuilt or not written since this result asked for it "
                         "(other definitions, another --as-of, or a failed write): ask again.")


def build(store: Store, definitions: Definitions, as_of: datetime, force: bool = False) -> MilestoneState:
    """The state for `definitions` as of `as_of`: the stored one if its key matches, else rebuilt from the events.

    A rebuilt state is computed into memory and returned at once; a second connection writes it into the file,
    with its view and key, while the caller's analyses read the copy in memory (`Store.background`; the caller
    settles before it returns). Until the key is written a crash leaves the old key, so the next run rebuilds.
    """
    store.settle()  # a state still being written: its key decides whether this one is stale
    prefix = f"{LAYOUT}|{content_hash(definitions)}"
    key = f"{prefix}|{store.data_version}|{as_of.isoformat()}"
    cached = store.meta(STATE_KEY)

    counted: dict[str, int] = {}  # the users-without-signup count of this state, once known

    def long_view() -> ir.Table:
        _check_written(store, key)
        return store.table(STATE_TABLE)

    def without_signup() -> int:
        if WITHOUT_SIGNUP not in counted:
            _check_written(store, key)
        return counted[WITHOUT_SIGNUP]

    if not force and cached == key:
        counted[WITHOUT_SIGNUP] = int(store.meta(WITHOUT_SIGNUP) or 0)
        return MilestoneState(definitions, as_of, Named(store), long_view, without_signup, key=key)
    marks = incremental.Marks(key, prefix, as_of, default_as_of(store), incremental.watermarks(store)) if (
        store.incremental) else None
    before = incremental.stored_marks(store) if store.incremental else None
    if (not force and marks is not None and _incremental_applies(definitions)
            and incremental.why_not(store, before, prefix, as_of, cached) is None):
        assert before is not None
        from aha.analyses.refresh import refresh  # it reads this module's tables and steps

        with progress.stage("refreshing the milestone state"):
            counted[WITHOUT_SIGNUP], touched = refresh(store, definitions, before, marks)
        return MilestoneState(definitions, as_of, Named(store), long_view, without_signup,
                              refreshed=True, key=key, touched=touched)
    if store.incremental:  # the kept links are replaced with the key (`persist`): a crash before must leave no
        store.raw.execute(f"DELETE FROM {schema.META} WHERE key = ?", [incremental.MARKS])  # marks that trust them
    # In memory, to be copied into the file in the background; inside a transaction (the server's reads), which
    # may write to one database only, straight into the file.
    overlapped = not store.in_transaction
    target = (lambda q: store.memory_table(ENTITIES_TABLE, q)) if overlapped else (
        lambda q: store.materialise(ENTITIES_TABLE, q))
    for stale in (*STALE_TABLES, SEGMENTS_TABLE):  # segment sources belong to the state they were built for
        store.drop(stale)
    wide: ir.Table | Named
    view_sql: str | None
    links = _links_at(store, overlapped)
    with progress.stage("building the milestone state"):
        if store.incremental and compiled.enabled():  # a DuckDB file: the build's statements kept (analyses.compiled)
            wide, view_sql = _kept_build(store, definitions, as_of, overlapped, target, counted)
        else:
            source = event_source(store, as_of)
            # Who each anonymous id is, once: read by the entities, every candidate part and the users-without-signup
            # count.
            source = replace(source, linked=_make_links(store, source, links))
            wide = _spread(store, source, definitions, target)
            counted[WITHOUT_SIGNUP] = _count_without_signup(store, source, wide)
            view_sql = None

    def persist(handle: Store) -> None:
        """The state's file copy, its long view and its key: none of them is needed by the analyses that read the
        in-memory copy meanwhile."""
        if overlapped:
            handle.keep(ENTITIES_TABLE)
        if store.incremental:  # what the next incremental update compares with, kept with the key
            _keep_links(handle, definitions, links)
        if view_sql is not None:  # a DuckDB file: the kept statement
            handle.raw.execute(f'CREATE OR REPLACE VIEW "{STATE_TABLE}" AS {view_sql}')
        else:  # the store's own way (a Spark temp view; no raw SQL there): a full build runs on every backend
            assert not isinstance(wide, Named)
            handle.create_view(STATE_TABLE, _view_parts(wide, definitions, as_of))
        _write_key(handle, key, marks, counted[WITHOUT_SIGNUP])

    store.background(persist)  # inside a transaction, run here: it reads the temp links, dropped after
    if links[0] == "temp":
        store.drop(LINKS_TABLE, temp=True)
    else:  # once kept (a transaction of its own: one writes to one database)
        store.background(_drop_links)
    return MilestoneState(definitions, as_of, wide, long_view, without_signup, rebuilt=True, key=key)


def _kept_build(store: Store, definitions: Definitions, as_of: datetime, overlapped: bool,
                target: Callable[[ir.Table], ir.Table], counted: dict[str, int]) -> tuple[Named, str]:
    """A full build of a DuckDB file through the statements kept for these definitions (aha.analyses.compiled: in
    the file or this user's cache), else built and compiled now and kept: the links, the entities and their state
    (`target`), the users-without-signup count (into `counted`). Returns the entities bound and the long view's
    statement for `as_of`. Ibis is imported only for what is not kept."""
    prefix = ("build", LAYOUT, content_hash(definitions), str(schema.SCHEMA_VERSION), str(overlapped))

    links = _links_at(store, overlapped)

    def steps() -> None:
        source = event_source(store, compiled.AS_OF)
        _spread(store, replace(source, linked=_make_links(store, source, links)), definitions, target)

    compiled.run(store, prefix, as_of, "", steps)
    named = Named(store, MEMORY if overlapped else None)

    def without_sql() -> str:
        source = replace(event_source(store, compiled.AS_OF), linked=store.ibis.table(LINKS_TABLE, database=links[0]))
        wide = named.table
        signed_up = wide.filter(wide[c.ENTITY_TYPE] == c.USER)
        users = source.users()
        return str(store.ibis.compile(users.anti_join(signed_up, users.user_id == signed_up[c.ENTITY_ID]).count()))

    row = one_row(store.raw, compiled.text(store, (*prefix, "without"), as_of, without_sql))
    counted[WITHOUT_SIGNUP] = int(row[0] or 0) if row else 0
    view = compiled.text(store, (*prefix, "view"), as_of, lambda: store.union_sql(
        _view_parts(named.table, definitions, compiled.AS_OF)))
    return named, view


def _count_without_signup(store: Store, source: EventSource, wide: ir.Table) -> int:
    """Users with events but without a signup (SEMANTICS.md: in no cohort, reported), over the build's own links
    (`source.linked`): counted on this connection while its temp links exist, not by resolving every identity call
    again on the writing one."""
    signed_up = wide.filter(wide[c.ENTITY_TYPE] == c.USER)
    users = source.users()
    return int(store.value(users.anti_join(signed_up, users.user_id == signed_up[c.ENTITY_ID]).count()) or 0)


def _view_parts(wide: ir.Table, definitions: Definitions, as_of: datetime) -> list[ir.Table]:
    """The long view's parts over the file's entities, compiled against the name the file's table has."""
    import ibis

    from aha.engine.state import state_view_parts

    return state_view_parts(ibis.table(wide.schema(), name=ENTITIES_TABLE), definitions, as_of)


def _write_key(handle: Store, key: str, marks: incremental.Marks | None, without: int) -> None:
    """The state's key, marks (where the store keeps them: a DuckDB file) and users-without-signup count."""
    values = {STATE_KEY: key, WITHOUT_SIGNUP: str(without)}
    if marks is not None:
        values[incremental.MARKS] = marks.dump()
    handle.set_meta(values)


def _incremental_applies(definitions: Definitions) -> bool:
    """Accounts read from users' email traits, and `members_reached` milestones (an account's state depends on
    every member's, not only the recomputed ones): a full build (docs/semantics.md, "Incremental state")."""
    return definitions.accounts_from == "group" and not any(
        m.members_reached is not None for m in definitions.milestones)


def _links_at(store: Store, overlapped: bool) -> tuple[str, str]:
    """Where a full build keeps its identity links (database, table). Beside a state copied into the file in the
    background, in the attached in-memory database, which that copy's connection reads too: the links kept for
    incremental updates are then written there, off this connection (a third of a second of file writes at ten
    million events, most of it waiting on the disk). Otherwise (no DuckDB file, or inside a transaction, which
    writes to one database only) a temp table."""
    return (MEMORY, LINKS_TABLE) if store.incremental and overlapped else ("temp", LINKS_TABLE)


def _make_links(store: Store, source: EventSource, at: tuple[str, str]) -> ir.Table:
    """The identity links of `source` as a table at `at` (`_links_at`), bound."""
    if at[0] == MEMORY:
        return store.memory_table(LINKS_TABLE, source.identity_links())
    return store.materialise(LINKS_TABLE, source.identity_links(), temp=True)


def _drop_links(handle: Store) -> None:
    handle.raw.execute(f'DROP TABLE IF EXISTS {MEMORY}."{LINKS_TABLE}"')


def _keep_links(store: Store, definitions: Definitions | None = None,
                links: tuple[str, str] = ("temp", LINKS_TABLE)) -> None:
    """Keep beside the state what the next incremental update compares with: the links it resolved with (`links`:
    the table of this build) and, for a full build with a scoped milestone (`definitions`), each user's traits hash."""
    store.raw.execute(f'CREATE OR REPLACE TABLE {incremental.LINKS_KEPT} AS SELECT * FROM {links[0]}."{links[1]}"')
    if definitions is not None and any(m.scope for m in definitions.milestones):
        store.raw.execute(f"CREATE OR REPLACE TABLE {incremental.TRAITS_KEPT} AS "
                          f"SELECT user_id, hash(traits::VARCHAR) AS h FROM {schema.USERS}")


def _spread(store: Store, source: EventSource, definitions: Definitions, target: Callable[[ir.Table], ir.Table],
            keep: Callable[[ir.Table], ir.Table] | None = None, memberships: ir.Table | None = None) -> ir.Table:
    """Every milestone's reach spread over the entities (`state_query`), computed step by step through temp
    tables and stored by `target` (ENTITIES_TABLE in memory or in the file; a delta). Scratch is dropped.

    `keep` narrows the entities (an incremental update, with `memberships` narrowed likewise): then only events from
    the earliest kept `t0` on are read for milestones (events are stored in time order per name, so DuckDB skips
    the older row groups)."""
    import ibis

    from aha.engine import accounts
    from aha.engine.members_reached import member_keys_query
    from aha.engine.state import entities_query, owners_query, relevant_parts, state_query

    # Who each anonymous id is: read by the entities and every candidate part, so kept once (a full build passes
    # its own in, and drops it when it is done with it).
    made_links = source.linked is None
    if made_links:
        source = replace(source, linked=store.materialise(LINKS_TABLE, source.identity_links(), temp=True))
    linked = replace(source, merged=store.materialise(MERGES_TABLE, source.merges(), temp=True))
    # group calls made by as_of (an incremental update passes those of the ids it reads)
    memberships = linked.canonical_members(source.upto(store.table(schema.MEMBERSHIPS) if memberships is None
                                                       else memberships))
    # Entities first in memory (the candidate pass needs their keys), then written once, with the state.
    found = entities_query(linked, store.table(schema.USERS), memberships, definitions)
    entities = store.materialise(BUILD_TABLE, keep(found) if keep else found, temp=True)
    if keep:  # the earliest kept t0, read when the update runs (compiled.SINCE stands for it)
        store.scalar(SINCE_SQL)
        events = linked.events
        linked = replace(linked, events=events.filter(events.timestamp >= ibis.literal(compiled.SINCE)))
    owners = {kind: store.materialise(f"aha_owners_{kind}", owners_query(entities, definitions, kind), temp=True)
              for kind in (c.USER, c.ACCOUNT)}
    relevant = {}
    for kind, (first, *rest) in relevant_parts(linked, owners, memberships, definitions,
                                               store.table(schema.USERS)).items():
        relevant[kind] = store.materialise(f"{RELEVANT_TABLE}_{kind}", first, temp=True)
        for part in rest:
            store.append(f"{RELEVANT_TABLE}_{kind}", part, temp=True)
    # Each reach named as a temp view, so that the statement that spreads them is compiled against eleven names
    # rather than one expression of eleven aggregates (Ibis' compile time grows faster than the expression).
    views: list[str] = []

    def as_view(i: int, reach: ir.Table) -> ir.Table:
        views.append(f"{REACH_VIEW}_{i}")
        return store.temp_view(views[-1], reach)

    members = None
    if any(m.members_reached is not None for m in definitions.milestones):
        pairs = accounts.account_pairs(linked, memberships, store.table(schema.USERS), definitions)
        members = store.materialise(MEMBERS_TABLE, member_keys_query(pairs, entities, store.table(schema.USERS)),
                                    temp=True)
    spread = state_query(relevant, entities, definitions, named=as_view, members=members)
    wide = target(spread)
    for view in views:
        store.drop(view, view=True, temp=True)
    scratch = [f"{prefix}_{kind}" for prefix in (RELEVANT_TABLE, "aha_owners") for kind in owners]
    for temp in (BUILD_TABLE, MERGES_TABLE, MEMBERS_TABLE, *scratch, *((LINKS_TABLE,) if made_links else ())):
        store.drop(temp, temp=True)
    return wide
