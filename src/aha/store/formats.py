"""Reading import files into a DuckDB staging table (store/files.py: which files, in which format), and where a
row's line number comes from.

Every reader keeps a 1-based `_line` so a rejected row can be found in the file again:
CSV/TSV count the header (the first record is line 2); JSON lines are read as raw text, one row per physical line,
so a line that is not JSON still arrives (and becomes a dead letter) instead of failing the read; Parquet counts rows.
"""

from __future__ import annotations

import difflib
import glob
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aha.store.database import one_row
from aha.store.files import (
    Format,
    ImportRefused,
    check_json_lines,
    delimiter,
    first_line,
    no_header,
    refuse_utf16,
)

STAGE = "aha_import_stage"
RAW_LINES = "aha_import_raw_lines"
REJECTS = "aha_import_rejects"  # CSV records that do not fit the header: (_line, _raw, _reason), store/ragged.py
# A delimiter that cannot occur in text: JSON lines are read as one VARCHAR column per physical line.
_NO_DELIMITER = "\x1f\x1e\x1d"
_MAX_LINE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_path(path: Path) -> str:
    """`path` as DuckDB's readers take it: they read every argument as a glob, so a file named `export [1].csv` read
    `export 1.csv` instead, and `a?b.jsonl` read every `a_b.jsonl` beside it too (its rows counted as its own).
    Python's glob.escape brackets each `*`, `?` and `[`, which DuckDB's glob matches literally."""
    return glob.escape(str(path))


def _csv_source(delim: str) -> str:
    return (
        f"read_csv(?, all_varchar = true, header = true, skip = 0, delim = {quote_literal(delim)}, quote = '\"', "
        f"escape = '\"', max_line_size = {_MAX_LINE})"  # a 5 MB cell, as JSON lines allow (DuckDB's default: 2 MB)
        # skip = 0: else DuckDB's sniffer, facing records that do not fit the header, may skip the header and the
        # records before the widest ones and read a data row as the header (store/ragged.py reads such a file)
    )


def _lines_source() -> str:
    return (
        "read_csv(?, columns = {'_raw': 'VARCHAR'}, header = false, auto_detect = false, quote = '', escape = '', "
        f"delim = {quote_literal(_NO_DELIMITER)}, max_line_size = {_MAX_LINE})"
    )


def read_error(path: Path, exc: duckdb.Error) -> ImportRefused:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Invalid string encoding found in Parquet" in first:  # a BINARY column read as text holds other bytes
        value = re.search(r'value (".*") is not valid UTF8', first)
        return ImportRefused(f"{path}: a text value{' ' + value[1] if value else ''} is not valid UTF-8, so nothing "
                             "of the file was imported. Write text columns as UTF-8 strings (a binary column "
                             "cannot be stored as a property: leave it out of the file) and import again.")
    if "Invalid unicode" in str(exc):
        line = re.search(r"Line: ([0-9]+)", first)
        return ImportRefused(f"{path}: {'line ' + line[1] if line else 'a line'} is not valid UTF-8, so nothing of "
                             "the file was imported (another encoding, such as Latin-1 or UTF-16?). Convert the file "
                             "to UTF-8 (`iconv -f latin1 -t utf-8 old.csv > new.csv`) and import again.")
    return ImportRefused(f"{path}: could not be read ({first}). Fix the file or export it again.")


def columns_of(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format) -> list[Column]:
    """The columns a file offers: header names (CSV/TSV), schema (Parquet), union of keys of flat objects (JSONL)."""
    if fmt != "parquet":
        refuse_utf16(path)
    try:
        if fmt == "jsonl":
            check_json_lines(path)
            rows = con.execute(
                f"""SELECT DISTINCT unnest(json_keys(_raw)) AS k FROM (
                        SELECT _raw FROM {_lines_source()} WHERE json_valid(_raw)
                    ) WHERE json_type(_raw) = 'OBJECT' AND json_extract(_raw, '$.type') IS NULL ORDER BY k""",
                [duckdb_path(path)],
            ).fetchall()
            return [Column(str(r[0]), "JSON") for r in rows]
        if fmt != "parquet" and no_header(path):
            return []
        if fmt != "parquet" and re.fullmatch(r"sep=.", first_line(path).lstrip("\ufeff").rstrip("\r\n")):
            raise ImportRefused(f"{path}: the first line {first_line(path).strip()!r} is Excel's separator hint, not "
                                "the header. Delete that line (the header must be the first) and import again.")
        source = _parquet_source() if fmt == "parquet" else _csv_source(delimiter(path, fmt))
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}", [duckdb_path(path)]).fetchall()
        except duckdb.InvalidInputException as exc:
            if fmt == "parquet" or not _ragged(exc):
                raise
            from aha.store.ragged import ragged_header

            return [Column(n, "VARCHAR") for n in ragged_header(path, delimiter(path, fmt))]
        unnamed: set[str] = set()
        if fmt != "parquet":
            names = _header(con, path, source)
            _check_header(path, names)
            unnamed = _unnamed_columns(con, path, source, names, [str(r[0]) for r in described])
    except duckdb.Error as exc:
        raise read_error(path, exc) from None
    return [Column(str(r[0]), str(r[1])) for r in described if r[0] != "file_row_number" and r[0] not in unnamed]


