"""Sales assist (docs/semantics.md, "Rules and holdouts": signal rules): an account entering a signal fires a rule
once per (rule, account), hand-counted on the accounts of tests/analyses/test_signals.py (team entered: delta at
+1h, beta at +5h, acme at +2d; gamma and epsilon never). Webhooks to a real receiver on 127.0.0.1, verified with the
`standardwebhooks` package; emails to the account's owner through a real SMTP server (aiosmtpd); the clock injected."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from aha.definitions import parse
from aha.definitions.errors import DefinitionError
from aha.guidance.rules import FIRINGS
from aha.project import Project
from aha.store import open_store
from tests.analyses.test_signals import YAML, at, fill
from tests.guidance.conftest import SECRET
from tests.guidance.test_email import inbox  # noqa: F401  (the SMTP fixture)
from tests.serving import aha


def rule_yaml(url: str, rule_id: str = "team_hook", holdout: float = 0.2, late_after: str = "60d") -> str:
    return YAML + f"""rules:
  - id: {rule_id}
    when: {{signal: team}}
    then: {{webhook: "{url}", secret: "{SECRET}"}}
    holdout: {holdout}
    late_after: {late_after}
"""


def make(folder: Path, text: str) -> Project:
    store = open_store(folder / "aha.duckdb")
    fill(store)
    return Project(store, parse(text))


def run(project: Project, as_of: datetime, dry_run: bool = False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return project.run_rules(as_of=as_of, now=as_of, dry_run=dry_run)


def recorded(project: Project) -> dict[str, tuple[datetime, str, str]]:
    rows = project.store.raw.execute(f"SELECT user_id, eligible_at, status, unit FROM {FIRINGS}").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def hashed(rule_id: str, account_id: str) -> float:
    digest = hashlib.sha256(f"{rule_id}\x00{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def test_fires_once_per_account_as_each_enters(tmp_path, receiver):
    project = make(tmp_path, rule_yaml(receiver.url, holdout=0.0))
    first = run(project, at(hours=2)).rules[0]  # delta entered at +1h; beta (+5h) and acme (+2d) not yet
    assert (first.unit, first.new, [f.user_id for f in first.firings]) == ("account", 1, ["delta"])
    second = run(project, at(hours=6)).rules[0]
    assert (second.new, second.already, [f.user_id for f in second.firings]) == (1, 1, ["beta"])
    third = run(project, at(3)).rules[0]
    assert (third.new, third.already, [f.user_id for f in third.firings]) == (1, 2, ["acme"])
    assert {k: v[0] for k, v in recorded(project).items()} == {"delta": at(hours=1), "beta": at(hours=5),
                                                               "acme": at(2)}
    project.store.close()  # a restart: the outbox is durable
    again = Project(open_store(tmp_path / "aha.duckdb"), project.definitions)
    last = run(again, at(30)).rules[0]
    assert (last.new, last.already) == (0, 3)
    assert sorted(json.loads(body)["data"]["account_id"] for _, body in receiver.received) == [
        "acme", "beta", "delta"]  # one delivery each, across the restart


def test_accounts_that_entered_long_before_are_too_late(tmp_path, receiver):
    # A new rule run at +3d with the default late_after (1d): acme entered at +2d (inside), beta and delta more
    # than a day before: neither nudged nor held out, counted as too late.
    project = make(tmp_path, rule_yaml(receiver.url, holdout=0.0, late_after="1d"))
    dry = run(project, at(3), dry_run=True).rules[0]
    assert (dry.new, dry.too_late, [f.user_id for f in dry.firings]) == (1, 2, ["acme"])
    assert recorded(project) == {}  # a dry run records nothing


def test_scope_reads_the_account_traits(tmp_path, receiver):
    # Only acme has an account trait (plan: enterprise, from a group call); delta and beta have none.
    text = rule_yaml(receiver.url, holdout=0.0) + "    scope: {plan: [enterprise, business]}\n"
    project = make(tmp_path, text)
    dry = run(project, at(3), dry_run=True).rules[0]
    assert (dry.new, [f.user_id for f in dry.firings]) == (1, ["acme"])


def test_webhook_carries_the_usage_summary_and_skips_held_out_accounts(tmp_path, receiver):
    # team_hook with holdout 0.2: beta hashes to 0.036 (held out), acme 0.25 and delta 0.92 are nudged.
    assert [hashed("team_hook", a) < 0.2 for a in ("acme", "beta", "delta")] == [False, True, False]
    project = make(tmp_path, rule_yaml(receiver.url))
    result = run(project, at(3))
    assert (result.rules[0].nudged, result.rules[0].held_out, result.delivered) == (2, 1, 2)
    assert {k: v[1:] for k, v in recorded(project).items()} == {
        "acme": ("delivered", "account"), "beta": ("held_out", "account"), "delta": ("delivered", "account")}
    verifier = Webhook(SECRET)
    payloads = {}
    for headers, body in receiver.received:
        data = verifier.verify(body, headers)["data"]  # raises on a bad signature
        payloads[data["account_id"]] = data
    assert sorted(payloads) == ["acme", "delta"]  # nothing for the held-out account
    acme = payloads["acme"]
    assert (acme["unit"], acme["rule_id"], acme["signal"]) == (
        "account", "team_hook", {"id": "team", "name": "team", "entered_at": "2026-01-03T00:00:00Z"})
    # As of +3d acme has a1 and a2 (a3 signs up at +4d), both active in the last 7 days, 4 events (each signed up
    # and integrated), and its one account milestone (team_m) reached.
    summary = acme["summary"]
    assert (summary["members"], summary["active_members_7d"], summary["active_members_30d"], summary["events_30d"],
            summary["milestones_reached"], summary["milestones"]) == (2, 2, 2, 4, 1, 1)
    assert [s["id"] for s in summary["signals"]] == ["team", "paying_plan"]  # both entered at +2d


def test_email_goes_to_the_account_owner(tmp_path, inbox):  # noqa: F811
    text = YAML + """rules:
  - id: team_mail
    when: {signal: team}
    late_after: 60d
    then:
      email:
        subject: "{{ account_id }} entered {{ signal.name }}"
        body: "{{ summary.members }} members, {{ summary.active_members_7d }} active this week ({{ account.plan }})"
