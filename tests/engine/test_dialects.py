"""One definition, many engines: the state, funnel and discovery statements compile for Spark SQL as well as DuckDB.

The statements are built on unbound tables (the store's schemas, no connection) exactly as the analyses build them,
compiled with `ibis.to_sql`, and each Spark statement is parsed back by SQLGlot's Spark reader. Running them on Spark
is the scale work's; this pins that nothing in the engine is DuckDB-only at compile time (Ibis or SQLGlot refusing
an operation for a dialect raises here)."""

from __future__ import annotations

import re
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pytest
import sqlglot
import sqlglot.expressions as sge

from aha.analyses.funnel import funnel_query, step_ids
from aha.analyses.state import MilestoneState
from aha.analyses.wide import users_wide
from aha.definitions import Definitions, load
from aha.engine import columns as c
from aha.engine.discovery import candidate_counts, dose_query, population_query
from aha.engine.identity import EventSource
from aha.engine.state import entities_query, owners_query, relevant_parts, state_query, state_view_parts, tracked
from aha.store import open_store, schema
from tests.conftest import TEMPLATE

AS_OF = datetime(2026, 3, 1)
DIALECTS = ("duckdb", "pyspark")
STORED = (schema.EVENTS, schema.IDENTITIES, schema.USERS, schema.MEMBERSHIPS, schema.SEEN_USERS,
          schema.SEEN_MEMBERS, schema.SEEN_ANONYMOUS)


class SparkOptions(ibis.config.Config):
    treat_nan_as_null: bool = False  # the PySpark backend's default


@pytest.fixture(autouse=True)
def spark_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ibis registers `options.pyspark` when its PySpark backend loads, which needs pyspark; its compiler reads it."""
    if ibis.options.pyspark is None:
        monkeypatch.setattr(ibis.options, "pyspark", SparkOptions())


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ir.Table]:
    """The canonical tables, unbound, with the schemas a real store gives them."""
    store = open_store(tmp_path_factory.mktemp("dialects") / "aha.duckdb")
    try:
        return {name: ibis.table(store.table(name).schema(), name=name) for name in STORED}
    finally:
        store.close()


def statements(tables: dict[str, ir.Table], definitions: Definitions) -> dict[str, ir.Table]:
    """Every statement the state build, the funnel and discovery run, over named unbound tables (the temp tables
    `analyses.state._spread` materialises stand as unbound tables of the same schema)."""
    t = tables
    source = EventSource(t[schema.EVENTS], t[schema.IDENTITIES], AS_OF, t[schema.SEEN_USERS],
                         t[schema.SEEN_MEMBERS], t[schema.SEEN_ANONYMOUS])
    memberships = source.upto(t[schema.MEMBERSHIPS])
    built = entities_query(source, t[schema.USERS], memberships, definitions)
    entities = ibis.table(built.schema(), name="aha_entities_build")
    out: dict[str, ir.Table] = {"identity links": source.identity_links(), "entities": built}
    owners = {}
    for kind in (c.USER, c.ACCOUNT):
        query = owners_query(entities, definitions, kind)
        out[f"owners {kind}"], owners[kind] = query, ibis.table(query.schema(), name=f"aha_owners_{kind}")
    relevant = {}
    for kind, parts in relevant_parts(source, owners, memberships, definitions).items():
        for i, part in enumerate(parts):
            out[f"relevant {kind} {i}"] = part
        relevant[kind] = ibis.table(parts[0].schema(), name=f"aha_relevant_{kind}")
    spread = state_query(relevant, entities, definitions)
    out["state"] = spread
    wide = ibis.table(spread.schema(), name="aha_entities")
    for i, part in enumerate(state_view_parts(wide, definitions, AS_OF)):
        out[f"long state {i}"] = part
    steps = step_ids(definitions)
    state = MilestoneState(definitions, AS_OF, wide, long_view=lambda: wide, count_without_signup=lambda: 0)
    for order in ("ordered", "unordered"):
        out[f"funnel {order}"] = funnel_query(users_wide(state, steps, None), steps, AS_OF, order, False)
    carried = {"segment": "string", "_outcome": "boolean", "_in_1": "boolean", "_in_7": "boolean"}
    people = ibis.table({c.ENTITY_ID: "string", c.ENTITY_KEY: "int64", c.T0: "timestamp", "_paid_at": "timestamp",
                         **carried}, name="people")
    outcome = ibis.table({c.ENTITY_KEY: "int64", "_outcome": "boolean", "segment": "string", "window": "int8"},
                         name="outcome")
    counts = candidate_counts(source, people, ["signed_up"], (1, 7), [("export", "format", "csv")],
                              before_paid=True, carry=list(carried))
    out["discovery counts"] = counts
    out["discovery dose"] = dose_query(counts, (1, 7))
    out["discovery population"] = population_query(outcome)
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_state_funnel_and_discovery_compile(tables: dict[str, ir.Table], dialect: str) -> None:
    definitions = load(TEMPLATE)
    built = statements(tables, definitions)
    assert {"entities", "state", "funnel ordered", "discovery counts"} <= built.keys()
    assert sum(name.startswith("long state") for name in built) == len(tracked(definitions))  # + paid
    known = {*STORED, "aha_entities_build", "aha_owners_user", "aha_owners_account", "aha_relevant_user",
             "aha_relevant_account", "aha_entities", "people", "outcome"}
    read = "spark" if dialect == "pyspark" else dialect
    for name, expr in built.items():
        sql = ibis.to_sql(expr, dialect=dialect)
        parsed = sqlglot.parse_one(sql, read=read)  # the dialect's own reader takes it back
        tables_read = {t.name for t in parsed.find_all(sge.Table)} - {cte.alias for cte in parsed.find_all(sge.CTE)}
        assert tables_read and tables_read <= known, (name, tables_read)
        if dialect == "pyspark":
            unquoted = re.sub(r"'(?:[^'\\\\]|\\\\.)*'", "''", sql)  # string literals (JSON paths) aside
            assert "`" in sql and '"' not in unquoted, name  # Spark's identifier quotes throughout


def test_spark_reads_json_members_with_spark_functions(tables: dict[str, ir.Table]) -> None:
    """Property filters (`where`, `scope`, `sum`) become Spark's VARIANT functions, not DuckDB's `->>` operators nor
    Ibis's Python UDFs (aha.store.dialects)."""
    built = statements(tables, load(TEMPLATE))
    spark = "\n".join(ibis.to_sql(built[name], dialect="pyspark") for name in built if name.startswith("relevant"))
    duck = "\n".join(ibis.to_sql(built[name], dialect="duckdb") for name in built if name.startswith("relevant"))
    assert "JSON_EXTRACT_STRING" in duck.upper() and "->" not in duck  # one parse per member read (dialects._text)
    assert "->" not in spark and "VARIANT_GET" in spark.upper() and "unwrap_json" not in spark
