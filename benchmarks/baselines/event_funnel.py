"""The event-sequence funnel: ClickHouse's `windowFunnel` through chdb, and the same rule written out in DuckDB SQL.

An event-sequence funnel is not aha's milestone funnel (docs/semantics.md, "Funnel"; docs/benchmarks.md, "Peers"):
a user reaches level k when events matching steps 1…k happened in that order (timestamps non-decreasing), the
k-th no later than one window after the chain's first event; a later "Signed Up" starts a new chain and the longest
chain counts. There are no per-step windows, no thresholds or property conditions on counts, no composite
milestone (core_workflow is two events), and a step is met by any qualifying event after the previous step's, not by
its first one. `CHAIN` maps the template's funnel onto event names, one step per event, as a ClickHouse user would
write it; the cohort is aha's (signed-up users whose 30-day windows have closed), anonymous events credited to the
earliest linked user as in the other baselines.

`reference()` is the rule in plain DuckDB SQL (chained "earliest next event" CTEs, per chain start): it must equal
chdb's counts, which shows that where chdb and aha differ the rule differs, not the data. With `window_days=None`
it is the funnel with no window at all (retentioneering's `funnel_data`, which orders by event position).
Nothing here imports aha.
"""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import Any

WAREHOUSES = ("postgres", "bigquery", "salesforce")
# (label, event, needs a warehouse integration_type): one chain level each.
CHAIN = (("signup", "Signed Up", False), ("workspace", "Workspace Created", False),
         ("data_connected", "Integration Connected", True), ("project", "Project Created", False),
         ("first_output", "Output Generated", False), ("collaboration", "Invite Accepted", False),
         ("_paid", "Subscription Started", False))
WINDOW_DAYS = 30  # the longest step window in the template (paid): the one window a windowFunnel user would pick
MATURE_DAYS = 30
# The chain's levels that stand for aha's funnel steps (signup, workspace, data_connected, core_workflow ≈ an output
# after a project, collaboration, paid).
AS_AHA_STEPS = (0, 1, 2, 4, 5, 6)
# The template's window of each chain level after signup, in seconds from the chain's start (aha measures from t0):
# `reference(step_windows=AHA_WINDOWS)` separates what the one window explains from what the rule itself does.
AHA_WINDOWS = (1800, 86400, 3 * 86400, 3 * 86400, 7 * 86400, 30 * 86400)


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def chdb_run(sample_dir: str, window_days: int = WINDOW_DAYS) -> tuple[dict[str, Any], dict[str, float]]:
    """windowFunnel over the sample's Parquet files in chdb: users reaching each chain level, and the seconds taken."""
    import chdb

    root = Path(sample_dir)
    t = perf_counter()
    events = f"file('{root}/events-*.parquet', Parquet)"
    names = _quoted(tuple(event for _, event, _ in CHAIN))
    conds = ", ".join(
        f"event = '{event}'" + (f" AND JSONExtractString(properties, 'integration_type') IN ({_quoted(WAREHOUSES)})"
                                if warehouse else "")
        for _, event, warehouse in CHAIN)
    sql = f"""
        WITH (SELECT max(timestamp) FROM {events}) AS as_of,
        links AS (SELECT anonymous_id, argMin(user_id, timestamp) AS linked
                  FROM file('{root}/identities.parquet', Parquet) GROUP BY anonymous_id),
        ev AS (SELECT if(isNull(e.user_id), l.linked, e.user_id) AS uid, e.event AS event, e.timestamp AS timestamp,
                      e.properties AS properties
               FROM {events} AS e LEFT JOIN links AS l ON e.anonymous_id = l.anonymous_id
               WHERE e.event IN ({names}) AND e.timestamp <= as_of),
        levels AS (SELECT uid, minIf(timestamp, event = 'Signed Up') AS t0,
                          windowFunnel({window_days * 86_400_000_000})(
                              toUInt64(toUnixTimestamp64Micro(timestamp)), {conds}) AS level
                   FROM ev WHERE uid IS NOT NULL AND uid != '' GROUP BY uid
                   HAVING countIf(event = 'Signed Up') > 0 AND t0 + INTERVAL {MATURE_DAYS} DAY <= as_of)
        SELECT {", ".join(f"countIf(level >= {k + 1})" for k in range(len(CHAIN)))} FROM levels"""
    out = chdb.query(sql, "CSV")
    counts = [int(v) for v in str(out).strip().split(",")]
    return {"event_funnel": counts}, {"windowFunnel query": perf_counter() - t}


def reference(con: Any, events: str, links: str, window_days: int | None = WINDOW_DAYS,
              step_windows: tuple[int, ...] | None = None) -> list[int]:
    """The event-sequence rule in DuckDB SQL on connection `con`: `events` and `links` are relations (table names or
    read_parquet calls) of the event log and the identity links. Users reaching each chain level. `step_windows`
    (seconds, one per level after the first) bounds each level's event by its own window from the chain's start
    instead, as aha bounds each milestone (before, not at, the window's end)."""
    names = _quoted(tuple(event for _, event, _ in CHAIN))
    as_of = f"(SELECT max(timestamp) FROM {events})"
    ctes = [f"""lk AS (SELECT anonymous_id, arg_min(user_id, timestamp) AS linked FROM {links} GROUP BY anonymous_id),
        ev AS (SELECT coalesce(e.user_id, lk.linked) AS uid, e.event, e.timestamp,
                      json_extract_string(e.properties, '$.integration_type') AS kind
               FROM {events} e LEFT JOIN lk USING (anonymous_id)
               WHERE e.event IN ({names}) AND e.timestamp <= {as_of} AND coalesce(e.user_id, lk.linked) IS NOT NULL),
        cohort AS (SELECT uid FROM ev WHERE event = 'Signed Up' GROUP BY uid
                   HAVING min(timestamp) + INTERVAL {MATURE_DAYS} DAY <= {as_of}),
        c1 AS (SELECT DISTINCT uid, timestamp AS start, timestamp AS at FROM ev JOIN cohort USING (uid)
               WHERE event = 'Signed Up')"""]
    for k, (_, event, warehouse) in enumerate(CHAIN[1:], start=2):
        kind = f" AND ev.kind IN ({_quoted(WAREHOUSES)})" if warehouse else ""
        bound = f" AND ev.timestamp <= c.start + INTERVAL {window_days} DAY" if window_days is not None else ""
        if step_windows is not None:
            bound = f" AND ev.timestamp < c.start + INTERVAL {step_windows[k - 2]} SECOND"
        ctes.append(f"""c{k} AS (SELECT c.uid, c.start, min(ev.timestamp) AS at FROM c{k - 1} c JOIN ev USING (uid)
               WHERE ev.event = '{event}'{kind} AND ev.timestamp >= c.at{bound} GROUP BY c.uid, c.start)""")
    counts = ", ".join(f"(SELECT count(DISTINCT uid) FROM c{k})" for k in range(1, len(CHAIN) + 1))
    row = con.execute(f"WITH {', '.join(ctes)} SELECT {counts}").fetchall()[0]
    return [int(v) for v in row]


def reference_on_sample(sample_dir: str, window_days: int | None = WINDOW_DAYS,
                        step_windows: tuple[int, ...] | None = None) -> list[int]:
    """`reference` over the sample's Parquet files, on a fresh in-memory DuckDB."""
    import duckdb

    root = Path(sample_dir)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        return reference(con, f"read_parquet('{root}/events-*.parquet')", f"read_parquet('{root}/identities.parquet')",
                         window_days, step_windows)
    finally:
        con.close()
