"""`aha sample --nudges`: the sample with a history of two rules, one with a planted effect and one without.

After the base sample is loaded, the two rules below are evaluated over its whole history (as a server running them
from the first day would have), each eligible user recorded once with a stable holdout. Then the effect is planted:
a nudged user of `connect_nudge` who would have missed `data_connected` connects anyway with probability
CONNECT_LIFT, 15 minutes to 12 hours after the moment of the nudge (inside the 24-hour window). Held-out users get
nothing. `invite_prompt` has no effect at all. The truth (how many nudged users were moved, and the difference in
completion it makes among users whose windows closed) is kept in `aha_meta` under `sample_nudge_truth` and printed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aha.definitions import Definitions
from aha.store import Store, one_row, schema

CONNECT_LIFT = 0.30
SEED = 20261204
RULES = """
rules:                             # nudges with holdouts (aha sample --nudges plants their history)
  - id: connect_nudge
    when: {not_reached: data_connected, after: 2h}
    then: {in_app: "Connect a data source: it takes two minutes with the guided setup."}
    holdout: 0.2
  - id: invite_prompt
    when: {reached: primary}
    aims_at: collaboration
    then: {in_app: "Invite a teammate to review your first output."}
    holdout: 0.2
"""


@dataclass(frozen=True, slots=True)
class NudgeTruth:
    recorded: int  # firings of both rules
    moved: int  # nudged connect_nudge users given the connection they would have missed
    nudged_closed: int  # nudged connect_nudge users whose window closed by the end of the data
    planted_points: float  # 100 × moved / nudged_closed: the difference the nudge makes, by construction


def plant(store: Store, definitions: Definitions) -> NudgeTruth:
    """Record both rules' history, deliver the nudges, plant the effect of `connect_nudge`; returns the truth."""
    from aha.guidance.rules import FIRINGS
    from aha.project import Project

    forever = timedelta(days=100_000)  # the history is recorded from the first day: no moment is too late
    history = definitions.model_copy(update={"rules": [r.model_copy(update={"late_after": forever})
                                                       for r in definitions.rules]})
    project = Project(store, history)
    run = project.run_rules(deliver=False)
    store.raw.execute(f"UPDATE {FIRINGS} SET status = 'delivered', delivered_at = eligible_at, attempts = 1 "
                      "WHERE status = 'pending'")
    as_of = run.as_of
    rows = store.raw.execute(
        f"""SELECT f.user_id, f.eligible_at, s.window_end FROM {FIRINGS} f JOIN aha_state s
              ON s.entity_type = 'user' AND s.entity_id = f.user_id AND s.milestone_id = 'data_connected'
            WHERE f.rule_id = 'connect_nudge' AND NOT f.held_out AND s.reach_time IS NULL
            ORDER BY f.user_id""").fetchall()
    (closed,) = one_row(
        store.raw,
        f"""SELECT count(*) FROM {FIRINGS} f JOIN aha_state s
              ON s.entity_type = 'user' AND s.entity_id = f.user_id AND s.milestone_id = 'data_connected'
            WHERE f.rule_id = 'connect_nudge' AND NOT f.held_out AND s.window_end <= ?""", [as_of]) or (0,)
    rng = random.Random(SEED)
    moved: list[tuple[Any, ...]] = []
    moved_closed = 0
    for user_id, eligible_at, window_end in rows:
        if rng.random() >= CONNECT_LIFT:
            continue
        at = eligible_at + timedelta(minutes=rng.uniform(15, 12 * 60))
        if at < window_end and at <= as_of:
            moved.append((f"nudge-{user_id}", "Integration Connected", user_id, None, None, at, at,
                          json.dumps({"integration_type": "postgres", "via": "nudge"}), "sample-nudges"))
            moved_closed += window_end <= as_of
    store.raw.execute("CREATE TEMP TABLE aha_sample_moved AS SELECT * FROM events LIMIT 0")
    try:
        store.raw.executemany("INSERT INTO aha_sample_moved VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", moved)
        store.raw.execute("INSERT INTO events SELECT * FROM aha_sample_moved")
        for statement in (*schema.record_seen("aha_sample_moved"), schema.latest_event("aha_sample_moved")):
            store.raw.execute(statement)
    finally:
        store.raw.execute("DROP TABLE aha_sample_moved")
    truth = NudgeTruth(sum(r.new for r in run.rules), len(moved), int(closed),
                       100.0 * moved_closed / int(closed) if closed else 0.0)
    store.raw.execute("INSERT OR REPLACE INTO aha_meta VALUES ('sample_nudge_truth', ?)",
                      [json.dumps({k: getattr(truth, k) for k in NudgeTruth.__slots__})])
    store.bump_data_version()
    return truth
