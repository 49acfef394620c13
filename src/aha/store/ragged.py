"""A CSV some record of which does not fit its header (more or fewer cells, a quote never closed): DuckDB's reader
refuses the whole file, so the header is read with Python's csv module and the records with DuckDB's
`store_rejects`: the ones that fit are staged with their record's line, the others become dead letters (REJECTS)."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import duckdb

from aha.store.formats import _MAX_LINE, REJECTS, STAGE, ImportRefused, _check_header, duckdb_path, quote_literal


def ragged_header(path: Path, delim: str) -> list[str]:
    """The header cells of a CSV DuckDB's sniffer refused, read by Python's csv module; refused when a cell is empty
    or named twice (the usual path's rules)."""
    with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb") as f:
        text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace", newline="")
        names = [c.strip() for c in next(csv.reader(text, delimiter=delim, quotechar='"'), [])]
    _check_header(path, [n or None for n in names])
    if not all(names):
        raise ImportRefused(f"{path}: a header cell is empty and a record does not fit the header. Name every "
                            "column in the header line and import again.")
    return names


_REJECT_REASONS = {"UNQUOTED VALUE": 'a quoted cell is never closed (a lone ")'}


def stage_ragged(con: duckdb.DuckDBPyConnection, path: Path, delim: str) -> None:
    """STAGE from a CSV whose records do not all fit its header: the records that fit, each with its record's
    `_line`; the others into REJECTS as dead letters (the file is refused when they are most of it, as any)."""
    names = ragged_header(path, delim)
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}_errors")
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}_scans")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT * FROM read_csv(?, columns = {columns},
            auto_detect = false, header = true, delim = {quote_literal(delim)}, quote = '"', escape = '"',
            max_line_size = {_MAX_LINE}, ignore_errors = true, store_rejects = true,
            rejects_table = '{REJECTS}_errors', rejects_scan = '{REJECTS}_scans')""", [duckdb_path(path)])
    cases = " ".join(f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in _REJECT_REASONS.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {REJECTS} AS
            SELECT line AS _line, rtrim(arg_min(csv_line, column_idx), chr(13) || chr(10)) AS _raw,
                   arg_min(CASE WHEN error_type IN ('TOO MANY COLUMNS', 'MISSING COLUMNS') THEN
                                    regexp_extract(error_message, 'Found: ([0-9]+)', 1) || ' cells where the '
                                    || 'header has ' || regexp_extract(error_message, 'Columns: ([0-9]+)', 1)
                                    || ' (a separator inside an unquoted cell, or a cell missing?)'
                                ELSE CASE error_type {cases} ELSE error_message END END, column_idx) AS _reason
            FROM {REJECTS}_errors GROUP BY line""")
    # The k-th record read is the k-th record line (from 2) that was not rejected.
    con.execute(f"ALTER TABLE {STAGE} ADD COLUMN _line BIGINT")
    con.execute(
        f"""UPDATE {STAGE} SET _line = n.line FROM (
                SELECT line, row_number() OVER (ORDER BY line) - 1 AS k FROM range(2, 2 + (SELECT count(*) FROM {STAGE})
                    + (SELECT count(*) FROM {REJECTS})) r(line)
                WHERE line NOT IN (SELECT _line FROM {REJECTS})) n
            WHERE {STAGE}.rowid = n.k""")
