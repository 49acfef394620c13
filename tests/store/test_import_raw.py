"""The raw text of a rejected CSV row: the file's line where lines match records, else the row as JSON. A file
whose physical lines DuckDB's line reader cannot split (CRLF line ends with a quoted cell holding a bare LF, as
spreadsheets write a multi-line cell) is still imported, its rejected rows keeping the row as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from aha.store import open_store
from aha.store.importer import import_files


def test_a_crlf_csv_with_a_multi_line_cell_keeps_its_rejected_rows_as_json(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b'message_id,event,user_id,timestamp,properties\r\n'
                     b'm1,e,u,2026-03-01T00:00:00Z,"{""a"":\n1}"\r\n'  # a cell over two lines (bare LF)
                     b'm2,,u,2026-03-01T00:00:00Z,{}\r\n')  # no event name: a dead letter
    store = open_store(db_path)

    summary = import_files(store, [path], allow_rejects=True)

    assert (summary.rows_read, summary.imported, summary.rejected) == (2, 1, 1)
    assert store.raw.execute("SELECT message_id, properties FROM events").fetchall() == [("m1", '{"a":1}')]
    (line, reason, raw), = store.raw.execute("SELECT line, reason, raw FROM dead_letters").fetchall()
    assert (line, reason) == (3, "empty event name")
    assert json.loads(raw) == {"message_id": "m2", "event": None, "user_id": "u", "timestamp": "2026-03-01T00:00:00Z",
                               "properties": "{}"}
