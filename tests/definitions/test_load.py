"""The definitions file: the reference example loads as it is, and every mistake gets one exact message."""

from __future__ import annotations

import pytest

from aha.definitions import DefinitionError, content_hash, load, parse
from tests.conftest import SHARED_EXAMPLE, TEMPLATE
from tests.definitions.test_account_definitions import ACCOUNT_MISTAKES

HEAD = "signup: {event: Signed Up}\n"


@pytest.mark.parametrize("path", [SHARED_EXAMPLE, TEMPLATE], ids=["shared_example", "bundled_template"])
def test_reference_example_loads_as_is(path):
    if not path.exists():
        pytest.skip(f"{path} not present in this checkout")
    d = load(path)
    assert d.primary.id == "core_workflow"
    assert d.funnel_ids == ["workspace", "data_connected", "core_workflow", "collaboration"]
    assert d.milestone("core_workflow").all_of == ["project", "first_output"]
    assert d.milestone("rows_imported").threshold_kind == "sum"
    assert d.milestone("rows_imported").threshold_value == 50
    assert d.milestone("upgrade_intent").events == ["Pricing Viewed", "Upgrade Clicked"]
    assert d.milestone("workspace").within.total_seconds() == 30 * 60
    assert d.milestone("workspace_messages").entity == "account"
    assert d.paid is not None and d.paid.within.days == 30
    assert d.retention.active.not_event == ["Signed Up", "Email Opened"]


def test_bundled_template_is_the_shared_example():
    if not SHARED_EXAMPLE.exists():
        pytest.skip("shared example not present")
    assert TEMPLATE.read_text() == SHARED_EXAMPLE.read_text()


def test_default_funnel_skips_all_of_parts_and_account_milestones():
    d = parse(HEAD + """milestones:
  - {id: a, event: A, within: 1d}
  - {id: b, event: B, within: 1d}
  - {id: c, all_of: [a, b], within: 1d, level: primary}
  - {id: d, event: D, within: 1d, entity: account}
""")
    assert d.funnel_ids == ["c"]


def test_hash_ignores_wording_but_not_semantics():
    base = HEAD + "milestones: [{id: a, event: A, within: 1d, level: primary, name: %s}]"
    changed = HEAD + "milestones: [{id: a, event: A, within: 2d, level: primary, name: X}]"
    assert content_hash(parse(base % "X")) == content_hash(parse(base % "Y"))
    assert content_hash(parse(base % "X")) != content_hash(parse(changed))
    assert content_hash(parse(HEAD + "milestones: [{id: a, event: A, within: 24h, level: primary}]")) == \
        content_hash(parse(HEAD + "milestones: [{id: a, event: A, within: 1d, level: primary}]"))


M = "milestones: [{id: a, event: A, level: primary, %s}]"

