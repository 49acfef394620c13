"""A file whose name holds glob characters is that file. Browsers and spreadsheets name copies `export [1].csv`;
Windows never allows `?` or `*`, but Linux exports may hold them. Before: `aha import 'export [1].csv'` read
`export 1.csv` instead (the name was expanded as a pattern, by aha and again by DuckDB's readers, which take every
path as a glob), and `a?b.jsonl` read every `a_b.jsonl` beside it, counting their rows as its own.
Each file below holds one event of its own user, so the users stored say which files were read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.serving import aha, rows

CSV = "event,user_id,timestamp\nSigned Up,{user},2026-01-01T00:00:00Z\n"
RAGGED = "event,user_id,timestamp\nSigned Up,{user},2026-01-01T00:00:00Z\nSigned Up,x,2026-01-01T00:00:00Z,extra\n"


def jsonl(user: str) -> str:
    return json.dumps({"event": "Signed Up", "user_id": user, "timestamp": "2026-01-01T00:00:00Z"}) + "\n"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    files = {
        "export [1].csv": CSV.format(user="bracketed"), "export 1.csv": CSV.format(user="plain"),
        "a?b.jsonl": jsonl("question"), "aXb.jsonl": jsonl("x"), "a*b.jsonl": jsonl("star"),
        "r[2].csv": RAGGED.format(user="ragged"), "r2.csv": RAGGED.format(user="ragged-other"),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "g[1].csv.gz").write_bytes(gzip.compress(CSV.format(user="gzipped").encode()))
    (tmp_path / "g1.csv.gz").write_bytes(gzip.compress(CSV.format(user="gzipped-other").encode()))
    for name, user in (("p[1].parquet", "parquet"), ("p1.parquet", "parquet-other")):
        table = pa.table({"event": ["Signed Up"], "user_id": [user], "timestamp": ["2026-01-01T00:00:00Z"]})
        pq.write_table(table, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(("name", "users", "read"), [
    pytest.param("export [1].csv", ["bracketed"], 1, id="brackets"),
    pytest.param("a?b.jsonl", ["question"], 1, id="question_mark"),
    pytest.param("a*b.jsonl", ["star"], 1, id="star"),
    pytest.param("g[1].csv.gz", ["gzipped"], 1, id="gzip"),
    pytest.param("p[1].parquet", ["parquet"], 1, id="parquet"),
    pytest.param("r[2].csv", ["ragged"], 2, id="ragged_csv"),  # the record with a 4th cell is a dead letter
    pytest.param("a[?X]b.jsonl", ["question", "x"], 2, id="a_pattern_that_is_no_file_is_still_a_pattern"),
])
def test_a_file_named_with_glob_characters_is_read_as_that_file(folder: Path, name: str, users: list[str],
                                                                read: int) -> None:
    done = aha("import", name, "--db", "aha.duckdb", "--allow-rejects", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_read"] == read
    assert sorted(u for (u,) in rows(folder / "aha.duckdb", "SELECT DISTINCT user_id FROM events")) == users
