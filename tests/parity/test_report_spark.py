"""`aha report --html` on Spark: the drop-off notes live in a DuckDB table Spark cannot read (`store.raw` is refused),
so the report file has none rather than stopping at them (before, every `--html` on Spark ended in that refusal)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.parity.conftest import url


def test_the_report_reads_no_notes_from_spark_rather_than_failing(logs: Path, spark_session: Any,
                                                                  tmp_path: Path) -> None:
    from aha.surfaces.cli.commands.report_cmd import _notes

    assert _notes(Path(url("spark", logs))) == []
    # the DuckDB file: read, and empty in the sample. A copy: the parity fixtures of this process may hold the
    # sample's file open for writing, and DuckDB refuses a read-only connection beside them in one process.
    copy = tmp_path / "aha.duckdb"
    shutil.copy(logs / "aha.duckdb", copy)
    assert _notes(copy) == []