"""
    project = make(tmp_path, text)
    project.store.raw.execute("""UPDATE accounts SET traits = '{"plan": "enterprise", "owner_email": "ae@sales.io"}'
                                 WHERE account_id = 'acme'""")
    project.store.raw.execute("""INSERT INTO accounts VALUES ('delta', '{"plan": "team",
                                 "owner_email": "rep@sales.io"}', TIMESTAMP '2026-01-01')""")
    result = run(project, at(3))
    assert (result.delivered, result.retrying) == (2, 1)
    got = {m["To"]: (m["Subject"], m.get_payload().strip()) for m in map(message_from_bytes, inbox.messages)}
    assert got == {"ae@sales.io": ("acme entered team", "2 members, 2 active this week (enterprise)"),
                   "rep@sales.io": ("delta entered team", "2 members, 2 active this week (team)")}
    beta = project.interventions(rule_id="team_mail", status="pending").interventions
    assert [(i.user_id, i.unit) for i in beta] == [("beta", "account")]
    assert beta[0].last_error == ("no email address: account 'beta' has no 'owner_email' trait holding one (send "
                                  "it in a group call's traits, or name another account trait with `email.to`)")


def test_impact_compares_nudged_and_held_out_accounts_on_conversion(tmp_path, receiver):
    # holdout 0.2 → beta held out. As of +30d every horizon (10d) has closed. Nudged: acme converted at +5d (after
    # entering at +2d), delta never did → 1 of 2. Held out: beta paid at +1h, before entering at +5h → not a
    # conversion after the signal → 0 of 1.
    project = make(tmp_path, rule_yaml(receiver.url))
    run(project, at(3))
    result = project.impact("team_hook", as_of=at(30))
    assert (result.unit, result.milestone_id) == ("account", "paid")
    assert (result.nudged.eligible, result.nudged.reached.numerator, result.nudged.reached.denominator) == (2, 1, 2)
    assert (result.held_out.eligible, result.held_out.reached.numerator, result.held_out.reached.denominator) == (
        1, 0, 1)
    assert result.difference_points == pytest.approx(50.0)
    assert result.verdict.startswith("too few accounts")
    early = project.impact("team_hook", as_of=at(5))  # acme's and delta's horizons end at +10d: still open
    assert (early.nudged.still_open, early.nudged.reached.denominator) == (2, 0)


