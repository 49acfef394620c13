"""The same user-milestone numbers as `sql_report.py`, in polars' lazy API, straight from the sample's Parquet files.

One lazy plan per milestone over a shared, collected qualifying-event frame (collected once: every milestone reads it),
then the funnel, Day-N activation and time to each milestone. The account milestone is left out (the peer benchmark
compares user milestones). Nothing here imports aha.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from baselines.sql_report import DAYS, FUNNEL, NAMES, TIMED, Stopwatch

DAY = 86_400_000_000  # microseconds: the sample's timestamps are timestamp[us]
WINDOW = {"workspace": 1800 * 10**6, "data_connected": DAY, "project": 3 * DAY, "first_output": 3 * DAY,
          "collaboration": 7 * DAY, "_paid": 30 * DAY, "admin_setup": 14 * DAY}
FIRST_OF = {"workspace": "Workspace Created", "project": "Project Created", "first_output": "Output Generated",
            "collaboration": "Invite Accepted", "_paid": "Subscription Started", "admin_setup": "SSO Configured"}


def run(sample_dir: str) -> tuple[dict[str, Any], dict[str, float]]:
    """The report's numbers and the seconds each stage took."""
    clock = Stopwatch()
    stages, lap = clock.stages, clock.lap

    root = Path(sample_dir)
    events = pl.scan_parquet(sorted(root.glob("events-*.parquet"))).select(
        "message_id", "event", "user_id", "anonymous_id", "timestamp", "properties")
    links = (pl.scan_parquet(root / "identities.parquet").sort("timestamp")
             .group_by("anonymous_id").agg(pl.col("user_id").first().alias("linked")))
    as_of = events.select(pl.col("timestamp").max()).collect().item()
    ev = (events.filter(pl.col("event").is_in(NAMES) & (pl.col("timestamp") <= as_of))
          .join(links, on="anonymous_id", how="left")
          .with_columns(pl.coalesce("user_id", "linked").alias("user_id")).drop("linked")
          .filter(pl.col("user_id").is_not_null()))
    traits = pl.scan_parquet(root / "users.parquet").select(
        "user_id", pl.col("traits").str.json_path_match("$.persona").alias("trait_persona"))
    u = (ev.filter(pl.col("event") == "Signed Up").sort("timestamp", "message_id")
         .group_by("user_id").agg(pl.col("timestamp").first().alias("t0"), pl.col("properties").first())
         .join(traits, on="user_id", how="left")
         .select("user_id", "t0", pl.coalesce("trait_persona", pl.col("properties").str.json_path_match("$.persona"))
                 .alias("persona"))).collect()
    q = (ev.join(u.lazy().select("user_id", "t0"), on="user_id")
         .filter((pl.col("timestamp") >= pl.col("t0")) & (pl.col("timestamp") < pl.col("t0") + pl.duration(days=30)))
         ).collect()
    lap("read, identities, signups")

    lq = q.lazy()
    within = (pl.col("timestamp") - pl.col("t0")).dt.total_microseconds()

    def first(mid: str) -> pl.LazyFrame:
        hit = lq.filter((pl.col("event") == FIRST_OF[mid]) & (within < WINDOW[mid]))
        return hit.group_by("user_id").agg(pl.col("timestamp").min().alias(mid))

    plans = {mid: first(mid) for mid in FIRST_OF}
    plans["admin_setup"] = plans["admin_setup"].join(
        u.lazy().filter(pl.col("persona") == "admin").select("user_id"), on="user_id", how="semi")
    kind = pl.col("properties").str.json_path_match("$.integration_type")
    plans["data_connected"] = (lq.filter((pl.col("event") == "Integration Connected")
                                         & (within < WINDOW["data_connected"])
                                         & kind.is_in(["postgres", "bigquery", "salesforce"]))
                               .group_by("user_id").agg(pl.col("timestamp").min().alias("data_connected")))
    rows = pl.col("properties").str.json_path_match("$.rows").cast(pl.Float64, strict=False).fill_null(0.0)
    plans["rows_imported"] = (lq.filter((pl.col("event") == "Data Imported") & (within < 7 * DAY))
                              .sort("user_id", "timestamp", "message_id")
                              .with_columns(rows.cum_sum().over("user_id").alias("running"))
                              .filter(pl.col("running") >= 50)
                              .group_by("user_id").agg(pl.col("timestamp").min().alias("rows_imported")))
    plans["upgrade_intent"] = (lq.filter(pl.col("event").is_in(["Pricing Viewed", "Upgrade Clicked"])
                                         & (within < 7 * DAY))
                               .sort("user_id", "timestamp", "message_id")
                               .filter(pl.int_range(pl.len()).over("user_id") == 1)
                               .select("user_id", pl.col("timestamp").alias("upgrade_intent")))
    wide = u.lazy()
    for mid in TIMED:
        if mid != "core_workflow":
            wide = wide.join(plans[mid], on="user_id", how="left")
    both = pl.max_horizontal("project", "first_output")
    wide = wide.with_columns(
        pl.when(pl.col("project").is_not_null() & pl.col("first_output").is_not_null()
                & (both < pl.col("t0") + pl.duration(days=3))).then(both).otherwise(None).alias("core_workflow"))
    w = wide.collect()
    lap("milestones")

    mature = w.lazy().filter(pl.col("t0") + pl.duration(days=30) <= as_of)
    counted, previous, steps = pl.lit(True), pl.col("t0"), [pl.len().alias("signup")]
    for mid in FUNNEL:
        counted = counted & pl.col(mid).is_not_null() & (pl.col(mid) >= previous)
        steps.append(counted.sum().alias(mid))
        previous = pl.col(mid)
    ttm = (pl.col("core_workflow") - pl.col("t0")).dt.total_seconds()
    act = []
    for n in DAYS:
        observed = pl.col("t0") + pl.duration(days=n) <= as_of
        act += [(observed & (ttm <= n * 86400)).sum().alias(f"num{n}"), observed.sum().alias(f"den{n}")]
    timing = []
    for mid in TIMED:
        secs = (pl.col(mid) - pl.col("t0")).dt.total_seconds(fractional=True)
        timing += [pl.col(mid).is_not_null().sum().alias(f"n_{mid}"), secs.median().alias(f"m_{mid}")]
    funnel_row, act_row, timing_row = pl.collect_all([mature.select(steps), w.lazy().select(act),
                                                      w.lazy().select(timing)])
    lap("report")
    f, a, tm = funnel_row.row(0, named=True), act_row.row(0, named=True), timing_row.row(0, named=True)
    numbers = {
        "funnel": [int(f["signup"]), *(int(f[m]) for m in FUNNEL)],
        "activation": {str(n): [int(a[f"num{n}"]), int(a[f"den{n}"])] for n in DAYS},
        "reached": {m: int(tm[f"n_{m}"]) for m in TIMED},
        "median": {m: None if tm[f"m_{m}"] is None else float(tm[f"m_{m}"]) for m in TIMED},
    }
    return numbers, stages
