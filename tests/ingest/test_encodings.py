"""Text that is not UTF-8, and Parquet text written as un-annotated BINARY, through `aha import` (docs/ingest.md,
"Encodings"): a Latin-1 CSV or JSON-lines file is refused in one line naming the line and the fix, nothing written
(was: `could not be read (Invalid Input Error: CSV Error on Line: 2)`); a Parquet string column written without the
UTF8 annotation (Hive, Impala, older Spark) is read as text (was: `Café` stored as `Caf\\xC3\\xA9`), and one holding
bytes that are not UTF-8 refuses the file (was: a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.serving import aha, rows

T = "2026-03-01T00:00:00Z"


def test_a_file_that_is_not_utf_8_is_refused_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes(f"message_id,event,user_id,timestamp\nm1,ok,u,{T}\nm2,Caf\xe9,u,{T}\n"
                                          .encode("latin-1"))
    (tmp_path / "latin1.jsonl").write_bytes(json.dumps({"type": "track", "messageId": "j1", "event": "Caf\xe9",
                                                        "userId": "u", "timestamp": T}, ensure_ascii=False)
                                            .encode("latin-1") + b"\n")
    for name, line in (("latin1.csv", 3), ("latin1.jsonl", 1)):
        done = aha("import", name, "--db", "aha.duckdb", cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"error: {name}: line {line} is not valid UTF-8, so nothing of the file was imported (another encoding, "
            "such as Latin-1 or UTF-16?). Convert the file to UTF-8 (`iconv -f latin1 -t utf-8 old.csv > new.csv`) "
            "and import again.")
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(0,)]


def test_parquet_text_written_as_binary_is_read_as_text(tmp_path: Path) -> None:
    def write(name: str, events: list[bytes], plans: list[bytes]) -> None:
        n = len(events)
        pq.write_table(pa.table({"message_id": [f"{name}{i}" for i in range(n)], "event": pa.array(events, pa.binary()),
                                 "user_id": ["u"] * n, "timestamp": [T] * n, "plan": pa.array(plans, pa.binary())}),
                       tmp_path / f"{name}.parquet")

    write("hive", ["Café".encode(), b"ok"], ["über".encode(), b"pro"])
    done = aha("import", "hive.parquet", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = rows(tmp_path / "aha.duckdb", "SELECT message_id, event, properties FROM events ORDER BY 1")
    assert [(m, e, json.loads(str(p))) for m, e, p in stored] == [
        ("hive0", "Café", {"plan": "über"}), ("hive1", "ok", {"plan": "pro"})]
    write("bytes", [b"ok", b"E\xff"], [b"pro", b"pro"])
    done = aha("import", "bytes.parquet", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        'error: bytes.parquet: a text value "E\\xFF" is not valid UTF-8, so nothing of the file was imported. Write '
        "text columns as UTF-8 strings (a binary column cannot be stored as a property: leave it out of the file) "
        "and import again.")
    assert rows(tmp_path / "aha.duckdb", "SELECT count(*) FROM events") == [(2,)]