def _header(con: duckdb.DuckDBPyConnection, path: Path, source: str) -> list[str | None]:
    """A CSV/TSV file's header cells as written; None for an empty one."""
    header = con.execute(f"SELECT * FROM {source.replace('header = true', 'header = false')} LIMIT 1",
                         [duckdb_path(path)]).fetchall()
    return [None if c is None else str(c) for c in header[0]] if header else []


def _unnamed_columns(con: duckdb.DuckDBPyConnection, path: Path, source: str, names: list[str | None],
                     described: list[str]) -> set[str]:
    """The columns with an empty header cell, which DuckDB names `columnN`: left out when no line holds a value in
    them (trailing separators, as spreadsheets write), else the file is refused naming the column, since a property
    `column4` is a name the file never had (pandas writes its index so, unnamed, unless `to_csv(index=False)`)."""
    unnamed: set[str] = set()
    for number, (name, duck_name) in enumerate(zip(names, described, strict=False), start=1):
        if name is not None:
            continue
        found = con.execute(f"SELECT {quote_ident(duck_name)} FROM {source} "
                            f"WHERE {quote_ident(duck_name)} IS NOT NULL LIMIT 1", [duckdb_path(path)]).fetchall()
        if found:
            value = json.dumps(str(found[0][0])[:40])
            raise ImportRefused(f"{path}: column {number} has no name in the header, yet holds values (such as "
                                f"{value}). Name it in the header, or remove the column (pandas writes its index "
                                "so unless `to_csv(index=False)`), and import again.")
        unnamed.add(duck_name)
    return unnamed


_TIME_NAME = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?",
                        re.IGNORECASE)


def _check_header(path: Path, names: list[str | None]) -> None:
    """Refuse a CSV/TSV header that names a column twice: DuckDB would keep the first name and call the other
    `plan_1` (and rename a real `plan_1` column `plan_1_1`), so a property would be stored under a name the file
    never had. Names are compared as DuckDB does, ignoring case (`plan` and `Plan` clash too).

    Refuse one that holds a time where a name belongs: the file has no header line (Snowplow's enriched TSV, database
    dumps), its first record was read as the names, and the `--map` the refusal suggested (`event=page_view,
    timestamp=2024-01-01 10:00:00.000`) imported the rest while its first event was silently gone."""
    for number, name in enumerate(names, start=1):
        if name is not None and _TIME_NAME.fullmatch(name.strip()):
            raise ImportRefused(f"{path}: the first line holds {name!r} where a column name belongs (column "
                                f"{number}): the first line is data, so the file has no header line. Add a first "
                                "line naming the columns (e.g. event,user_id,timestamp,...) and import again.")
    first: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name is None:
            continue
        seen = first.setdefault(name.lower(), number)
        if seen != number:
            shown = names[seen - 1]
            case = "" if shown == name else f', as "{shown}" and "{name}": names ignore case'
            raise ImportRefused(f'{path}: the header names column "{shown}" twice (columns {seen} and {number}'
                                f"{case}). "
                                "Rename or remove one of them and import again.")