BAD = [
    pytest.param(HEAD + M % "within: 7 days",
                 'aha.yaml: milestones[0].within: \'7 days\' is not a duration; write a number and a unit: s, m, h, '
                 'd or w (for example "30m", "24h", "7d").', id="duration_words"),
    pytest.param(HEAD + M % "within: -3d",
                 "aha.yaml: milestones[0].within: '-3d' must be a positive duration, such as \"1d\".",
                 id="negative_window"),
    pytest.param(HEAD + M % "within: 99999999999d",  # was an OverflowError traceback (timedelta's range)
                 "aha.yaml: milestones[0].within: '99999999999d' is longer than 100 years (36500d); write a shorter "
                 "duration.", id="absurd_window"),
    pytest.param(HEAD + M % ("within: " + "9" * 400 + "w"),  # infinity as a float
                 "aha.yaml: milestones[0].within: '999999999999999999999999999999999999... is longer than 100 years "
                 "(36500d); write a shorter duration.", id="window_of_400_digits"),
    pytest.param(HEAD + M % "within: 3d, wher: {x: 1}",
                 "aha.yaml: milestones[0].wher: unknown key 'wher'. Did you mean 'where'?", id="unknown_key"),
    pytest.param("targets: {activation_rate_day_7: 1w}\n" + HEAD + M % "within: 3d",
                 "aha.yaml: targets.activation_rate_day_7: '1w' is a duration, not a rate; write a share between 0 "
                 "and 1, e.g. 0.5.", id="target_rate_as_duration"),
    pytest.param("targets: {activation_rate_day_7: 50}\n" + HEAD + M % "within: 3d",
                 "aha.yaml: targets.activation_rate_day_7: 50 is not a rate; write a share between 0 and 1, e.g. "
                 "0.5.", id="target_rate_as_percent"),
    pytest.param("targets: {median_time_to_nope: 10m}\n" + HEAD + M % "within: 3d",
                 "aha.yaml: targets.median_time_to_nope: no milestone 'nope'; use median_time_to_primary or one of: "
                 "a.", id="target_unknown_milestone"),
    pytest.param("targets: {median_time_to_primary: 600}\n" + HEAD + M % "within: 3d",
                 "aha.yaml: targets.median_time_to_primary: 600 is not a duration; write one such as 10m or 2h.",
                 id="target_time_as_number"),
    pytest.param(HEAD + M % "window: 3d",
                 "aha.yaml: milestones[0].window: unknown key 'window'. Did you mean 'within'?", id="synonym_key"),
    pytest.param(HEAD + M % "within: 3d, colour: red",
                 "aha.yaml: milestones[0].colour: unknown key 'colour'. Allowed here: all_of, clarity, "
                 "controllability, count, distinct, entity, event, guidance, id, level, members_reached, name, scope, "
                 "sum, where, "
                 "within.",
                 id="unknown_key_far_from_any"),
    pytest.param("signup: {evnt: X}\n" + M % "within: 3d",
                 "aha.yaml: signup.evnt: unknown key 'evnt'. Did you mean 'event'?", id="unknown_key_top"),
    pytest.param(HEAD + M % "within: 3d, where: {x: {gtt: 3}}",
                 "aha.yaml: milestones[0].where.x.gtt: unknown key 'gtt'. Did you mean 'gt'?", id="unknown_operator"),
    pytest.param(HEAD + "milestones: [{id: a, event: A, within: 3d, level: primry}]",
                 "aha.yaml: milestones[0].level: 'primry' is not allowed; use 'primary', 'secondary' or "
                 "'expansion'.", id="bad_level"),
    pytest.param(HEAD + "milestones: [{id: a, event: A, within: 3d}]",
                 "aha.yaml: milestones: exactly one milestone must have `level: primary` (found: none).",
                 id="no_primary"),
    pytest.param(HEAD + M % "within: 3d, count: 2, sum: {property: rows, at_least: 5}",
                 "aha.yaml: milestones[0]: give one threshold, not count and sum.", id="two_thresholds"),
    pytest.param(HEAD + "milestones: [{id: a, all_of: [a1, b], within: 3d, level: primary}]",
                 "aha.yaml: milestones[0].all_of[0]: no milestone 'a1'; known: a.", id="all_of_unknown"),
    pytest.param(HEAD + M % "within: 3d" + "\nfunnel: [a, zz]",
                 "aha.yaml: funnel[1]: no milestone 'zz'; known: a.", id="funnel_unknown"),
    pytest.param("signup: {event: X\n" + M % "within: 3d",
                 "aha.yaml: line 2, column 11: not valid YAML: expected ',' or '}', but got ':'. Check indentation "
                 "and that values with ':' are quoted.", id="malformed_yaml"),
    pytest.param(HEAD + M % "count: 0, within: 1d",
                 "aha.yaml: milestones[0].count: 0: Input should be greater than or equal to 1.", id="zero_count"),
    pytest.param(HEAD + "milestones: [{id: a, level: primary, within: 1d}]",
                 "aha.yaml: milestones[0]: give exactly one of `event` (what to count), `all_of` (milestones to "
                 "combine) or `members_reached` (members who reached a user milestone).", id="no_event"),
    pytest.param(HEAD + M % "event: B, within: 1d",
                 "aha.yaml: line 2, column 48: not valid YAML: found duplicate key 'event'. Check indentation "
                 "and that values with ':' are quoted.", id="duplicate_key"),
    pytest.param(HEAD + "milestones: [{id: a, event: A, within: 3d, level: " + "p" * 300 + "}]",
                 "aha.yaml: milestones[0].level: '" + "p" * 37 + "..." + "p" * 38 + "' is not allowed; use 'primary', "
                 "'secondary' or 'expansion'.", id="long_value_shown_cut"),
    pytest.param("x: &a [*a]\n" + HEAD + M % "within: 1d",
                 "aha.yaml: line 1, column 4: refused: an alias refers to a value that contains it. Write the values "
                 "out instead of nesting aliases.", id="recursive_alias"),
    pytest.param(HEAD + M % "within: 1d" + "\n# " + "y" * 300_000,
                 "aha.yaml: (file): is 300,089 bytes; definitions may be at most 65,536. A definitions file is a "
                 "few KB: check that this is the right file.", id="too_large"),
    pytest.param(HEAD + M % ("within: 1d, where: {x: " + "[" * 40 + "]" * 40 + "}"),
                 "aha.yaml: line 2, column 78: refused: values nested deeper than 32 levels. Write nested lists and "
                 "mappings out flat.", id="nested_too_deep"),
    pytest.param(HEAD + M % ("within: 1d, where: {x: " + "[" * 20_000 + "]" * 20_000 + "}"),
                 "aha.yaml: line 2, column 1067: not valid YAML: exceeded maximum nesting depth. Check indentation "
                 "and that values with ':' are quoted.", id="nested_past_the_parser"),
    # Numbers (docs/semantics.md, "Numbers in definitions"): a count past int64 was a traceback in the report; .inf
    # and .nan were accepted and compared in SQL (DuckDB orders NaN above every number); 0.5s was written "0w".
    pytest.param(HEAD + M % "within: 3d, count: 10000000000000000000000",
                 "aha.yaml: milestones[0].count: 10000000000000000000000: Input should be less than or equal to "
                 "1000000000.", id="count_past_int64"),
    pytest.param(HEAD + M % "within: 3d, count: yes",  # YAML's true, which was read as count 1
                 "aha.yaml: milestones[0].count: true: Input should be a valid integer.", id="count_yes"),
    pytest.param(HEAD + M % "within: 3d" + "\nsignals: [{id: s, members: 10000000000000000000000}]",
                 "aha.yaml: signals[0].members: 10000000000000000000000: Input should be less than or equal to "
                 "1000000000.", id="signal_members_past_int64"),
    pytest.param(HEAD + M % "within: 3d, sum: {property: rows, at_least: .inf}",
                 "aha.yaml: milestones[0].sum.at_least: inf: Input should be a finite number.", id="infinite_sum"),
    pytest.param(HEAD + M % "within: 3d, where: {x: {gt: .nan}}",
                 "aha.yaml: milestones[0].where.x.gt: nan: Input should be a finite number.", id="nan_bound"),
    pytest.param(HEAD + M % "within: 3d, where: {x: {in: [1, .nan]}}",
                 'aha.yaml: milestones[0].where.x.in[1]: nan is not a finite number; write a number, or quote it '
                 '("nan") to mean the text.', id="nan_in_a_list"),
    pytest.param(HEAD + M % "within: 3d, scope: {plan: -.inf}",
                 'aha.yaml: milestones[0].scope.plan: -inf is not a finite number; write a number, or quote it '
                 '("-inf") to mean the text.', id="infinite_scope"),
    pytest.param(HEAD + M % "within: 3d" + "\nrules: [{id: r, when: {reached: a}, then: {in_app: hi}, holdout: .nan}]",
                 "aha.yaml: rules[0].holdout: nan: Input should be a finite number.", id="nan_holdout"),
    pytest.param(HEAD + M % "within: 0.5s",
                 'aha.yaml: milestones[0].within: \'0.5s\' is not a whole number of seconds; write one such as "90s" '
                 'or "1.5m".', id="fraction_of_a_second"),
    # Ids are column names of the state tables (reach__<id>), which DuckDB matches without case: with `workspace` and
    # `Workspace` in the funnel the second step showed the first's users (100% from previous, median 0s).
    pytest.param(HEAD + "milestones: [{id: workspace, event: A, level: primary, within: 3d}, "
                        "{id: Workspace, event: B, within: 3d}]",
                 "aha.yaml: milestones[1].id: 'Workspace' differs from 'workspace' (milestones[0]) only in case; ids "
                 "are column names, which the database compares without case: rename one.", id="ids_differing_in_case"),
    pytest.param("- just\n- a list\n",
                 "aha.yaml: (top level): expected a mapping of keys such as signup, paid, milestones. Run `aha init` "
                 "to see the format.", id="not_a_mapping"),
]


