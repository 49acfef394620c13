"""Account definitions (`members_reached`); their mistakes are cases of test_load.py's table (ACCOUNT_MISTAKES)."""

from __future__ import annotations

import pytest

from aha.definitions import content_hash, milestone_hash, parse

HEAD = """signup: {event: S}
milestones:
  - {id: integ, event: I, within: 7d, level: primary}
  - {id: busy, event: M, within: 7d, entity: account}
"""
TEAM = "  - {id: team, entity: account, within: 30d, members_reached: {milestone: integ, at_least: 2%s}%s}\n"

SIGNALS = HEAD + TEAM % ("", "") + "signals:\n  - %s\n"
ACCOUNT_MISTAKES = [  # (text, the one message), in test_load.py's table
    pytest.param(SIGNALS % "{id: t, milestones: [integ]}",
                 "aha.yaml: signals[0].milestones[0]: 'integ' is a user milestone; a signal combines account "
                 "milestones (count the members who reached it with `members_reached: {milestone: integ, at_least: "
                 "2}`).", id="signal_on_user_milestone"),
    pytest.param(SIGNALS % "{id: t, milestones: [teem]}",
                 "aha.yaml: signals[0].milestones[0]: no milestone 'teem'; known account milestones: busy, team.",
                 id="signal_unknown_milestone"),
    pytest.param(SIGNALS % "{id: t}",
                 "aha.yaml: signals[0]: give at least one condition: `milestones`, `members`, `domains` or `trait`.",
                 id="signal_without_condition"),
    pytest.param(SIGNALS % "{id: t, members: 2}\n  - {id: t, domains: 2}",
                 "aha.yaml: signals[1].id: 't' is used twice; signal ids must be unique.", id="signal_twice"),
    pytest.param(HEAD + TEAM.replace("integ,", "intgr,") % ("", ""),
                 "aha.yaml: milestones[2].members_reached.milestone: no milestone 'intgr' (did you mean 'integ'?); "
                 "known user milestones: integ.", id="unknown_milestone"),
    pytest.param(HEAD + TEAM.replace("integ,", "busy,") % ("", ""),
                 "aha.yaml: milestones[2].members_reached.milestone: 'busy' is an account milestone; members reach "
                 "user milestones: integ.", id="account_milestone_target"),
    pytest.param(HEAD + TEAM.replace("entity: account, ", "") % ("", ""),
                 "aha.yaml: milestones[2].entity: a `members_reached` milestone counts an account's members; add "
                 "`entity: account`.", id="user_entity"),
    pytest.param(HEAD + TEAM % (", distinct: domain", ""),
                 "aha.yaml: milestones[2].members_reached.distinct: 'domain' is not allowed; use 'email_domain'.",
                 id="distinct_kind"),
    pytest.param(HEAD + TEAM % ("", ", count: 3"),
                 "aha.yaml: milestones[2]: a `members_reached` milestone takes no threshold or `where`: its "
                 "threshold is `members_reached.at_least`.", id="second_threshold"),
    pytest.param(HEAD + TEAM.replace("at_least: 2", "at_least: 0") % ("", ""),
                 "aha.yaml: milestones[2].members_reached.at_least: 0: Input should be greater than or equal to 1.",
                 id="zero_members"),
    pytest.param(HEAD + TEAM % (", within: 30 days", ""),
                 "aha.yaml: milestones[2].members_reached.within: '30 days' is not a duration; write a number and a "
                 "unit: s, m, h, d or w (for example \"30m\", \"24h\", \"7d\").", id="span_words"),
]


def test_a_members_reached_milestone_is_rehashed_when_its_user_milestone_changes():
    """Its reach times are made of the user milestone's: a changed window there is a changed number here."""
    before = parse(HEAD + TEAM % ("", ""))
    after = parse((HEAD + TEAM % ("", "")).replace("event: I, within: 7d", "event: I, within: 3d"))
    assert milestone_hash(before, "team") != milestone_hash(after, "team")
    assert content_hash(before) != content_hash(after)
    assert before.milestone("team").threshold_value == 2.0


def test_a_file_without_account_keys_keeps_its_hash_and_so_its_stored_state():
    """`members_reached` and `accounts` are left out of the hash while unset: upgrading aha rebuilds no state."""
    from tests.conftest import TEMPLATE

    d = parse(TEMPLATE.read_text(encoding="utf-8"))
    # Both values printed by aha at commit 85dacf3 (before these keys existed) for the same file.
    assert (content_hash(d), milestone_hash(d, "core_workflow")) == ("a50e56cbb0db8a0c", "2ffb5f21710a9168")
