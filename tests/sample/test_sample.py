"""The sample generator: deterministic, to scale, linked identities, exact truth, planted effects recoverable."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from aha.errors import UserError
from aha.sample import SampleInfo, generate, load_into
from aha.sample.generator import ROW_GROUP_ROWS
from aha.store import open_store
from aha.surfaces.cli.commands import sample_cmd

TABLES = ("users", "identities", "memberships", "accounts", "truth")
QUALIFYING = ("postgres", "bigquery", "salesforce")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    """20,000 users (~1M events): about 1.5 s on 2 cores."""
    return generate(tmp_path_factory.mktemp("big"), users=20_000, seed=0)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    return generate(tmp_path_factory.mktemp("small"), users=500, seed=7)


def _events(info: SampleInfo) -> pd.DataFrame:
    return pd.concat((pd.read_parquet(p) for p in sorted(info.out_dir.glob("events-*.parquet"))), ignore_index=True)


def test_same_seed_same_files_and_other_seed_differs(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", users=800, seed=3)
    b = generate(tmp_path / "b", users=800, seed=3)
    c = generate(tmp_path / "c", users=800, seed=4)
    names = sorted(p.name for p in a.out_dir.iterdir())
    assert names == [
        "accounts.parquet",
        "events-00000.parquet",
        "identities.parquet",
        "memberships.parquet",
        "truth.parquet",
        "users.parquet",
    ]
    for name in names:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    assert (a.out_dir / "events-00000.parquet").read_bytes() != (c.out_dir / "events-00000.parquet").read_bytes()


def test_columns_are_the_canonical_tables(small: SampleInfo) -> None:
    con = duckdb.connect()
    cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{small.out_dir}/events-*.parquet')").fetchall()
    assert [(r[0], r[1]) for r in cols] == [
        ("message_id", "VARCHAR"),
        ("event", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("anonymous_id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("timestamp", "TIMESTAMP"),
        ("received_at", "TIMESTAMP"),
        ("properties", "VARCHAR"),
        ("source", "VARCHAR"),
    ]
    for table, expected in (
        ("users", ["user_id", "traits", "updated_at"]),
        ("accounts", ["account_id", "traits", "updated_at"]),
        ("identities", ["anonymous_id", "user_id", "timestamp", "source"]),
        ("memberships", ["user_id", "account_id", "timestamp"]),
    ):
        got = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{small.out_dir}/{table}.parquet')").fetchall()
        assert [r[0] for r in got] == expected


def test_scale_about_fifty_events_per_user_and_linear(big: SampleInfo, tmp_path: Path) -> None:
    per_user = big.events / big.users
    assert 45 <= per_user <= 58
    smaller = generate(tmp_path, users=4_000, seed=1)
    assert smaller.events / smaller.users == pytest.approx(per_user, rel=0.1)
    assert big.end == big.start + pd.Timedelta(days=120)


def test_events_are_well_formed(big: SampleInfo) -> None:
    con = duckdb.connect()
    row = con.execute(
        f"""
        SELECT count(*) = count(DISTINCT message_id), max(timestamp) < ?, min(received_at > timestamp),
               max(epoch(received_at) - epoch(timestamp)) < 5, count(*) FILTER (WHERE user_id IS NULL
               AND anonymous_id IS NULL), count(*) FILTER (WHERE event = 'Integration Connected'
               AND json_extract_string(properties, '$.integration_type') IN ('slack', 'csv'))
        FROM read_parquet('{big.out_dir}/events-*.parquet')""",
        [big.end],
    ).fetchone()
    assert row is not None
    assert row[:5] == (True, True, True, True, 0)
    assert row[5] > 100  # non-qualifying integrations are emitted


def test_identities_link_anonymous_page_views_and_some_visitors_never_sign_up(small: SampleInfo) -> None:
    ev = _events(small)
    ids = pd.read_parquet(small.out_dir / "identities.parquet")
    anon = ev[ev.user_id.isna()]
    assert set(anon.event) == {"Page Viewed"}
    linked = anon.merge(ids, on="anonymous_id", suffixes=("", "_id"))
    assert len(linked) > 300
    assert (linked.timestamp < linked.timestamp_id).all()  # viewed before the identify at signup
    assert anon.anonymous_id.isin(ids.anonymous_id).mean() < 0.95  # visitors who never signed up
    signups = ev[ev.event == "Signed Up"].dropna(subset=["anonymous_id"])
    assert len(signups.merge(ids, on=["anonymous_id", "user_id"])) == len(ids)


def test_users_without_signup_are_in_no_cohort(big: SampleInfo) -> None:
    users = pd.read_parquet(big.out_dir / "users.parquet")
    truth = pd.read_parquet(big.out_dir / "truth.parquet")
    unsigned = set(users.user_id) - set(truth.user_id)
    assert 0.005 * len(users) < len(unsigned) < 0.02 * len(users)
    ev = _events(big)
    active = ev[ev.user_id.isin(unsigned)]
    assert active.user_id.nunique() > 0.8 * len(unsigned)
    assert "Signed Up" not in set(active.event)


def _first(ev: pd.DataFrame, t0: pd.Series, mask: pd.Series, window: pd.Timedelta) -> pd.Series:
    e = ev[mask].join(t0.rename("t0"), on="user_id")
    e = e[(e.timestamp >= e.t0) & (e.timestamp < e.t0 + window)]
    return e.groupby("user_id").timestamp.min()


def test_truth_matches_a_straightforward_recount(small: SampleInfo) -> None:
    ev = _events(small)
    truth = pd.read_parquet(small.out_dir / "truth.parquet").set_index("user_id")
    t0 = ev[ev.event == "Signed Up"].groupby("user_id").timestamp.min()
    pd.testing.assert_series_equal(truth.t0.sort_index(), t0.sort_index(), check_names=False)
    integration_ok = ev.event.eq("Integration Connected") & ev.properties.str.contains("|".join(QUALIFYING))
    expected = {
        "workspace": _first(ev, t0, ev.event.eq("Workspace Created"), pd.Timedelta(minutes=30)),
        "data_connected": _first(ev, t0, integration_ok, pd.Timedelta(hours=24)),
        "project": _first(ev, t0, ev.event.eq("Project Created"), pd.Timedelta(days=3)),
        "first_output": _first(ev, t0, ev.event.eq("Output Generated"), pd.Timedelta(days=3)),
        "collaboration": _first(ev, t0, ev.event.eq("Invite Accepted"), pd.Timedelta(days=7)),
    }
    both = pd.concat([expected["project"], expected["first_output"]], axis=1).dropna()
    expected["core_workflow"] = both.max(axis=1)
    for name, series in expected.items():
        got = truth[name].dropna().sort_index()
        pd.testing.assert_series_equal(got, series.sort_index().astype(got.dtype), check_names=False, obj=name)
    paid = _first(ev, t0, ev.event.eq("Subscription Started"), pd.Timedelta(days=30))
    assert set(truth.index[truth.converted]) == set(paid.index)


def test_boundary_and_tie_cases_occur(big: SampleInfo) -> None:
    ev = _events(big)
    truth = pd.read_parquet(big.out_dir / "truth.parquet").set_index("user_id")
    ws = ev[ev.event == "Workspace Created"].join(truth.t0, on="user_id")
    assert ((ws.timestamp - ws.t0) == pd.Timedelta(minutes=30)).sum() > 10  # exactly at the window end: not reached
    assert (truth.project == truth.first_output).sum() > 10  # project and output in the same second
    assert (truth.core_workflow.notna()).mean() == pytest.approx(0.42, abs=0.08)


def _eligible(truth: pd.DataFrame, info: SampleInfo, days: int) -> pd.DataFrame:
    return truth[truth.t0 + pd.Timedelta(days=days) <= pd.Timestamp(info.end)]


def test_planted_conversion_effect(big: SampleInfo) -> None:
    truth = _eligible(pd.read_parquet(big.out_dir / "truth.parquet"), big, 30)
    rate = truth.converted.mean()
    assert 0.05 <= rate <= 0.15
    core = truth.core_workflow.notna()
    assert truth.converted[core].mean() >= 2 * truth.converted[~core].mean()
    data = truth.data_connected.notna()
    assert truth.converted[data].mean() >= 1.5 * truth.converted[~data].mean()
    by_source = truth.assign(core=core).groupby("source").core.mean()
    assert by_source.idxmax() == "referral"


def test_report_shared_step_at_three_from_the_events(big: SampleInfo) -> None:
    """Retention measured from the events themselves (template: active = not Signed Up / Email Opened)."""
    con = duckdb.connect()
    rows = con.execute(
        f"""
        WITH e AS (SELECT * FROM read_parquet('{big.out_dir}/events-*.parquet') WHERE user_id IS NOT NULL),
        t AS (SELECT user_id, min(timestamp) t0 FROM e WHERE event = 'Signed Up' GROUP BY 1),
        u AS (
            SELECT t.user_id,
                   count(*) FILTER (WHERE e.event = 'Report Shared' AND e.timestamp < t.t0 + INTERVAL 14 DAY
                                    AND e.timestamp >= t.t0) AS shared,
                   bool_or(e.event NOT IN ('Signed Up', 'Email Opened') AND e.timestamp >= t.t0 + INTERVAL 30 DAY
                           AND e.timestamp < t.t0 + INTERVAL 31 DAY) AS retained
            FROM t JOIN e USING (user_id) WHERE t.t0 + INTERVAL 31 DAY <= ? GROUP BY 1)
        SELECT CASE WHEN shared = 0 THEN 0 WHEN shared <= 2 THEN 1 ELSE 3 END AS band, avg(retained::INT), count(*)
        FROM u GROUP BY 1 ORDER BY 1""",
        [big.end],
    ).fetchall()
    rate = {band: r for band, r, _ in rows}
    assert rate[3] - rate[1] >= 0.15
    assert abs(rate[1] - rate[0]) < 0.05  # one or two shares add nothing
    truth = _eligible(pd.read_parquet(big.out_dir / "truth.parquet"), big, 31)
    assert truth.retained_d30.mean() == pytest.approx(0.25, abs=0.08)


def test_email_opened_is_noise(big: SampleInfo) -> None:
    ev = _events(big)
    truth = _eligible(pd.read_parquet(big.out_dir / "truth.parquet"), big, 31).set_index("user_id")
    opened = _first(ev, truth.t0, ev.event.eq("Email Opened"), pd.Timedelta(days=14))
    did = truth.index.isin(opened.index)
    assert abs(truth.retained_d30[did].mean() - truth.retained_d30[~did].mean()) < 0.03
    assert abs(truth.converted[did].mean() - truth.converted[~did].mean()) < 0.03


def test_some_busy_workspaces_reach_2000_messages(big: SampleInfo) -> None:
    con = duckdb.connect()
    reached, accounts = con.execute(f"""
        WITH e AS (SELECT * FROM read_parquet('{big.out_dir}/events-*.parquet') WHERE account_id IS NOT NULL),
        a AS (SELECT account_id, min(timestamp) FILTER (WHERE event = 'Signed Up') t FROM e GROUP BY 1),
        m AS (SELECT account_id, count(*) n FROM e JOIN a USING (account_id)
              WHERE event = 'Message Sent' AND timestamp >= a.t AND timestamp < a.t + INTERVAL 30 DAY GROUP BY 1)
        SELECT count(*) FILTER (WHERE n >= 2000), (SELECT count(*) FROM a) FROM m""").fetchone() or (0, 0)
    assert 5 <= reached < 0.01 * accounts


def test_load_into_is_idempotent(small: SampleInfo, db_path: Path) -> None:
    store = open_store(db_path)
    version = store.data_version
    assert load_into(store, small.out_dir) == small.events
    assert load_into(store, small.out_dir) == 0
    assert store.data_version == version + 1
    counts = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in ("events", *TABLES[:4])}
    assert counts == {
        "events": small.events,
        "users": small.users,
        "identities": small.signed_up,
        "memberships": small.users,
        "accounts": small.accounts,
    }
    assert store.scalar("SELECT properties->>'persona' FROM events WHERE event = 'Signed Up' LIMIT 1") in (
        "admin",
        "analyst",
        "engineer",
        "marketer",
    )
    store.close()


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, so `sample` is a subcommand as in the real `aha`
        pass

    sample_cmd.register(app)
    return app


def test_cli_samples_refuses_then_forces(tmp_path: Path) -> None:
    db, config, out = tmp_path / "s.duckdb", tmp_path / "aha.yaml", tmp_path / "pq"
    args = ["sample", "--users", "300", "--db", str(db), "--config", str(config)]
    result = CliRunner().invoke(_cli(), [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("sampled 300 users and ")
    assert config.read_text().startswith("# Activation milestones")
    assert (out / "truth.parquet").exists()
    again = CliRunner().invoke(_cli(), [*args, "--seed", "2"])  # a different sample into a full store: refused
    assert isinstance(again.exception, UserError)
    assert str(again.exception).endswith("pass --force to replace it, or choose another --db.")
    forced = CliRunner().invoke(_cli(), [*args, "--force", "--seed", "1"])
    assert forced.exit_code == 0, forced.output
    assert "wrote" not in forced.output  # the config already existed


def test_console_script_prints_one_red_line_and_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    aha = Path(sys.executable).parent / "aha"
    first = subprocess.run(
        [aha, "sample", "--users", "200", "--db", db, "--config", tmp_path / "a.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run([aha, "sample", "--users", "300", "--db", db], capture_output=True, text=True, check=False)
    assert second.returncode == 2  # a different sample into a store that holds events
    assert second.stderr.strip().startswith("error: ") and second.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("start", [date(2026, 1, 1), date(2025, 6, 30)])
def test_signups_fill_the_period_with_weekday_seasonality(tmp_path: Path, start: date) -> None:
    info = generate(tmp_path, users=3_000, seed=2, start=start, days=56)
    truth = pd.read_parquet(tmp_path / "truth.parquet")
    assert truth.t0.min() >= pd.Timestamp(start) and truth.t0.max() < pd.Timestamp(info.end)
    assert len(truth) == info.signed_up
    founded = truth.groupby("account_id").t0.min()  # the owners' signups carry the weekday weights
    assert (founded.dt.day_of_week >= 5).mean() < 0.2  # 2/7 = 0.29 without seasonality; planted ~0.16


def test_running_the_same_sample_twice_is_harmless(tmp_path: Path) -> None:
    """The README's first command may be run twice in one folder: the second run finds the same sample and succeeds."""
    runner = CliRunner()
    args = ["sample", "--users", "200", "--db", str(tmp_path / "s.duckdb"), "--config", str(tmp_path / "a.yaml")]
    assert runner.invoke(_cli(), args).exit_code == 0
    again = runner.invoke(_cli(), args)
    assert again.exit_code == 0
    assert "already holds this sample" in again.output


def test_event_files_are_written_in_row_groups_duckdb_reads_in_parallel(big: SampleInfo) -> None:
    """`aha import` reads a Parquet file in parallel by row group: a file of one ~1M-row group went to one thread."""
    first = pq.ParquetFile(big.out_dir / "events-00000.parquet")
    sizes = [first.metadata.row_group(i).num_rows for i in range(first.num_row_groups)]
    assert first.metadata.num_rows > 2 * ROW_GROUP_ROWS
    assert sizes[:-1] == [ROW_GROUP_ROWS] * (len(sizes) - 1) and 0 < sizes[-1] <= ROW_GROUP_ROWS
