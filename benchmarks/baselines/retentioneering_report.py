"""The funnel, time to value and activation as a retentioneering user would get them (runs in its own venv).

retentioneering (5.x; DuckDB inside) analyses an `Eventstream` of (path, event, timestamp) rows. It has no identity
stitching and no property conditions, so pandas first credits anonymous events to their earliest linked user (as
the other baselines do) and names the qualifying integrations apart ("Integration Connected (warehouse)"). Then:

- funnel: `funnel_data(steps)` over the mature cohort's paths: retentioneering's funnel is an event sequence with no
  time window (each step's first event after the previous step's, by position in the path); it equals
  `event_funnel.reference(window_days=None)`, not aha's milestone funnel;
- time to value: `get_metrics` "time_between" (first "Signed Up" to the first of each milestone event), kept where it
  falls inside the milestone's window, then reached counts and medians (pandas); core_workflow is the later of
  project and first output, inside 3 days;
- activation: Day-N of core_workflow from those times (pandas), with aha's observed-for-N-days denominators.

Set RETENTIONEERING_NO_TRACK=1 (the benchmark does): the library sends usage telemetry by default.
Nothing here imports aha.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from baselines.event_funnel import CHAIN, MATURE_DAYS, WAREHOUSES
from baselines.sql_report import DAYS, Stopwatch

WAREHOUSE_EVENT = "Integration Connected (warehouse)"
# Milestones that are the first of one event inside a window: (milestone, event, window seconds).
SINGLE = (("workspace", "Workspace Created", 1800), ("data_connected", WAREHOUSE_EVENT, 86400),
          ("project", "Project Created", 3 * 86400), ("first_output", "Output Generated", 3 * 86400),
          ("collaboration", "Invite Accepted", 7 * 86400), ("_paid", "Subscription Started", 30 * 86400))


def run(sample_dir: str) -> tuple[dict[str, Any], dict[str, float]]:
    """The numbers retentioneering gives and the seconds each stage took."""
    os.environ.setdefault("RETENTIONEERING_NO_TRACK", "1")
    import pandas as pd
    import retentioneering as rete

    clock = Stopwatch()
    stages, lap = clock.stages, clock.lap

    root = Path(sample_dir)
    names = [event for _, event, _ in CHAIN]
    events = pd.concat([pd.read_parquet(f, columns=["event", "user_id", "anonymous_id", "timestamp", "properties"],
                                        filters=[("event", "in", names)])
                        for f in sorted(root.glob("events-*.parquet"))], ignore_index=True)
    as_of = pd.concat([pd.read_parquet(f, columns=["timestamp"]) for f in sorted(root.glob("events-*.parquet"))]
                      ).timestamp.max()
    identities = pd.read_parquet(root / "identities.parquet")
    links = identities.sort_values("timestamp").drop_duplicates("anonymous_id").set_index("anonymous_id").user_id
    events = events[events.timestamp <= as_of]
    events["user_id"] = events.user_id.fillna(events.anonymous_id.map(links))
    events = events[events.user_id.notna()]
    integ = events.event == "Integration Connected"
    kind = events.properties[integ].map(lambda s: json.loads(s).get("integration_type"))
    events.loc[kind.index[kind.isin(WAREHOUSES)], "event"] = WAREHOUSE_EVENT
    events = events[events.event != "Integration Connected"][["user_id", "event", "timestamp"]]
    lap("read and prepare (pandas)")

    stream = rete.Eventstream(events)
    metrics = stream.get_metrics([{"metric": "time_between", "metric_args": {"start_event": "Signed Up",
                                                                              "end_event": event}}
                                  for _, event, _ in SINGLE])
    lap("Eventstream + time_between")

    t0 = events[events.event == "Signed Up"].groupby("user_id").timestamp.min()
    mature = t0.index[t0 + pd.Timedelta(days=MATURE_DAYS) <= as_of]
    cohort = rete.Eventstream(events[events.user_id.isin(mature)])
    steps = [WAREHOUSE_EVENT if warehouse else event for _, event, warehouse in CHAIN]
    funnel = [int(s["unique_paths"]) for s in cohort.funnel_data(steps=steps)["steps"]]
    lap("funnel_data (mature cohort)")

    secs: dict[str, pd.Series] = {}
    for (mid, _, window), column in zip(SINGLE, metrics.columns, strict=True):
        value = metrics[column].dropna()
        secs[mid] = value[(value >= 0) & (value < window)]
    both = pd.concat([secs["project"], secs["first_output"]], axis=1, join="inner").max(axis=1)
    secs["core_workflow"] = both[both < 3 * 86400]
    reached = {mid: len(v) for mid, v in secs.items()}
    median = {mid: float(v.median()) if len(v) else None for mid, v in secs.items()}
    ttm = secs["core_workflow"].reindex(t0.index)
    activation = {}
    for n in DAYS:
        observed = t0 + pd.Timedelta(days=n) <= as_of
        activation[str(n)] = [int((observed & (ttm <= n * 86400)).sum()), int(observed.sum())]
    lap("windows, medians, activation (pandas)")
    return {"event_funnel_unbounded": funnel, "reached": reached, "median": median, "activation": activation}, stages


if __name__ == "__main__":  # quick look: python baselines/retentioneering_report.py SAMPLE_DIR
    import sys

    print(json.dumps(run(sys.argv[1]), indent=1))
