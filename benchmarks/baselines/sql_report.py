"""The practical floor: the activation report as an experienced analyst would write it in DuckDB SQL.

Reads the canonical tables of an aha store (read-only) and computes, for the bundled template's milestones, the numbers
`bench_core.py` compares: ordered funnel with maturity, Day-N activation of `core_workflow`, reached counts and median
time to each milestone, the account milestone included (`accounts=False` leaves it out). The milestone definitions
are copied by hand from `src/aha/definitions/template.yaml` (bench_core checks the copy against the file); nothing here
imports aha.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

# Event names any user milestone, the signup or the paid event uses: the one filter over the event table.
NAMES = ("Signed Up", "Workspace Created", "Integration Connected", "Project Created", "Output Generated",
         "Invite Accepted", "Data Imported", "Pricing Viewed", "Upgrade Clicked", "SSO Configured",
         "Subscription Started")
FUNNEL = ("workspace", "data_connected", "core_workflow", "collaboration", "_paid")
TIMED = ("workspace", "data_connected", "project", "first_output", "core_workflow", "collaboration", "rows_imported",
         "upgrade_intent", "admin_setup", "_paid")
DAYS = (1, 7, 14, 30)
LONGEST = "30 days"  # the longest user window (paid, 30d): bounds the qualifying-event table

# One query per milestone, each reading the qualifying-event table `q` (user_id, t0, event, timestamp, ...).
REACH = {
    "workspace": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Workspace Created' AND timestamp < t0 + INTERVAL 30 MINUTE GROUP BY user_id""",
    "data_connected": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Integration Connected' AND timestamp < t0 + INTERVAL 24 HOUR
          AND json_extract_string(properties, '$.integration_type') IN ('postgres', 'bigquery', 'salesforce')
        GROUP BY user_id""",
    "project": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Project Created' AND timestamp < t0 + INTERVAL 3 DAY GROUP BY user_id""",
    "first_output": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Output Generated' AND timestamp < t0 + INTERVAL 3 DAY GROUP BY user_id""",
    "collaboration": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Invite Accepted' AND timestamp < t0 + INTERVAL 7 DAY GROUP BY user_id""",
    "rows_imported": """SELECT user_id, min(timestamp) AS reach FROM (
            SELECT user_id, timestamp,
                   sum(coalesce(TRY_CAST(json_extract_string(properties, '$.rows') AS DOUBLE), 0))
                       OVER (PARTITION BY user_id ORDER BY timestamp, message_id ROWS UNBOUNDED PRECEDING) AS running
            FROM q WHERE event = 'Data Imported' AND timestamp < t0 + INTERVAL 7 DAY)
        WHERE running >= 50 GROUP BY user_id""",
    "upgrade_intent": """SELECT user_id, timestamp AS reach FROM (
            SELECT user_id, timestamp,
                   row_number() OVER (PARTITION BY user_id ORDER BY timestamp, message_id) AS n
            FROM q WHERE event IN ('Pricing Viewed', 'Upgrade Clicked') AND timestamp < t0 + INTERVAL 7 DAY)
        WHERE n = 2""",
    "admin_setup": """SELECT q.user_id, min(timestamp) AS reach FROM q JOIN u USING (user_id)
        WHERE event = 'SSO Configured' AND timestamp < q.t0 + INTERVAL 14 DAY AND u.persona = 'admin'
        GROUP BY q.user_id""",
    "_paid": """SELECT user_id, min(timestamp) AS reach FROM q
        WHERE event = 'Subscription Started' AND timestamp < t0 + INTERVAL 30 DAY GROUP BY user_id""",
}
# The account milestone (template `workspace_messages`): 2,000 "Message Sent" of an account's members within 30 days of
# the account's t0 (its earliest signed-up member's). Members: pairs carried by the same event, and group calls.
# An event counts for the account it carries, else for its (resolved) user's first group call's account.
ACCOUNT_MILESTONE, ACCOUNT_EVENT, ACCOUNT_COUNT, ACCOUNT_WINDOW = "workspace_messages", "Message Sent", 2000, "30 days"
ACCOUNTS = """SELECT m.account_id, min(u.t0) AS t0 FROM (
        SELECT DISTINCT user_id, account_id FROM db.events
        WHERE user_id IS NOT NULL AND account_id IS NOT NULL AND timestamp <= $as_of
        UNION SELECT user_id, account_id FROM db.memberships) m
    JOIN u USING (user_id) GROUP BY m.account_id"""
ACCOUNT_REACH = f"""WITH first_group AS (
        SELECT user_id, arg_min(account_id, timestamp) AS account_id FROM db.memberships GROUP BY user_id),
    msg AS (
        SELECT coalesce(e.account_id, f.account_id) AS account_id, e.timestamp
        FROM db.events e LEFT JOIN links l USING (anonymous_id)
        LEFT JOIN first_group f ON f.user_id = coalesce(e.user_id, l.linked)
        WHERE e.event = '{ACCOUNT_EVENT}' AND e.timestamp <= $as_of AND coalesce(e.user_id, l.linked) IS NOT NULL),
    ranked AS (
        SELECT msg.account_id, msg.timestamp,
               row_number() OVER (PARTITION BY msg.account_id ORDER BY msg.timestamp) AS n
        FROM msg JOIN acct USING (account_id)
        WHERE msg.timestamp >= acct.t0 AND msg.timestamp < acct.t0 + INTERVAL {ACCOUNT_WINDOW})
    SELECT account_id, timestamp AS reach FROM ranked WHERE n = {ACCOUNT_COUNT}"""
CORE_WORKFLOW = """SELECT p.user_id, greatest(p.reach, o.reach) AS reach
    FROM r_project p JOIN r_first_output o USING (user_id) JOIN u USING (user_id)
    WHERE greatest(p.reach, o.reach) < u.t0 + INTERVAL 3 DAY"""



