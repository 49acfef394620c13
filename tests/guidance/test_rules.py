"""Rules: who is eligible when (an injectable clock: the as_of), stable holdouts, one firing per (rule, user), and an
impact report that recovers a planted nudge effect and does not flag a rule planted without one."""

from __future__ import annotations

import random
import warnings
from datetime import datetime, timedelta

import pytest

from aha.definitions import parse
from aha.definitions.errors import DefinitionError
from aha.guidance.rules import FIRINGS, held_out
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_traits

DEFINITIONS = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
  - {id: invited, event: Invited, within: 7d}
rules:
  - id: connect_nudge
    when: {not_reached: connected, after: 1h}
    then: {webhook: "http://127.0.0.1:9/hook", secret: whsec_dGVzdHNlY3JldA==}
    holdout: 0.5
    late_after: 30d  # the test's clock jumps days at a time
  - id: invite_prompt
    when: {reached: primary}
    aims_at: invited
    scope: {plan: pro}
    then: {in_app: "Invite a teammate"}
    holdout: 0.5
    late_after: 30d
"""
START = datetime(2026, 1, 1)
USERS = 600


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("rules") / "aha.duckdb")
    signups = [(f"u{i:03d}", "Signed Up", (START + timedelta(minutes=10 * i)).isoformat()) for i in range(USERS)]
    early = [(f"u{i:03d}", "Connected", (START + timedelta(minutes=10 * i + 30)).isoformat())
             for i in range(USERS) if i % 5 == 0]  # 120 connect within 30 minutes: never eligible for the nudge
    write_events(store, signups + early)
    write_traits(store, {f"u{i:03d}": {"plan": "pro" if i % 2 else "free"} for i in range(USERS)})
    return Project(store, parse(DEFINITIONS))


def test_eligibility_follows_the_clock(project):
    # u001 signed up at 00:10: its nudge moment is 01:10. Not before, and then exactly once.
    before = quiet(project.run_rules, dry_run=True, as_of="2026-01-01T01:09:59")
    at = quiet(project.run_rules, dry_run=True, as_of="2026-01-01T01:10:00")
    nudge_before = next(r for r in before.rules if r.rule_id == "connect_nudge")
    nudge_at = next(r for r in at.rules if r.rule_id == "connect_nudge")
    assert {f.user_id for f in nudge_at.firings} - {f.user_id for f in nudge_before.firings} == {"u001"}
    assert "u000" not in {f.user_id for f in nudge_at.firings}  # connected after 30 minutes, before its moment


def test_the_outbox_records_each_user_once_and_holdouts_are_stable(project):
    first = quiet(project.run_rules, as_of="2026-01-05T23:59")
    nudge = next(r for r in first.rules if r.rule_id == "connect_nudge")
    assert nudge.new == USERS - USERS // 5  # everyone who had not connected within the hour
    again = quiet(project.run_rules, as_of="2026-01-05T23:59")
    assert all(r.new == 0 for r in again.rules)
    assert next(r for r in again.rules if r.rule_id == "connect_nudge").already == nudge.new
    stored = dict(project.store.raw.execute(
        f"SELECT user_id, held_out FROM {FIRINGS} WHERE rule_id = 'connect_nudge'").fetchall())
    assert stored == {u: held_out("connect_nudge", u, 0.5) for u in stored}
    assert 0.4 < sum(stored.values()) / len(stored) < 0.6
    invite = next(r for r in first.rules if r.rule_id == "invite_prompt")
    assert invite.new == USERS // 5 // 2  # the 120 who reached the primary, pro plan only (odd ids)


def test_impact_recovers_a_planted_effect(project):
    quiet(project.run_rules, as_of="2026-01-05T23:59")
    firings = project.store.raw.execute(
        f"SELECT user_id, held_out, eligible_at FROM {FIRINGS} WHERE rule_id = 'connect_nudge'").fetchall()
    rng = random.Random(7)
    effect = []
    for user, out, at in firings:  # planted: 30% connect when held out, 60% when nudged, 2 h after the moment
        if rng.random() < (0.30 if out else 0.60):
            effect.append((user, "Connected", (at + timedelta(hours=2)).isoformat()))
    write_events(project.store, effect)
    truth_nudged = sum(1 for u, out, _ in firings if not out and any(e[0] == u for e in effect))
    result = quiet(project.impact, "connect_nudge", as_of="2026-01-20")
    assert result.nudged.reached.numerator == truth_nudged
    assert result.nudged.still_open == 0 and result.held_out.still_open == 0
    assert result.difference_low < 30 < result.difference_high  # the planted +30 points inside the interval
    assert result.verdict.startswith("works")
    assert result.nudged.median_seconds_to_milestone == 7200  # 2 h after eligibility for everyone who reached


def test_impact_does_not_flag_a_rule_without_effect(project):
    quiet(project.run_rules, as_of="2026-01-20")
    firings = project.store.raw.execute(
        f"SELECT user_id, eligible_at FROM {FIRINGS} WHERE rule_id = 'invite_prompt'").fetchall()
    rng = random.Random(11)
    write_events(project.store, [(u, "Invited", (at + timedelta(hours=1)).isoformat())
                                 for u, at in firings if rng.random() < 0.4])  # same chance in both arms
    result = quiet(project.impact, "invite_prompt", as_of="2026-01-20")
    assert not result.verdict.startswith("works") and not result.verdict.startswith("backfires")


def test_open_windows_are_left_out_of_the_rates(project):
    result = quiet(project.impact, "connect_nudge", as_of="2026-01-03T12:00")
    # signups run to 2026-01-05 04:00 with 3-day windows: at this as_of most windows are still open
    assert result.nudged.still_open > 0
    assert result.nudged.reached.denominator == result.nudged.eligible - result.nudged.still_open


@pytest.mark.parametrize("rule, message", [
    ("{id: r, when: {not_reached: nope, after: 1h}, then: {in_app: hi}}", "no milestone 'nope'"),
    ("{id: r, when: {not_reached: connected, after: 5d}, then: {in_app: hi}}", "not inside 'connected'"),
    ("{id: r, when: {reached: connected}, then: {webhook: 'http://x'}}", "needs its signing `secret`"),
    ("{id: r, when: {reached: connected}, then: {in_app: hi}, holdout: 1.5}", "rules[0].holdout"),
])
def test_bad_rules_name_the_field(rule, message):
    text = DEFINITIONS.split("rules:")[0] + f"rules:\n  - {rule}\n"
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(text)


HOOK = "{id: r, when: {reached: connected}, then: {webhook: %s, secret: whsec_dGVzdHNlY3JldA==}}"
WEBHOOK_FIX = "; write it as https://host[:port]/path."


@pytest.mark.parametrize("url, problem", [  # each was accepted, then failed every firing's 8 attempts
    ('"https://"', "it names no host"),
    ('"http:///path"', "it names no host"),
    ('"https://exa mple.com/hook"', "it holds ' ' (spaces and control characters are not allowed in a URL; write %20 "
                                    "for a space)"),
    ('"https://a.com/\\r\\nX-Injected: 1"', "it holds '\\r' (spaces and control characters are not allowed in a "
                                             "URL; write %20 for a space)"),
    ('"http://x:99999/"', "port out of range 0-65535"),
    ('"http://x:abc/"', "port could not be cast to integer value as 'abc'"),
    ('"http://[::1/"', "invalid IPv6 URL"),
])
def test_a_webhook_url_that_cannot_be_sent_to_is_refused_naming_the_field(url, problem):
    text = DEFINITIONS.split("rules:")[0] + "rules:\n  - " + HOOK % url + "\n"
    with pytest.raises(DefinitionError) as info:
        parse(text)
    shown = repr(parse_yaml_string(url))
    assert str(info.value) == (f"aha.yaml: rules[0].then.webhook: {shown} is not a URL a webhook can be sent to: "
                               f"{problem}{WEBHOOK_FIX}")


def parse_yaml_string(text: str) -> str:
    import yaml

    return yaml.safe_load(text)


def test_a_new_rule_does_not_nudge_the_past(tmp_path):
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [(f"u{i}", "Signed Up", (START + timedelta(days=i)).isoformat()) for i in range(10)])
    project = Project(store, parse(DEFINITIONS.replace("    late_after: 30d  # the test's clock jumps days at a time\n",
                                                       "")))
    result = quiet(project.run_rules, as_of="2026-01-10T12:00")
    nudge = next(r for r in result.rules if r.rule_id == "connect_nudge")
    # moments (signup + 1 h) within the last day: u9 (01-10 01:00) only; u8's (01-09 01:00) is 35 h ago
    assert {f.user_id for f in nudge.firings} == {"u9"} and nudge.too_late == 9


def test_stalled_users(tmp_path):
    """`stalled: 1d` before the primary, as of 2026-01-02 12:00, hand-counted."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [
        ("s1", "Signed Up", "2026-01-01T00:00"), ("s1", "Clicked", "2026-01-01T06:00"),    # moment 01-02 06:00
        ("s2", "Signed Up", "2026-01-01T00:00"), ("s2", "Clicked", "2026-01-02T10:00"),    # moment not yet come
        ("s3", "Signed Up", "2026-01-01T00:00"), ("s3", "Connected", "2026-01-01T05:00"),  # reached: not stalled
        ("s4", "Signed Up", "2026-01-01T00:00"),                                           # moment 01-02 00:00
        ("s5", "Signed Up", "2025-12-28T00:00"),                                           # moment 12-29: too late
    ])
    project = Project(store, parse("""
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
rules:
  - {id: wake_up, when: {stalled: 1d}, then: {in_app: "Pick up where you left off"}}
"""))
    result = quiet(project.run_rules, dry_run=True, as_of="2026-01-02T12:00")
    (run,) = result.rules
    assert {(f.user_id, f.eligible_at.isoformat()) for f in run.firings} == {
        ("s1", "2026-01-02T06:00:00"), ("s4", "2026-01-02T00:00:00")}
    assert run.too_late == 1 and run.why == "no activity for 1d before connected"
