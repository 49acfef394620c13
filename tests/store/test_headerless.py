"""A CSV/TSV without a header line (Snowplow's enriched TSV, database dumps) is refused naming that, not read with its
first record as the column names. Before, the refusal listed the first record's values as "columns" and suggested
`--map user_id=COLUMN,...`; mapping those values (`--map event=page_view,timestamp=2024-01-01 10:00:00.000,...`)
imported every record but the first, which was silently gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.serving import aha

RECORDS = [  # Snowplow's enriched TSV in part: app_id, platform, etl_tstamp, collector_tstamp, event, event_id, user_id
    ["shop", "web", "2024-01-01 10:00:01.000", "2024-01-01 10:00:00.000", "page_view", "e1", "u1"],
    ["shop", "web", "2024-01-01 11:00:01.000", "2024-01-01 11:00:00.000", "struct", "e2", "u2"],
    ["shop", "web", "2024-01-01 12:00:01.000", "2024-01-01 12:00:00.000", "page_view", "e3", "u3"],
]


@pytest.mark.parametrize(("name", "sep", "mapping"), [
    pytest.param("enriched.tsv", "\t", [], id="tsv"),
    pytest.param("dump.csv", ",", [], id="csv"),
    pytest.param("enriched.tsv", "\t", ["--map", "event=page_view,user_id=u1,timestamp=2024-01-01 10:00:00.000"],
                 id="mapped_by_the_first_records_values"),
])
def test_a_file_without_a_header_line_is_refused_naming_that(tmp_path: Path, name: str, sep: str,
                                                             mapping: list[str]) -> None:
    (tmp_path / name).write_text("".join(sep.join(r) + "\n" for r in RECORDS), encoding="utf-8")
    done = aha("import", name, *mapping, "--db", "aha.duckdb", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, (
        f"error: {name}: the first line holds '2024-01-01 10:00:01.000' where a column name belongs (column 3): the "
        "first line is data, so the file has no header line. Add a first line naming the columns (e.g. "
        "event,user_id,timestamp,...) and import again."))


def test_with_its_header_line_every_record_is_imported(tmp_path: Path) -> None:
    header = ["app_id", "platform", "etl_tstamp", "collector_tstamp", "event", "event_id", "user_id"]
    (tmp_path / "enriched.tsv").write_text("".join("\t".join(r) + "\n" for r in [header, *RECORDS]), encoding="utf-8")
    done = aha("import", "enriched.tsv", "--map", "timestamp=collector_tstamp,message_id=event_id", "--json",
               "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 3