class Stopwatch:
    """The seconds each stage of a baseline took: `lap(name)` closes the stage that ended now."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._t = perf_counter()

    def lap(self, name: str) -> None:
        now = perf_counter()
        self.stages[name] = now - self._t
        self._t = now

def run(db: str, accounts: bool = True) -> tuple[dict[str, Any], dict[str, float]]:
    """The report's numbers and the seconds each stage took; `accounts`: also the account milestone."""
    import duckdb  # here, so that pandas_report can share the constants above without loading DuckDB

    clock = Stopwatch()
    stages, lap = clock.stages, clock.lap

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"ATTACH '{db}' AS db (READ_ONLY)")
    as_of = con.execute("SELECT max(timestamp) FROM db.events").fetchone()[0]
    names = ", ".join(f"'{n}'" for n in NAMES)
    # Events of those names up to as_of, anonymous ones credited to the earliest identified user of their id.
    con.execute("""CREATE TEMP TABLE links AS
        SELECT anonymous_id, arg_min(user_id, timestamp) AS linked FROM db.identities GROUP BY anonymous_id""")
    con.execute(f"""CREATE TEMP TABLE ev AS
        SELECT coalesce(e.user_id, l.linked) AS user_id, e.event, e.timestamp, e.message_id, e.properties
        FROM db.events e LEFT JOIN links l USING (anonymous_id)
        WHERE e.event IN ({names}) AND e.timestamp <= ? AND coalesce(e.user_id, l.linked) IS NOT NULL""", [as_of])
    lap("events")
    con.execute("""CREATE TEMP TABLE u AS
        SELECT s.user_id, s.t0, coalesce(json_extract_string(t.traits, '$.persona'),
                                         json_extract_string(s.props, '$.persona')) AS persona
        FROM (SELECT user_id, min(timestamp) AS t0, first(properties ORDER BY timestamp, message_id) AS props
              FROM ev WHERE event = 'Signed Up' GROUP BY user_id) s
        LEFT JOIN db.users t USING (user_id)""")
    con.execute(f"""CREATE TEMP TABLE q AS
        SELECT ev.*, u.t0 FROM ev JOIN u USING (user_id)
        WHERE ev.timestamp >= u.t0 AND ev.timestamp < u.t0 + INTERVAL {LONGEST}""")
    lap("signups")
    for mid, sql in REACH.items():
        con.execute(f"CREATE TEMP TABLE r_{mid} AS {sql}")
    con.execute(f"CREATE TEMP TABLE r_core_workflow AS {CORE_WORKFLOW}")
    lap("milestones")
    numbers_account = None
    if accounts:
        con.execute(f"CREATE TEMP TABLE acct AS {ACCOUNTS}", {"as_of": as_of})
        con.execute(f"CREATE TEMP TABLE r_account AS {ACCOUNT_REACH}", {"as_of": as_of})
        numbers_account = con.execute("""SELECT count(*), quantile_cont(epoch(r.reach) - epoch(a.t0), 0.5)
            FROM r_account r JOIN acct a USING (account_id)""").fetchone()
        lap("account milestone")
    joins = " ".join(f"LEFT JOIN r_{m} ON r_{m}.user_id = u.user_id" for m in TIMED)
    cols = ", ".join(f"r_{m}.reach AS {m.lstrip('_')}" for m in TIMED)
    con.execute(f"CREATE TEMP TABLE wide AS SELECT u.user_id, u.t0, u.persona, {cols} FROM u {joins}")

    # Ordered funnel, mature users only (every step window closed: t0 + 30d <= as_of).
    steps, prev, conds = ["count(*)"], "t0", ["t0 + INTERVAL 30 DAY <= $as_of"]
    for m in FUNNEL:
        col = m.lstrip("_")
        conds.append(f"{col} IS NOT NULL AND {col} >= {prev}")
        steps.append(f"count(*) FILTER (WHERE {' AND '.join(conds[1:])})")
        prev = col
    funnel = con.execute(f"SELECT {', '.join(steps)} FROM wide WHERE {conds[0]}", {"as_of": as_of}).fetchone()

    act_cols = []
    for n in DAYS:
        observed = f"t0 + INTERVAL {n} DAY <= $as_of"
        act_cols += [f"count(*) FILTER (WHERE {observed} AND epoch(core_workflow) - epoch(t0) <= {n * 86400})",
                     f"count(*) FILTER (WHERE {observed})"]
    act = con.execute(f"SELECT {', '.join(act_cols)} FROM wide", {"as_of": as_of}).fetchone()

    timing_cols = []
    for m in TIMED:
        col = m.lstrip("_")
        scope = " AND persona = 'admin'" if m == "admin_setup" else ""
        timing_cols += [f"count(*) FILTER (WHERE {col} IS NOT NULL{scope})",
                        f"quantile_cont(epoch({col}) - epoch(t0), 0.5) FILTER (WHERE {col} IS NOT NULL{scope})"]
    timing = con.execute(f"SELECT {', '.join(timing_cols)} FROM wide").fetchone()
    lap("report")
    con.close()
    numbers = {
        "funnel": [int(v) for v in funnel],
        "activation": {str(n): [int(act[2 * i]), int(act[2 * i + 1])] for i, n in enumerate(DAYS)},
        "reached": {m: int(timing[2 * i]) for i, m in enumerate(TIMED)},
        "median": {m: _float(timing[2 * i + 1]) for i, m in enumerate(TIMED)},
    }
    if numbers_account is not None:
        numbers["reached"][ACCOUNT_MILESTONE] = int(numbers_account[0])
        numbers["median"][ACCOUNT_MILESTONE] = _float(numbers_account[1])
    return numbers, stages


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
