"""Snowplow's enriched events with the header its docs give (app_id, platform, etl_tstamp, collector_tstamp, ...),
through the real console script. The hint offered `timestamp=etl_tstamp` by closeness: the enrichment's processing
time, hours or days after the event in a backfill. Now it names Snowplow's event time (`derived_tstamp`) and the
cookie id (`domain_userid`), never offers a pipeline time by closeness, and leaves those times out of properties."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")
HEADER = ("app_id", "platform", "etl_tstamp", "collector_tstamp", "dvce_created_tstamp", "event", "event_id",
          "user_id", "domain_userid", "page_url", "derived_tstamp", "event_name")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_hint_names_snowplow_s_event_time_not_a_pipeline_time(tmp_path: Path) -> None:
    """Two events of u1: a page view at 10:00:00.5 and its sign_up at 10:05:00.5 (derived_tstamp), enriched a day
    later (etl_tstamp). By hand: both stored at their derived times, no pipeline time among the properties."""
    rows = [("shop", "web", "2024-07-02 10:00:05", "2024-07-01 10:00:01", "2024-07-01 10:00:00", "page_view", "e1",
             "", "du1", "https://x.io/", "2024-07-01 10:00:00.500", "page_view"),
            ("shop", "web", "2024-07-02 10:05:05", "2024-07-01 10:05:01", "2024-07-01 10:05:00", "unstruct", "e2",
             "u1", "du1", "https://x.io/signup", "2024-07-01 10:05:00.500", "sign_up")]
    (tmp_path / "events.tsv").write_text("\n".join("\t".join(r) for r in (HEADER, *rows)) + "\n")
    refused = run("import", "events.tsv", "--db", "aha.duckdb", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "Map one with --map timestamp=derived_tstamp,message_id=event_id,anonymous_id=domain_userid (event_id is a "
        "usual name for message_id; domain_userid is a usual name for anonymous_id)"), refused.stderr
    done = run("import", "events.tsv", "--db", "aha.duckdb", "--json", "--map",
               "timestamp=derived_tstamp,message_id=event_id,anonymous_id=domain_userid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["left_out"] == ["etl_tstamp", "collector_tstamp"]
    from aha.store import open_store

    store = open_store(tmp_path / "aha.duckdb", read_only=True)
    try:
        got = store.raw.execute("SELECT message_id, strftime(timestamp, '%H:%M:%S.%g'), properties FROM events "
                                "ORDER BY timestamp").fetchall()
    finally:
        store.close()
    assert [(m, t) for m, t, _ in got] == [("e1", "10:00:00.500"), ("e2", "10:05:00.500")]
    assert not any(k.endswith("_tstamp") and k != "dvce_created_tstamp" for _, _, p in got for k in json.loads(p))
