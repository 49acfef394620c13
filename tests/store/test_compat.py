"""Ibis 12 on DuckDB 2 and SQLGlot 30 (aha.store.compat): each patched call on a real DuckDB file, plus the single-row
reads DuckDB 2 would otherwise leave open. On DuckDB 1.x / SQLGlot 29 the patches are no-ops and these still hold."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import sqlglot as sg
import sqlglot.expressions as sge

from aha.store import compat, open_store
from aha.store.database import one_row


def test_patches_only_what_this_duckdb_and_sqlglot_lack() -> None:
    assert hasattr(duckdb.DuckDBPyConnection, "fetch_arrow_table")  # DuckDB 1.x's own, or the alias on 2.x
    assert ("duckdb: connection fetch_arrow_table/fetch_record_batch" in compat.APPLIED) == (
        int(duckdb.__version__.split(".")[0]) >= 2)  # removed in 2.0
    assert ("sqlglot: Drop(this=…)" in compat.APPLIED) == ("this" not in sge.Drop.arg_types)
    assert compat.apply() == compat.APPLIED  # a second call changes nothing


def test_drop_renders_the_name_ibis_gives() -> None:
    """SQLGlot 30 dropped `this` from Drop: Ibis's `Drop(this=…)` rendered as a nameless `DROP VIEW IF EXISTS`."""
    assert sge.Drop(kind="VIEW", this="v", exists=True).sql("duckdb") == "DROP VIEW IF EXISTS v"
    qualified = sg.table("t", db="main", catalog="c", quoted=True)
    assert sge.Drop(kind="TABLE", this=qualified, exists=True).sql("duckdb") == 'DROP TABLE IF EXISTS "c"."main"."t"'


def test_the_drop_patch_holds_after_sql_was_generated_first() -> None:
    """SQLGlot caches each generator's dispatch table on first use: DuckDB SQL generated before the patch applied
    (tests/engine/test_member_reads.py compiles at import, before any store made its Ibis backend) kept the nameless
    DROP for the rest of the whole suite's process. A fresh process, in that order."""
    code = ("import sqlglot, sqlglot.expressions as sge\n"
            "sqlglot.parse_one('SELECT 1').sql('duckdb')\n"
            "import aha.store.compat\n"
            "print(sge.Drop(kind='VIEW', this='v', exists=True).sql('duckdb'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DROP VIEW IF EXISTS v"


def test_ibis_drops_and_lists_on_a_real_file(db_path: Path) -> None:
    store = open_store(db_path)
    try:
        store.raw.execute("CREATE TABLE kept AS SELECT 1 AS a")
        store.raw.execute("CREATE TABLE gone AS SELECT 1 AS a")
        store.raw.execute("CREATE VIEW seen AS SELECT 2 AS b")
        store.ibis.drop_table("gone")  # a Drop(this=…) statement
        store.ibis.drop_view("seen")
        names = store.ibis.list_tables()  # the cursor's fetch_arrow_table
        assert "kept" in names and "gone" not in names and "seen" not in names
        assert "main" in store.ibis.list_databases()
    finally:
        store.close()


def test_ibis_tables_from_memory_and_sql(db_path: Path) -> None:
    store = open_store(db_path)
    try:
        # create_table from an in-memory table drops the view it registered (Drop(kind="VIEW", this=name))
        made = store.ibis.create_table("made", ibis.memtable({"x": [3, 1, 2]}), temp=True)
        assert sorted(made.x.to_pyarrow().to_pylist()) == [1, 2, 3]
        # Backend.sql describes the query through the cursor (fetch_arrow_table)
        query = store.ibis.sql("SELECT x * 10 AS y FROM made")
        assert query.schema().names == ("y",)
        assert sorted(store.execute(query).y.tolist()) == [10, 20, 30]
        # to_pyarrow_batches reads the cursor in batches (fetch_record_batch)
        batches = store.ibis.to_pyarrow_batches(made.order_by("x"), chunk_size=2)
        assert pa.Table.from_batches(list(batches)).column("x").to_pylist() == [1, 2, 3]
    finally:
        store.close()


def test_cursor_arrow_aliases_keep_rows_and_types() -> None:
    con = duckdb.connect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # DuckDB 1.x's own fetch_arrow_table, deprecated
        table = con.execute("SELECT range AS n, 'a' AS s FROM range(5)").fetch_arrow_table()
        reader = con.execute("SELECT range AS n FROM range(5)").fetch_record_batch(rows_per_batch=2)
        sizes = [batch.num_rows for batch in reader]
    assert table.column("n").to_pylist() == [0, 1, 2, 3, 4] and table.schema.field("n").type == pa.int64()
    assert sum(sizes) == 5 and max(sizes) <= 2



def test_cursor_arrow_aliases_do_not_warn() -> None:
    """DuckDB 2 warns that Arrow from a cursor copies the rows once more; Ibis's catalog reads through the alias
    stay quiet (a fresh interpreter: pytest installs its own warning filters in front of aha's)."""
    code = ("import aha.store.compat, duckdb; c = duckdb.connect(); c.execute('SELECT 42 AS n'); "
            "print(c.fetch_arrow_table().column('n').to_pylist())")
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[42]"


def test_single_row_reads_leave_the_connection_free(db_path: Path) -> None:
    """DuckDB 2 refuses Ibis's next query beside a partly read SELECT; aha's single-row reads finish theirs."""
    store = open_store(db_path)
    try:
        store.raw.execute("CREATE TABLE t AS SELECT range AS n FROM range(4)")
        assert one_row(store.raw, "SELECT n FROM t ORDER BY n") == (0,)
        assert store.scalar("SELECT count(*) FROM t WHERE n > ?", [1]) == 2
        assert store.data_version == 0
        assert store.execute(store.table("t").n.sum()) == 6  # Ibis's relation on the same connection
        assert one_row(store.raw, "SELECT n FROM t WHERE n > 9") is None
    finally:
        store.close()


def test_json_member_with_a_dot_compiles_and_runs() -> None:
    """The fully quoted path `$."a.b"` (a key holding a dot) passes through SQLGlot 30 unchanged and reads that key,
    not a → b."""
    t = ibis.table({"p": "json"}, name="t")
    sql = ibis.to_sql(t.p['$."a.b"'].str.name("v"), dialect="duckdb")
    assert """'$."a.b"'""" in sql
    con = duckdb.connect()
    con.execute("""CREATE TABLE t AS SELECT '{"a.b": "flat", "a": {"b": "nested"}}'::JSON AS p""")
    assert con.execute(sql).fetchall() == [("flat",)]
