"""The B2B sample (`aha sample --b2b`): aha's signal entry dates and account funnel equal an independent pandas
computation from the generator's files, and `aha evaluate --signals` recovers the planted team effect."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aha.definitions import parse
from aha.engine.email_accounts import free_mail_domains
from aha.project import Project
from aha.sample import generate, load_into
from aha.sample.accounts import BASE_PAID, DEFINITIONS, FREE_MAIL, TEAM_PAID
from aha.sample.definitions import definitions_text
from aha.store import open_store

HORIZON = timedelta(days=30)


@pytest.fixture(scope="module")
def b2b(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Path]:
    folder = tmp_path_factory.mktemp("b2b")
    info = generate(folder / "parquet", users=6_000, seed=3, b2b=True)
    store = open_store(folder / "aha.duckdb")
    load_into(store, info.out_dir)
    # Without the template's "2,000 messages" account milestone, the account funnel is signup → team → paid.
    text = definitions_text().split("  - id: workspace_messages")[0]
    definitions = parse(text.rstrip("\n") + "\n" + DEFINITIONS)
    return Project(store, definitions), info.out_dir


def expected_accounts(out: Path, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per account, from the generator's truth and events with pandas alone: t0 (earliest member), the team entry
    (the 2nd member's core workflow inside [t0, t0 + 30d)) and the first member payment inside [t0, t0 + 30d)."""
    truth = pd.read_parquet(out / "truth.parquet")
    acc = truth.groupby("account_id").t0.min().rename("t0").to_frame()
    t = truth.join(acc, on="account_id", rsuffix="_acc")
    inside = t[t.core_workflow.notna() & (t.core_workflow < t.t0_acc + HORIZON)]
    acc["entry"] = inside.groupby("account_id").core_workflow.apply(
        lambda s: s.nsmallest(2).iloc[-1] if len(s) >= 2 else pd.NaT)
    events = pd.concat(pd.read_parquet(p, columns=["event", "user_id", "timestamp"])
                       for p in sorted(out.glob("events-*.parquet")))
    paid = events[events.event == "Subscription Started"].merge(t[["user_id", "account_id", "t0", "t0_acc"]])
    paid = paid[(paid.timestamp >= paid.t0) & (paid.timestamp < paid.t0_acc + HORIZON) & (paid.timestamp <= as_of)]
    acc["paid_at"] = paid.groupby("account_id").timestamp.min()
    return acc


def test_signal_entry_dates_equal_pandas(b2b):
    project, out = b2b
    as_of = pd.Timestamp(project.state().as_of)
    want = expected_accounts(out, as_of).entry.dropna().to_dict()
    listed = project.accounts(top=100_000).accounts
    got = {a.account_id: s.entered_at for a in listed for s in a.signals if s.id == "team"}
    assert len(want) > 100
    assert got == {k: v.to_pydatetime() for k, v in want.items()}


def test_account_funnel_equals_pandas(b2b):
    project, out = b2b
    as_of = pd.Timestamp(project.state().as_of)
    acc = expected_accounts(out, as_of)
    mature = acc[acc.t0 + HORIZON <= as_of]
    team = mature[mature.entry.notna()]
    paid = team[team.paid_at.notna() & (team.paid_at >= team.entry)]
    steps = project.report(level="account").funnel.groups[0].steps
    assert [s.entities for s in steps] == [len(mature), len(team), len(paid)]


def test_evaluate_signals_recovers_the_planted_team_effect(b2b):
    project, _ = b2b
    (team,) = project.evaluate_signals().signals
    assert team.population > 1_000
    assert team.comparison.lift_low <= TEAM_PAID / BASE_PAID <= team.comparison.lift_high
    assert team.paid_before_signal == 0  # the planted payment comes after entering the signal


def test_members_have_company_or_free_mail_addresses(b2b):
    _, out = b2b
    users = pd.read_parquet(out / "users.parquet")
    domains = users.traits.map(lambda t: json.loads(t)["email"].split("@")[1])
    free = domains.isin(FREE_MAIL)
    assert set(FREE_MAIL) <= set(free_mail_domains())
    assert 0.08 < free.mean() < 0.2  # 15% of the members (owners never), a bit less of everyone
    assert np.all(domains[~free].str.endswith(".example.com"))
