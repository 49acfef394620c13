"""`aha init --db` proposes a starting aha.yaml from the events: an export to a first report in three commands."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aha.analyses.proposal import propose, to_yaml
from aha.definitions import parse
from aha.store import open_store
from tests.journeys import write_events

AHA = shutil.which("aha", path=str(Path(sys.executable).parent))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def write_export(path: Path) -> None:
    """80 shoppers over 70 days (GA4-style names, no aha names): u_i signs up on day i mod 40, views 1–4 items,
    every 2nd adds to cart, every 4th picks a payment method and purchases 5 minutes later, every 3rd comes back on
    day 31. By hand: sign_up, view_item 80 users each; add_to_cart 40 users (40 events); payment_choice and purchase
    20 each; the data spans 70 days (Jan 1 to Mar 12)."""
    start = datetime(2026, 1, 1, 9)
    rows = []
    for i in range(80):
        user, t0 = f"u{i:03d}", start + timedelta(days=i % 40, minutes=i)
        rows.append((user, "sign_up", t0, ""))
        rows += [(user, "view_item", t0 + timedelta(hours=k + 1), f"item{k}") for k in range(1 + i % 4)]
        if i % 2 == 0:
            rows.append((user, "add_to_cart", t0 + timedelta(hours=6), "item0"))
        if i % 4 == 0:
            rows += [(user, "payment_choice", t0 + timedelta(days=2), ""),
                     (user, "purchase", t0 + timedelta(days=2, minutes=5), "")]
        if i % 3 == 0:
            rows.append((user, "view_item", t0 + timedelta(days=31, hours=2), "item9"))
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["user_id", "event", "timestamp", "item"])
        out.writerows([u, e, t.isoformat() + "Z", item] for u, e, t, item in rows)


def test_export_to_first_report_in_three_commands(tmp_path):
    write_export(tmp_path / "export.csv")
    steps = [run("import", "export.csv", cwd=tmp_path), run("init", "--db", "aha.duckdb", cwd=tmp_path),
             run("report", cwd=tmp_path)]
    for done in steps:
        assert done.returncode == 0, done.stderr
        assert "error" not in done.stderr
    text = (tmp_path / "aha.yaml").read_text()
    definitions = parse(text)
    assert definitions.signup.events == ["sign_up"] and definitions.paid is not None
    assert definitions.paid.events == ["purchase"]  # not the checkout step payment_choice
    assert (definitions.retention.day, definitions.retention.bracket) == (30, timedelta(days=7))  # 70 days of data
    assert [(m.id, m.events, m.level) for m in definitions.milestones] == [("view_item", ["view_item"], "primary")]
    assert ('  # - {id: add_to_cart, event: "add_to_cart", within: 7d}   # 40 events, 40 users (50.0%)' in text)
    assert '  # - {id: payment_choice, event: "payment_choice", within: 7d}   # 20 events, 20 users (25.0%)' in text
    assert "wrote aha.yaml from 80 users: signup sign_up; paid purchase; retention day 30" in steps[1].stdout
    report = " ".join(steps[2].stdout.split())
    assert "signed-up users │ 80" in report or "80 signed-up users" in report or "signed up 80" in report.lower()
    validate = run("validate", "--db", "aha.duckdb", cwd=tmp_path)
    assert validate.returncode == 0, validate.stderr


def test_without_a_signup_event_t0_is_the_usual_first_event(tmp_path):
    """PostHog-style names, no signup: t0 from the event users most often start with ($pageview: 3 of 3), the
    first_seen alternative commented (unless the definitions support it); awkward names are quoted."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("a", "$pageview", "2026-01-01T00:00"), ("a", 'clicked "buy": now # 1', "2026-01-01T00:05"),
        ("b", "$pageview", "2026-01-02T00:00"), ("b", "$pageview", "2026-01-03T00:00"),
        ("c", "$pageview", "2026-01-03T00:00"), ("c", "Order Completed", "2026-01-04T00:00"),
    ])
    proposal = propose(store)
    store.close()
    assert (proposal.signup, proposal.start, proposal.paid, proposal.users) == (None, "$pageview", "Order Completed", 3)
    assert proposal.retention_day == 1  # 3 days of data
    text = to_yaml(proposal, "aha.duckdb")
    definitions = parse(text)
    assert definitions.signup.events == ["$pageview"]
    assert "  # first_seen: true" in text
    assert [m.events for m in definitions.milestones] == [['clicked "buy": now # 1']]
    assert "first_seen: true   # no signup-like event" in to_yaml(proposal, "aha.duckdb", first_seen_supported=True)


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["init", "new.yaml", "--db", "missing.duckdb"],
                 "error: --db missing.duckdb: no such database. Import your events first: "
                 "`aha import FILE --db missing.duckdb`.", id="no_db"),
    pytest.param(["init", "new.yaml", "--db", "empty.duckdb"],
                 "error: empty.duckdb: holds no events yet. Load some with `aha import FILE --db empty.duckdb`, then "
                 "run `aha init --db` again.", id="empty_db"),
])
def test_init_db_mistakes(tmp_path, args, message):
    open_store(tmp_path / "empty.duckdb").close()
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == message
    assert not (tmp_path / "new.yaml").exists()


