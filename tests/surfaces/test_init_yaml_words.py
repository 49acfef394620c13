"""Event names YAML reads as something else (outside8). `aha init --db` on events named `yes`, `null`, `on`, `off`
wrote `- id: yes`, which YAML 1.1 reads as the truth value true, so the file it had just proposed failed
`aha validate` with "milestones[0].id: true: Input should be a valid string"; and a hand-written `id: yes` said the
same, naming no fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aha.definitions import load, parse
from aha.definitions.errors import DefinitionError
from tests.serving import aha


def test_init_never_writes_an_id_yaml_reads_as_a_truth_value_or_nothing(tmp_path: Path) -> None:
    # 40 users sign up; each does `yes` twice (the most common event: the placeholder primary), 39 do `null`,
    # 38 `on`, 37 `off` once: the candidates below it, in that order
    with (tmp_path / "events.jsonl").open("w") as f:
        for i in range(40):
            rows = [("Signed Up", 0), ("yes", 1), ("yes", 2)] + [
                (name, 3) for name, users in (("null", 39), ("on", 38), ("off", 37)) if i < users]
            for event, hour in rows:
                f.write(json.dumps({"user_id": f"u{i}", "event": event,
                                    "timestamp": f"2026-03-0{1 + i % 5}T{10 + hour}:00:00Z"}) + "\n")
    assert aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    done = aha("init", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    checked = aha("validate", "aha.yaml", "--db", "aha.duckdb", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    definitions = load(tmp_path / "aha.yaml")
    assert [(m.id, m.event) for m in definitions.milestones] == [("e_yes", "yes")]
    text = (tmp_path / "aha.yaml").read_text().replace("  # - {id:", "  - {id:")  # every candidate uncommented
    assert [(m.id, m.event) for m in parse(text).milestones] == [
        ("e_yes", "yes"), ("e_null", "null"), ("e_on", "on"), ("e_off", "off")]


@pytest.mark.parametrize("written, read", [("yes", "true"), ("Off", "false")])
def test_a_hand_written_id_yaml_reads_otherwise_says_to_quote_it(written: str, read: str) -> None:
    text = f"signup: {{event: Signed Up}}\nmilestones:\n  - {{id: {written}, event: E, within: 3d, level: primary}}\n"
    with pytest.raises(DefinitionError) as info:
        parse(text)
    assert str(info.value) == (
        f"aha.yaml: milestones[0].id: YAML read this unquoted value as {read}, not as text (YAML 1.1 reads yes, no, "
        "on, off, true and false as truth values, and null or ~ as nothing). Put the text in quotes, such as "
        '"yes".')


@pytest.mark.parametrize("written", ["null", "~", ""])
def test_a_hand_written_id_yaml_reads_as_nothing_says_so(written: str) -> None:
    text = f"signup: {{event: Signed Up}}\nmilestones:\n  - {{id: {written}, event: E, within: 3d, level: primary}}\n"
    with pytest.raises(DefinitionError) as info:
        parse(text)
    assert str(info.value) == (
        "aha.yaml: milestones[0].id: has no value: write one (YAML reads an empty value, null and ~ as nothing; "
        'for that text itself, put it in quotes, such as "null").')


def test_init_writes_event_names_holding_control_characters_so_they_read_back_the_same(tmp_path: Path) -> None:
    """A DEL (0x7f) or C1 control (0x80-0x9f) in an event name made the proposed file invalid YAML ("unacceptable
    character #x007f"), and NEL (0x85) inside double quotes was read back as a space (the milestone matched no
    event). 20 users; each does DEL's event 3 times (the placeholder), NEL's 2, the CSI's (0x9b) once."""
    names = ("del\x7fname", "nel\x85name", "c1\x9bname")
    with (tmp_path / "events.jsonl").open("w") as f:
        for i in range(20):
            f.write(json.dumps({"user_id": f"u{i}", "event": "Signed Up", "timestamp": "2026-03-01T10:00:00Z"}) + "\n")
            for name, times in zip(names, (3, 2, 1), strict=True):
                for k in range(times):
                    f.write(json.dumps({"user_id": f"u{i}", "event": name,
                                        "timestamp": f"2026-03-02T1{k}:00:00Z"}) + "\n")
    assert aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    assert aha("init", "--db", "aha.duckdb", cwd=tmp_path).returncode == 0
    checked = aha("validate", "aha.yaml", "--db", "aha.duckdb", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    text = (tmp_path / "aha.yaml").read_text().replace("  # - {id:", "  - {id:")
    assert [m.event for m in parse(text).milestones] == list(names)