def member_names(con: duckdb.DuckDBPyConnection, path: Path, column: str) -> list[str]:
    """The union of member names of `column`'s objects in a JSON-lines file (flat lines only), for --map hints:
    Mixpanel's raw export nests `distinct_id` and `time` inside `properties`."""
    member = "/" + column.replace("~", "~0").replace("/", "~1")
    try:
        rows = con.execute(
            f"""SELECT DISTINCT unnest(json_keys(json_extract(_raw, ?))) AS k FROM (
                    SELECT _raw FROM {_lines_source()} WHERE json_valid(_raw)
                ) WHERE json_type(_raw) = 'OBJECT' AND json_extract(_raw, '$.type') IS NULL
                  AND json_type(json_extract(_raw, ?)) = 'OBJECT' ORDER BY k""",
            [member, duckdb_path(path), member],
        ).fetchall()
    except duckdb.Error as exc:
        raise read_error(path, exc) from None
    return [str(r[0]) for r in rows]


def _parquet_source() -> str:
    # BINARY columns are text: Hive, Impala and older Spark write strings without the UTF8 annotation, and DuckDB
    # read them as BLOB, whose cast to text escapes every non-ASCII byte (`Café` was stored as `Caf\xC3\xA9`).
    return "read_parquet(?, file_row_number = true, binary_as_string = true)"


def stage(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format) -> None:
    """(Re)create STAGE holding the file's rows plus `_line` (1-based line or row of the file): a temp table, or for
    Parquet a temp view over the file."""
    drop_staging(con)
    try:
        if fmt == "jsonl":
            con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT _raw FROM {_lines_source()}",
                        [duckdb_path(path)])
            _number_lines(con, STAGE, 1)
        elif fmt == "parquet":
            # A view, not a copy: the parse reads the file once, column by column, in parallel over its row groups;
            # only a file with rejected rows is read again (for their raw text). A view takes no parameters.
            source = _parquet_source().replace("?", quote_literal(duckdb_path(path)))
            con.execute(f"""CREATE TEMP VIEW {STAGE} AS
                            SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _line FROM {source}""")
            con.execute(f"SELECT * FROM {STAGE} LIMIT 0").fetchall()  # an unreadable file fails here, named
        elif no_header(path):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} (_line BIGINT)")
        else:
            # The header is line 1.
            source = _csv_source(delimiter(path, fmt))
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT * FROM {source}", [duckdb_path(path)])
            except duckdb.InvalidInputException as exc:
                if not _ragged(exc):
                    raise
                from aha.store.ragged import stage_ragged

                stage_ragged(con, path, delimiter(path, fmt))
                return
            staged = [str(r[0]) for r in con.execute(f"DESCRIBE {STAGE}").fetchall()]
            for name, duck_name in zip(_header(con, path, source), staged, strict=False):
                if name is None:  # an empty header cell over empty cells (`columns_of` refused any with a value)
                    con.execute(f"ALTER TABLE {STAGE} DROP COLUMN {quote_ident(duck_name)}")
            _number_lines(con, STAGE, 2)
    except duckdb.Error as exc:
        raise read_error(path, exc) from None


def _ragged(exc: duckdb.Error) -> bool:
    """DuckDB's refusal of a CSV some record of which does not fit the header (more or fewer cells, a quote never
    closed): its sniffer gives up, or the read stops at that record."""
    text = str(exc)
    return "Invalid unicode" not in text and ("Error when sniffing" in text or "CSV Error on Line" in text)


def _number_lines(con: duckdb.DuckDBPyConnection, table: str, first: int) -> None:
    # Insertion order is kept (preserve_insertion_order), so rowid is the position in the file.
    con.execute(f"ALTER TABLE {table} ADD COLUMN _line BIGINT")
    con.execute(f"UPDATE {table} SET _line = rowid + {int(first)}")


def stage_raw_lines(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Read a text file's physical lines into RAW_LINES(_line, _raw); returns the number of lines."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RAW_LINES} AS SELECT _raw FROM {_lines_source()}", [duckdb_path(path)])
    _number_lines(con, RAW_LINES, 1)
    row = one_row(con, f"SELECT count(*) FROM {RAW_LINES}")
    return int(row[0]) if row else 0


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP VIEW IF EXISTS {STAGE}" if _is_view(con, STAGE) else f"DROP TABLE IF EXISTS {STAGE}")
    con.execute(f"DROP TABLE IF EXISTS {RAW_LINES}")
    for table in (REJECTS, f"{REJECTS}_errors", f"{REJECTS}_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = one_row(con, "SELECT count(*) FROM duckdb_views() WHERE temporary AND view_name = ?", [name])
    return bool(row and row[0])


def close_matches(name: str, options: list[str]) -> list[str]:
    lowered = {o.lower(): o for o in options}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    return [lowered[h] for h in hits]