@pytest.mark.parametrize(("rule", "where", "says"), [
    ("{id: r, when: {signal: teem}, then: {in_app: hi}}", "rules[0].when.signal", "no signal 'teem'; known signals: "
     "team, big, paying_plan"),
    ("{id: r, when: {signal: team}, then: {in_app: hi}}", "rules[0].then.in_app", "a signal rule fires for an "
     "account"),
    (f"{{id: r, when: {{signal: team}}, aims_at: integ, then: {{webhook: 'http://x.io', secret: '{SECRET}'}}}}",
     "rules[0].aims_at", "measured on account conversion"),
    ("{id: r, when: {signal: team, after: 1h}, then: {in_app: hi}}", "rules[0].when", "`after` goes with"),
])
def test_bad_signal_rules_name_the_field(rule, where, says):
    with pytest.raises(DefinitionError) as caught:
        parse(YAML + f"rules:\n  - {rule}\n")
    assert where in str(caught.value) and says in str(caught.value)


def test_a_signal_rule_without_signals(tmp_path):
    text = YAML.split("signals:")[0] + "rules:\n  - {id: r, when: {signal: team}, then: {in_app: hi}}\n"
    with pytest.raises(DefinitionError, match="no signal 'team'; known signals: \\(none: add `signals:`"):
        parse(text)


def test_console_script_lists_accounts(tmp_path, receiver):
    store = open_store(tmp_path / "aha.duckdb")
    fill(store)
    store.close()
    (tmp_path / "aha.yaml").write_text(rule_yaml(receiver.url), encoding="utf-8")
    done = aha("rules", "run", "--dry-run", "--as-of", at(3).isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "account entered signal team" in done.stdout and "held out" in done.stdout
    assert "acme" in done.stdout and "delta" in done.stdout
    done = aha("rules", "run", "--as-of", at(3).isoformat(), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rules = json.loads(done.stdout)["rules"]
    assert (rules[0]["unit"], rules[0]["new"], rules[0]["held_out"]) == ("account", 3, 1)
    done = aha("interventions", "--json", cwd=tmp_path)
    listed = json.loads(done.stdout)["interventions"]
    assert sorted((i["user_id"], i["unit"], i["status"]) for i in listed) == [
        ("acme", "account", "delivered"), ("beta", "account", "held_out"), ("delta", "account", "delivered")]
    done = aha("interventions", "--impact", "team_hook", "--as-of", at(30).isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "held out accounts" in done.stdout and "account conversion" in done.stdout
    # each arm's rate with the accounts it is over (hand-counted in the impact test above: 1 of 2, 0 of 1)
    assert "1 / 2" in done.stdout and "0 / 1" in done.stdout


def test_an_older_outbox_gains_the_unit_column(tmp_path):
    from aha.guidance.rules import FIRINGS_DDL, ensure_outbox

    store = open_store(tmp_path / "aha.duckdb")
    old = FIRINGS_DDL.replace("    unit VARCHAR NOT NULL DEFAULT 'user',\n", "")
    assert "unit" not in old
    store.raw.execute(old)
    store.raw.execute(f"""INSERT INTO {FIRINGS} (rule_id, user_id, occurrence, eligible_at, recorded_at, held_out,
                          channel, milestone_id, status) VALUES ('r', 'u1', 1, now(), now(), false, 'webhook', 'm',
                          'pending')""")
    ensure_outbox(store)
    ensure_outbox(store)  # a second time: nothing to add
    assert store.raw.execute(f"SELECT user_id, unit FROM {FIRINGS}").fetchall() == [("u1", "user")]


def test_serve_rule_passes_notify_accounts(tmp_path, receiver):
    """`aha serve --rules-every`: the server's own passes (wall clock) fire the signal rule for each account once."""
    import time

    from aha.ingest.service import now_utc
    from tests.analyses.test_signals import JOURNEYS, T0, TRAITS
    from tests.journeys import write_events, write_traits
    from tests.serving import Server, free_port

    shift = now_utc().replace(tzinfo=None) - timedelta(days=3) - T0  # acme entered 1 day ago, delta and beta ~3
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(u, e, (datetime.fromisoformat(t) + shift).isoformat(), *rest)
                         for u, e, t, *rest in JOURNEYS if datetime.fromisoformat(t) + shift < now_utc().replace(
                             tzinfo=None)])
    write_traits(store, TRAITS)
    store.close()
    (tmp_path / "aha.yaml").write_text(rule_yaml(receiver.url, holdout=0.0), encoding="utf-8")
    server = Server(tmp_path / "aha.duckdb", free_port(), args=("--rules-every", "0.5")).start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(receiver.received) < 3:
            time.sleep(0.5)
        time.sleep(2)  # a few more passes: nothing is sent twice
    finally:
        server.stop()
    accounts = sorted(json.loads(body)["data"]["account_id"] for _, body in receiver.received)
    assert accounts == ["acme", "beta", "delta"]