def test_a_short_export_without_signup_gets_a_first_report_with_numbers(tmp_path):
    """Four users over four days, no signup event (logs). By hand: everyone's first event is `login`, so with
    first_seen a `login` milestone is reached at t0 by all (it was the placeholder: "100% in 0s"); the placeholder is
    `export` instead, within 1d (7d windows cannot close in 4 days of data: the first report read "0 of 0").
    Within 1d of t0: a exports after 2h (reached), b after 2 days (not), c never (not); d's day is still open at
    the latest event (immature). Headline: 1 of 3."""
    rows = [("a", "login", "2024-06-01T10:00:00Z"), ("a", "export", "2024-06-01T12:00:00Z"),
            ("b", "login", "2024-06-02T10:00:00Z"), ("b", "export", "2024-06-04T10:00:00Z"),
            ("c", "login", "2024-06-03T10:00:00Z"),
            ("d", "login", "2024-06-05T10:00:00Z"), ("d", "export", "2024-06-05T11:00:00Z")]
    with (tmp_path / "logs.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("user_id", "event", "timestamp"), *rows])
    assert run("import", "logs.csv", cwd=tmp_path).returncode == 0
    init = run("init", "--db", "aha.duckdb", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "signup first seen (no signup-like event: t0 = each user's first event)" in init.stdout
    definitions = parse((tmp_path / "aha.yaml").read_text())
    assert [(m.events, m.within) for m in definitions.milestones] == [(["export"], timedelta(days=1))]
    done = run("report", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    activation = json.loads(done.stdout)["headline"]["activation"]
    assert (activation["numerator"], activation["denominator"]) == (1, 3)
    text = run("report", cwd=tmp_path).stdout
    assert "1 signup left out: a step window is still open" in " ".join(text.split())  # d; it read "1 signups"


def test_verb_first_names_are_signup_and_paid(tmp_path):
    """Amplitude's and Heap's taxonomies name the moments verb first or as a form's submit: `Sign Up - Submit`
    (Heap), `Start Subscription` (Amplitude). init said "paid none found" and, without the signup, took the event
    users start with (`Viewed Landing`, 3 of 3)."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("a", "Viewed Landing", "2026-01-01T00:00"), ("a", "Sign Up - Submit", "2026-01-01T00:05"),
        ("a", "Start Subscription", "2026-01-03T00:00"),
        ("b", "Viewed Landing", "2026-01-02T00:00"), ("b", "Sign Up - Submit", "2026-01-02T00:01"),
        ("c", "Viewed Landing", "2026-01-03T00:00"),
    ])
    proposal = propose(store)
    store.close()
    assert (proposal.signup, proposal.paid) == ("Sign Up - Submit", "Start Subscription")


def test_candidates_are_counted_after_signup(tmp_path):
    """A PostHog-shaped log: four visitors who never sign up view pages ($pageview, 4 users), three sign up; after
    signup alice and bob create a project, bob clicks once ($autocapture). Counted over every event, $pageview
    (4 users, none after a signup) was the placeholder milestone, reached by nobody. By hand, after signup:
    project created 2 users (66.7% of 3 signed up), $autocapture 1 (33.3%), $pageview none."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        *[(f"anon-{i}", "$pageview", f"2026-01-0{i + 1}T08:00") for i in range(4)],
        ("alice", "signed_up", "2026-01-01T09:00"), ("alice", "project created", "2026-01-01T10:00"),
        ("bob", "signed_up", "2026-01-02T09:00"), ("bob", "$autocapture", "2026-01-02T09:01"),
        ("bob", "project created", "2026-01-06T09:00"), ("carol", "signed_up", "2026-01-03T09:00"),
    ])
    proposal = propose(store)
    store.close()
    text = to_yaml(proposal, "aha.duckdb")
    assert [m.events for m in parse(text).milestones] == [["project created"]]
    assert '# - {id: autocapture, event: "$autocapture", within: 1d}   # 1 event, 1 user (33.3%)' in text
    assert "pageview" not in text
