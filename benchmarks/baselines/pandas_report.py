"""The same report as a competent analyst would write it in pandas, straight from the sample's Parquet files.

Reads the event files (the columns it needs), the identity links and the user traits, then groups and merges. The
numbers and their meaning are those of `sql_report.py`; nothing here imports aha.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from baselines.sql_report import (
    ACCOUNT_COUNT,
    ACCOUNT_EVENT,
    ACCOUNT_MILESTONE,
    DAYS,
    FUNNEL,
    NAMES,
    TIMED,
    Stopwatch,
)

DAY = pd.Timedelta(days=1)


def run(sample_dir: str, accounts: bool = True) -> tuple[dict[str, Any], dict[str, float]]:
    """The report's numbers and the seconds each stage took; `accounts`: also the account milestone."""
    clock = Stopwatch()
    stages, lap = clock.stages, clock.lap

    root = Path(sample_dir)
    cols = ["message_id", "event", "user_id", "anonymous_id", "timestamp", "properties",
            *(["account_id"] if accounts else [])]
    events = pd.concat([pd.read_parquet(f, columns=cols) for f in sorted(root.glob("events-*.parquet"))],
                       ignore_index=True)
    identities = pd.read_parquet(root / "identities.parquet")
    users = pd.read_parquet(root / "users.parquet", columns=["user_id", "traits"])
    memberships = pd.read_parquet(root / "memberships.parquet") if accounts else None
    lap("read")

    as_of = events.timestamp.max()
    events = events[events.timestamp <= as_of]
    ev = events[events.event.isin(NAMES)].copy()
    links = identities.sort_values("timestamp").drop_duplicates("anonymous_id").set_index("anonymous_id").user_id
    if accounts:  # what the account milestone needs of the whole log, before it is dropped
        carried = events[events.user_id.notna() & events.account_id.notna()][["user_id", "account_id"]]
        msg = events[events.event == ACCOUNT_EVENT][["user_id", "anonymous_id", "account_id", "timestamp"]]
    del events
    ev["user_id"] = ev.user_id.fillna(ev.anonymous_id.map(links))
    ev = ev[ev.user_id.notna()]
    lap("events")

    signups = (ev[ev.event == "Signed Up"].sort_values(["timestamp", "message_id"])
               .drop_duplicates("user_id").rename(columns={"timestamp": "t0"}))
    u = signups[["user_id", "t0", "properties"]].merge(users, on="user_id", how="left")
    trait = u.traits.map(lambda s: json.loads(s).get("persona") if isinstance(s, str) else None)
    prop = u.properties.map(lambda s: json.loads(s).get("persona") if isinstance(s, str) else None)
    u["persona"] = trait.fillna(prop)
    u = u[["user_id", "t0", "persona"]].set_index("user_id")
    q = ev.merge(u[["t0"]], left_on="user_id", right_index=True)
    q = q[(q.timestamp >= q.t0) & (q.timestamp < q.t0 + 30 * DAY)]
    lap("signups")

    def first(event: str | list[str], window: pd.Timedelta) -> pd.Series:
        names = [event] if isinstance(event, str) else event
        hit = q[q.event.isin(names) & (q.timestamp < q.t0 + window)]
        return hit.groupby("user_id").timestamp.min()

    reach: dict[str, pd.Series] = {
        "workspace": first("Workspace Created", pd.Timedelta(minutes=30)),
        "project": first("Project Created", 3 * DAY),
        "first_output": first("Output Generated", 3 * DAY),
        "collaboration": first("Invite Accepted", 7 * DAY),
        "_paid": first("Subscription Started", 30 * DAY),
    }
    ic = q[(q.event == "Integration Connected") & (q.timestamp < q.t0 + DAY)]
    kind = ic.properties.map(lambda s: json.loads(s).get("integration_type"))
    reach["data_connected"] = ic[kind.isin(["postgres", "bigquery", "salesforce"])].groupby("user_id").timestamp.min()

    di = q[(q.event == "Data Imported") & (q.timestamp < q.t0 + 7 * DAY)].sort_values(
        ["user_id", "timestamp", "message_id"])
    rows = pd.to_numeric(di.properties.map(lambda s: json.loads(s).get("rows")), errors="coerce").fillna(0.0)
    di = di.assign(running=rows.groupby(di.user_id).cumsum())
    reach["rows_imported"] = di[di.running >= 50].groupby("user_id").timestamp.min()

    up = q[q.event.isin(["Pricing Viewed", "Upgrade Clicked"]) & (q.timestamp < q.t0 + 7 * DAY)].sort_values(
        ["user_id", "timestamp", "message_id"])
    reach["upgrade_intent"] = up[up.groupby("user_id").cumcount() == 1].set_index("user_id").timestamp

    sso = first("SSO Configured", 14 * DAY)
    reach["admin_setup"] = sso[sso.index.isin(u.index[u.persona == "admin"])]

    both = pd.concat([reach["project"], reach["first_output"]], axis=1, join="inner").max(axis=1)
    reach["core_workflow"] = both[both < u.t0.reindex(both.index) + 3 * DAY]
    lap("milestones")

    account_numbers = None
    if accounts and memberships is not None:
        members = pd.concat([carried.drop_duplicates(), memberships[["user_id", "account_id"]]]).drop_duplicates()
        acct = members.merge(u[["t0"]], left_on="user_id", right_index=True).groupby("account_id").t0.min()
        first_group = memberships.sort_values("timestamp").drop_duplicates("user_id").set_index("user_id").account_id
        who = msg.user_id.fillna(msg.anonymous_id.map(links))
        msg = msg.assign(account_id=msg.account_id.fillna(who.map(first_group)))[who.notna()]
        msg = msg.merge(acct.rename("t0"), left_on="account_id", right_index=True)
        msg = msg[(msg.timestamp >= msg.t0) & (msg.timestamp < msg.t0 + 30 * DAY)].sort_values(
            ["account_id", "timestamp"])
        hit = msg[msg.groupby("account_id").cumcount() == ACCOUNT_COUNT - 1]
        secs = (hit.timestamp - hit.t0).dt.total_seconds()
        account_numbers = (len(secs), float(secs.median()) if len(secs) else None)
        lap("account milestone")

    wide = u.copy()
    for m in TIMED:
        wide[m] = reach[m].reindex(wide.index)

    mature = wide[wide.t0 + 30 * DAY <= as_of]
    counted = pd.Series(True, index=mature.index)
    previous = mature.t0
    funnel = [int(counted.sum())]
    for m in FUNNEL:
        counted &= mature[m].notna() & (mature[m] >= previous)
        funnel.append(int(counted.sum()))
        previous = mature[m]

    ttm = (wide.core_workflow - wide.t0).dt.total_seconds()
    activation = {}
    for n in DAYS:
        observed = wide.t0 + n * DAY <= as_of
        activation[str(n)] = [int((observed & (ttm <= n * 86400)).sum()), int(observed.sum())]

    reached, median = {}, {}
    for m in TIMED:
        secs = (wide[m] - wide.t0).dt.total_seconds().dropna()
        reached[m] = len(secs)
        median[m] = float(secs.median()) if len(secs) else None
    if account_numbers is not None:
        reached[ACCOUNT_MILESTONE], median[ACCOUNT_MILESTONE] = account_numbers
    lap("report")
    return {"funnel": funnel, "activation": activation, "reached": reached, "median": median}, stages
