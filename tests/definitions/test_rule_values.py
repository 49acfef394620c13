"""Values in `rules:` and `nudges:` that a user gets wrong: each is one message naming the field and the fix, never a
traceback and never a silent other meaning. Found by trying them (outside8): `when: {not_reached: ""}` raised a
KeyError traceback, `when: {reached: ""}` and `{stalled: 1d, before: ""}` were read as the primary milestone, an
empty in-app message was accepted (users would be shown a blank), a pattern's regular expression was the message
(`String should match pattern '^[A-Za-z][A-Za-z0-9_]*$'`), and an unquoted `start: 22:00` (YAML 1.1 reads it as the
number 1320) was "1320: Input should be a valid string"."""

from __future__ import annotations

import pytest

from aha.definitions import parse
from aha.definitions.errors import DefinitionError

HEAD = """
signup: {event: Signed Up}
milestones:
  - {id: connected, event: Connected, within: 3d, level: primary}
  - {id: invited, event: Invited, within: 7d}
  - {id: team_core, entity: account, event: Connected, count: 2, within: 30d}
signals:
  - {id: team, name: Team, milestones: [team_core]}
"""
HOOK = "{webhook: 'http://127.0.0.1:9/h', secret: whsec_dGVzdHNlY3JldA==}"
ID_FIX = "is not an id: start it with a letter, then letters, digits or _ (such as data_connected)."


def _message(text: str) -> str:
    with pytest.raises(DefinitionError) as info:
        parse(HEAD + text)
    return str(info.value)


@pytest.mark.parametrize("rule, path", [
    ("{id: r, when: {not_reached: '', after: 1h}, then: {in_app: hi}}", "rules[0].when.not_reached"),
    ("{id: r, when: {reached: ''}, then: {in_app: hi}}", "rules[0].when.reached"),
    ("{id: r, when: {stalled: 1d, before: ''}, then: {in_app: hi}}", "rules[0].when.before"),
    ("{id: r, when: {reached: connected}, aims_at: '', then: {in_app: hi}}", "rules[0].aims_at"),
    ("{id: r, when: {signal: ''}, then: " + HOOK + "}", "rules[0].when.signal"),
])
def test_an_empty_milestone_or_signal_id_in_a_rule_is_refused_naming_the_field(rule: str, path: str) -> None:
    assert _message(f"rules:\n  - {rule}\n") == f"aha.yaml: {path}: '' {ID_FIX}"


def test_an_id_of_the_wrong_shape_says_what_an_id_is_not_the_pattern() -> None:
    assert _message("rules:\n  - {id: a-b, when: {reached: connected}, then: {in_app: hi}}\n") == (
        f"aha.yaml: rules[0].id: 'a-b' {ID_FIX}")


@pytest.mark.parametrize("message", ["''", "'   '"])
def test_an_empty_in_app_message_is_refused(message: str) -> None:
    assert _message(f"rules:\n  - {{id: r, when: {{reached: connected}}, then: {{in_app: {message}}}}}\n") == (
        "aha.yaml: rules[0].then.in_app: an in-app message needs its text (users would be shown a blank).")


def test_a_webhook_without_its_scheme_says_so_in_words() -> None:
    rule = "{id: r, when: {reached: connected}, then: {webhook: 'ftp://x/h', secret: whsec_dGVzdHNlY3JldA==}}"
    assert _message(f"rules:\n  - {rule}\n") == (
        "aha.yaml: rules[0].then.webhook: 'ftp://x/h' is not a web address: start it with https:// or http://.")


@pytest.mark.parametrize("start, said", [
    ("22:00", 'write the time in quotes, "22:00" (YAML reads an unquoted 22:00 as the number 1320)'),
    ("9:30", 'write the time in quotes, "09:30" (YAML reads an unquoted 9:30 as the number 570)'),
    ("22", 'write the time of day in quotes as "HH:MM", such as "22:00"'),
    ('"24:00"', "'24:00' is not a time of day: write it as \"HH:MM\" from 00:00 to 23:59, such as \"22:00\""),
    ('"10pm"', "'10pm' is not a time of day: write it as \"HH:MM\" from 00:00 to 23:59, such as \"22:00\""),
])
def test_a_quiet_hours_time_yaml_read_as_a_number_or_misspelt_names_the_fix(start: str, said: str) -> None:
    text = ("rules:\n  - {id: r, when: {reached: connected}, then: " + HOOK + "}\n"
            "nudges: {quiet_hours: {start: " + start + ', end: "08:00"}}\n')
    assert _message(text) == f"aha.yaml: nudges.quiet_hours.start: {said}."


EMPTY = "an empty list matches nothing: give one value or more, or remove the key."


@pytest.mark.parametrize("text, path", [
    ("rules:\n  - {id: r, when: {reached: connected}, scope: {plan: []}, then: {in_app: hi}}\n",
     "rules[0].scope.plan"),
    ("", "milestones[1].scope.persona"),
])
def test_an_empty_scope_list_is_refused_not_a_rule_or_milestone_for_nobody(text: str, path: str) -> None:
    """`scope: {plan: []}` was accepted: a rule nudging nobody, a milestone measured on nobody, silently."""
    head = HEAD if text else HEAD.replace("{id: invited, event: Invited, within: 7d}",
                                          "{id: invited, event: Invited, within: 7d, scope: {persona: []}}")
    with pytest.raises(DefinitionError) as info:
        parse(head + text)
    assert str(info.value) == f"aha.yaml: {path}: {EMPTY}"


@pytest.mark.parametrize("holdout", ["true", "yes", "no", "off"])
def test_a_holdout_yaml_read_as_true_or_false_is_refused_not_a_share(holdout: str) -> None:
    """YAML 1.1 reads yes/no/on/off/true/false as booleans: `holdout: true` was a share of 1 (refused as above
    0.9, saying so in numbers) and `holdout: no` silently 0, a rule with no holdout and no impact to measure."""
    text = "rules:\n  - {id: r, when: {reached: connected}, holdout: " + holdout + ", then: {in_app: hi}}\n"
    read = "true" if holdout in ("true", "yes") else "false"
    assert _message(text) == (f"aha.yaml: rules[0].holdout: a share of users from 0 to 0.9, such as 0.2, not {read} "
                              "(YAML reads yes, no, on and off as true or false).")