@pytest.mark.parametrize(("text", "message"), BAD + ACCOUNT_MISTAKES)
def test_each_mistake_gets_one_exact_message(text, message):
    with pytest.raises(DefinitionError) as info:
        parse(text)
    assert str(info.value) == message


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """Nested anchors ("billion laughs"): about 1 KB of YAML standing for fan**levels strings (9**9 = 387,420,489)."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nsignup: {{event: *l{levels - 1}}}\npaid: {{event: P}}\n" + M % "within: 1d"


def test_alias_bomb_is_refused_before_anything_walks_it():
    """On the old loader pydantic and repr() walked all 387 million strings (minutes, GBs): now one line."""
    with pytest.raises(DefinitionError) as info:
        parse(alias_bomb())
    assert str(info.value) == ("aha.yaml: line 6, column 5: refused: aliases expand to more than 100,000 values. "
                               "Write the values out instead of nesting aliases.")


def test_aliases_within_the_bound_still_load():
    """Anchors are legitimate YAML: a shared `where` reused by two milestones loads as written."""
    d = parse(HEAD + "milestones:\n  - {id: a, event: A, within: 1d, level: primary, where: &w {plan: pro}}\n"
                     "  - {id: b, event: B, within: 1d, where: *w}\n")
    assert [m.id for m in d.milestones] == ["a", "b"]


def test_thousands_of_mistakes_are_counted_not_all_listed():
    """150 unknown keys: 20 messages and a count of the rest (before: 150 lines, each with a close-match search)."""
    text = HEAD + M % "within: 1d" + "\n" + "".join(f"k{i}: 1\n" for i in range(150))
    with pytest.raises(DefinitionError) as info:
        parse(text)
    lines = str(info.value).splitlines()
    assert len(lines) == 21
    assert lines[0].startswith("aha.yaml: k0: unknown key 'k0'. Allowed here: ")
    assert lines[-1] == "… and 130 more mistakes."


@pytest.mark.parametrize(("content", "message"), [
    # Windows Notepad's "Unicode" is UTF-16 with a byte-order mark; a UTF-8 BOM and CRLF line ends load too
    pytest.param(lambda text: text.encode("utf-16"), None, id="utf16_with_bom"),
    pytest.param(lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), None, id="utf8_bom_crlf"),
    # before: UnicodeDecodeError's traceback
    pytest.param(lambda text: text.replace("Signed Up", "Inscrit Créé").encode("latin-1"),
                 "{path}: (file): line 1: byte 0xe9 is not UTF-8, so the file was saved in another encoding "
                 "(Windows-1252 or Latin-1, as older editors do). Save it as UTF-8 and run again.", id="latin1"),
    # before: IsADirectoryError's traceback
    pytest.param("directory", "{path}: is a directory, not a definitions file. Pass the file in it, e.g. "
                 "--config {path}/aha.yaml.", id="directory"),
])
def test_a_definitions_file_in_another_encoding_or_shape_is_one_message(tmp_path, content, message):
    text = HEAD + M % "within: 1d"
    path = tmp_path / "aha.yaml"
    if content == "directory":
        path.mkdir()
    else:
        path.write_bytes(content(text))
    if message is None:
        assert load(path).milestones[0].id == "a"
        return
    with pytest.raises(DefinitionError) as caught:
        load(path)
    assert str(caught.value) == message.format(path=path)


def test_a_device_as_the_definitions_file_is_read_only_up_to_the_bound():
    """`--config /dev/zero` read forever (the whole file was read before its size was checked)."""
    with pytest.raises(DefinitionError) as caught:
        load("/dev/zero")
    assert str(caught.value) == ("/dev/zero: (file): is over 65,536 bytes; definitions may be at most 65,536. A "
                                 "definitions file is a few KB: check that this is the right file.")
