"""`aha report --html` on Spark: the drop-off notes live in a DuckDB table Spark cannot read (`store.raw` is refused),
so the report file has none rather than stopping at them (before, every `--html` on Spark ended in that refusal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.parity.conftest import url


def test_the_report_reads_no_notes_from_spark_rather_than_failing(logs: Path, spark_session: Any) -> None:
    from aha.surfaces.cli.commands.report_cmd import _notes

    assert _notes(Path(url("spark", logs))) == []
    assert _notes(logs / "aha.duckdb") == []  # the DuckDB file: read, and empty in the sample
