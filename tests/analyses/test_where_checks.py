"""`aha validate --db` warns of a milestone whose `where` no stored event satisfies: a misspelt property key, a nested
member written with dots, a value in another case. Before, such a file validated "ok" and the milestone read 0%.
Hand-written events: every Connect carries `integration_type` and a nested `source.kind`."""

from __future__ import annotations

from pathlib import Path

import pytest

from aha.analyses import checks
from aha.definitions import parse
from aha.store import Store, open_store
from tests.journeys import write_events
from tests.serving import aha

BASE = """
version: 1
signup: {event: Signed Up}
milestones:
  - id: connected
    level: primary
    event: Connect
    within: 1d
    where: WHERE
"""

ROWS = [
    ("u1", "Signed Up", "2026-01-01T10:00:00"),
    ("u1", "Connect", "2026-01-01T11:00:00", {"integration_type": "postgres", "source": {"kind": "db"}}),
    ("u2", "Signed Up", "2026-01-01T10:00:00"),
    ("u2", "Connect", "2026-01-01T11:00:00", {"integration_type": "postgres", "source": {"kind": "db"}}),
    ("u3", "Signed Up", "2026-01-01T10:00:00"),
    ("u3", "Connect", "2026-01-01T11:00:00", {"integration_type": "bigquery", "source": {"kind": "warehouse"}}),
]  # by hand: integration_type postgres ×2, bigquery ×1


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "aha.duckdb")
    write_events(s, ROWS)
    return s


def warnings(store: Store, where: str) -> list[tuple[str, str]]:
    found = checks.run(parse(BASE.replace("WHERE", where)), "aha.yaml", store).findings
    return [(f.path, f.message) for f in found if f.level == "warning"]


@pytest.mark.parametrize(("where", "expected"), [
    pytest.param("{integration_typ: postgres}", [(
        "milestones[0].where.integration_typ",
        "no 'Connect' event has a property 'integration_typ', so nobody reaches this milestone. "
        "Did you mean 'integration_type'?")], id="misspelt_key"),
    pytest.param("{source.kind: db}", [(
        "milestones[0].where['source.kind']",
        "no 'Connect' event has a property 'source.kind', so nobody reaches this milestone. A key is one member's "
        "literal name; a nested member is written as a JSON Pointer: did you mean '/source/kind'?")],
        id="dotted_key_for_a_nested_member"),
    pytest.param("{'intégration typé': postgres}", [(
        "milestones[0].where['intégration typé']",
        "no 'Connect' event has a property 'intégration typé', so nobody reaches this milestone. "
        "Did you mean 'integration_type'?")], id="unicode_and_space_key"),
    pytest.param("{integration_type: Postgres}", [(
        "milestones[0].where",
        "no 'Connect' event matches this `where`, so nobody reaches this milestone. Values the events carry: "
        "'integration_type': 'postgres' (2), 'bigquery' (1). Values compare exactly (case included).")],
        id="value_in_another_case"),
    pytest.param("{integration_type: postgres}", [], id="right"),
    pytest.param("{/source/kind: db}", [], id="pointer_right"),
    pytest.param("{plan: {ne: pro}}", [], id="ne_on_an_absent_key_matches_every_event"),
])
def test_a_where_matching_no_event_is_named_with_its_fix(store: Store, where: str, expected: list) -> None:
    assert warnings(store, where) == expected


def test_validate_prints_it(store: Store, tmp_path: Path) -> None:
    store.close()
    config = tmp_path / "aha.yaml"
    config.write_text(BASE.replace("WHERE", "{integration_typ: postgres}"))
    out = aha("validate", str(config), "--db", str(tmp_path / "aha.duckdb"), cwd=tmp_path)
    assert "milestones[0].where.integration_typ: no 'Connect' event has a property 'integration_typ'" in " ".join(
        out.stdout.split()), out.stdout + out.stderr
