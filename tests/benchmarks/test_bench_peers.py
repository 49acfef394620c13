"""The peer benchmark's agreement check at a tiny size, so that it cannot rot (benchmarks/bench_peers.py is a script;
its timings are never asserted here).

aha (its Python API and `aha report --json`), the hand-written DuckDB SQL, pandas and polars (a test extra) answer the
funnel, time to value and activation on one 300-user sample; chdb too where it is installed (the `peers` extra). The
event-sequence reference rule, which chdb's windowFunnel and retentioneering's funnel must equal, is checked against a
hand-counted log.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_core  # noqa: E402
import bench_peers  # noqa: E402
from baselines import event_funnel  # noqa: E402

pytest.importorskip("polars")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aha.sample import generate, load_into
    from aha.store import open_store

    work = tmp_path_factory.mktemp("peers")
    sample, db = work / "sample", work / "loaded.duckdb"
    generate(sample, users=300, seed=0)
    store = open_store(db)
    load_into(store, sample)
    store.close()
    shutil.copyfile(db, work / "cli.duckdb")
    config = bench_core.users_only_config(work)
    kinds = ["aha", "sql", "pandas", "polars", *(["chdb"] if find_spec("chdb") else [])]
    numbers = {kind: bench_peers.numbers_of(kind, sample, db, config)[0] for kind in kinds}
    # The real console script, `aha report --json`, on a store whose state was never built.
    numbers["aha_cli"] = bench_peers.cli_report(work / "cli.duckdb", config, work / "cli.log")["numbers"]
    return {"numbers": numbers, "refs": bench_peers.references(sample)}


def test_the_peers_installed_here_agree_with_aha(tiny: dict[str, Any]) -> None:
    numbers, refs = tiny["numbers"], tiny["refs"]
    assert bench_peers.disagreements(numbers, refs) == []
    aha = numbers["aha"]
    # Real answers, not empty ones: 232 mature signups in the 300-user sample, a funnel that narrows, every
    # milestone timed; the event-sequence funnel starts from the same cohort.
    assert aha["funnel"][0] == 232 and aha["funnel"] == sorted(aha["funnel"], reverse=True) and aha["funnel"][-2] > 0
    assert len(aha["reached"]) == 10 and all(aha["reached"].values())
    assert refs["event_funnel"][0] == refs["event_funnel_unbounded"][0] == aha["funnel"][0]
    # The event-sequence rule counts more at workspace: one 30-day window instead of the milestone's 30 minutes.
    assert refs["event_funnel"][1] > aha["funnel"][1]


def test_a_changed_number_is_reported(tiny: dict[str, Any]) -> None:
    numbers, refs = tiny["numbers"], tiny["refs"]
    aha = numbers["aha"]
    off = {
        "funnel": [*aha["funnel"][:2], aha["funnel"][2] + 1, *aha["funnel"][3:]],
        "median": {**aha["median"], "project": aha["median"]["project"] + 5},  # 5 s: past the 1 s tolerance
        "reached": {"workspace": aha["reached"]["workspace"]},  # a peer giving one milestone: only that compared
        "event_funnel": [refs["event_funnel"][0] - 1, *refs["event_funnel"][1:]],
    }
    close = {"median": {**aha["median"], "project": aha["median"]["project"] + 0.5}}
    assert bench_peers.disagreements({"aha": aha, "peer": off, "near": close}, refs) == [
        f"peer, funnel 2: {aha['funnel'][2] + 1} vs aha's {aha['funnel'][2]}",
        f"peer, median project: {aha['median']['project'] + 5} vs aha's {aha['median']['project']}",
        f"peer, event_funnel: {off['event_funnel']} vs the reference rule's {refs['event_funnel']}",
    ]


T = datetime(2026, 3, 1, 9, 0, 0)
# (user, event, seconds after T, integration_type): hand-made chains for the event-sequence rule.
LOG = [
    # u1: every step in order within minutes: all 7 levels.
    ("u1", "Signed Up", 0, None), ("u1", "Workspace Created", 60, None),
    ("u1", "Integration Connected", 120, "postgres"), ("u1", "Project Created", 180, None),
    ("u1", "Output Generated", 240, None), ("u1", "Invite Accepted", 300, None),
    ("u1", "Subscription Started", 360, None),
    # u2: a non-warehouse integration does not count, so the chain stops at level 2 (workspace).
    ("u2", "Signed Up", 0, None), ("u2", "Workspace Created", 60, None),
    ("u2", "Integration Connected", 120, "csv"), ("u2", "Project Created", 180, None),
    # u3: the workspace comes 31 days after signup: level 1 with the 30-day window, level 3 with none.
    ("u3", "Signed Up", 0, None), ("u3", "Workspace Created", 31 * 86400, None),
    ("u3", "Integration Connected", 31 * 86400 + 60, "bigquery"),
    # u4: the integration before the workspace, then again after it: the later one continues the chain (level 3),
    # where aha's ordered funnel reads the first one and stops at workspace.
    ("u4", "Signed Up", 0, None), ("u4", "Integration Connected", 60, "salesforce"),
    ("u4", "Workspace Created", 120, None), ("u4", "Integration Connected", 180, "salesforce"),
    # u5: signs up twice; only the second signup's window reaches the workspace: the longest chain counts (level 2).
    ("u5", "Signed Up", 0, None), ("u5", "Signed Up", 20 * 86400, None),
    ("u5", "Workspace Created", 40 * 86400, None),
    # an event at the same second as the previous step's continues the chain (timestamps non-decreasing).
    ("u6", "Signed Up", 0, None), ("u6", "Workspace Created", 0, None),
    # u7 signed up too recently to be in the cohort (30 days before the latest event).
    ("u7", "Signed Up", 80 * 86400, None), ("u7", "Workspace Created", 80 * 86400 + 1, None),
]


def test_the_reference_rule_on_a_hand_counted_log(tmp_path: Path) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"message_id": f"m{i}", "event": e, "user_id": u, "anonymous_id": None, "account_id": None,
             "timestamp": T + timedelta(seconds=s),
             "properties": "{}" if k is None else f'{{"integration_type": "{k}"}}'}
            for i, (u, e, s, k) in enumerate(LOG)]
    schema = pa.schema([(name, pa.timestamp("us") if name == "timestamp" else pa.string()) for name in rows[0]])
    pq.write_table(pa.Table.from_pylist(rows, schema), tmp_path / "events-00000.parquet")
    pq.write_table(pa.table({"anonymous_id": pa.array([], pa.string()), "user_id": pa.array([], pa.string()),
                             "timestamp": pa.array([], pa.timestamp("us"))}), tmp_path / "identities.parquet")
    # Levels reached: u1 7, u2 2, u3 1 (3 unbounded), u4 3, u5 2, u6 2; u7 not mature.
    assert event_funnel.reference_on_sample(str(tmp_path)) == [6, 5, 2, 1, 1, 1, 1]
    assert event_funnel.reference_on_sample(str(tmp_path), None) == [6, 6, 3, 1, 1, 1, 1]
    con = duckdb.connect()
    assert event_funnel.reference(con, f"read_parquet('{tmp_path}/events-*.parquet')",
                                  f"read_parquet('{tmp_path}/identities.parquet')", 30) == [6, 5, 2, 1, 1, 1, 1]
    con.close()
    if find_spec("chdb"):  # windowFunnel itself, where the peers extra is installed
        assert event_funnel.chdb_run(str(tmp_path))[0]["event_funnel"] == [6, 5, 2, 1, 1, 1, 1]
