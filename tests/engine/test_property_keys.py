"""Property keys are literal member names everywhere (`where`, `scope`, `sum`, `distinct`, segments, discovery).

Before: keys went through a JSON-path parser, so `$browser` read `browser`, `a.b` read the nested a → b, a quote
crashed with a tokenizer traceback, and a `'` reached the SQL text unescaped. Each user below is built so the old
reading gives another answer (a decoy under the name the path parser would have read).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from aha.definitions import parse
from aha.definitions.errors import DefinitionError
from aha.jsonpointer import key_problem, members, pointer
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events, write_traits

SQLISH = "'; DROP TABLE events; --"
DEFINITIONS = f"""
signup: {{event: Signed Up}}
segments: ["$initial_referrer"]
milestones:
  - {{id: dollar, event: Clicked, within: 1d, level: primary, where: {{"$browser": Chrome}}}}
  - {{id: dotted, event: Clicked, within: 1d, where: {{"a.b": x}}}}
  - {{id: nested, event: Clicked, within: 1d, where: {{"/a/b": x}}}}
  - {{id: quoted, event: Clicked, within: 1d, where: {{"it's": 1, 'q"x': "yes"}}}}
  - {{id: spaced, event: Clicked, within: 1d, where: {{"x y": {{gte: 2}}, "ü": ok}}}}
  - {{id: sqlish, event: Clicked, within: 1d, where: {{{json.dumps(SQLISH)}: 1}}}}
  - id: summed
    event: Bought
    within: 1d
    sum: {{property: "$amount", at_least: 10}}
  - id: distinct
    event: Viewed
    within: 1d
    distinct: {{property: "$item", at_least: 2}}
  - {{id: scoped, event: Clicked, within: 1d, scope: {{"$plan": pro}}}}
"""
D = "2026-01-01T"
JOURNEYS = [
    ("u1", "Signed Up", D + "00:00", {"$initial_referrer": "google"}),
    ("u1", "Clicked", D + "01:00", {"$browser": "Chrome", "browser": "Firefox"}),
    ("u1", "Bought", D + "02:00", {"$amount": 6, "amount": 0}), ("u1", "Bought", D + "03:00", {"$amount": "5"}),
    ("u2", "Signed Up", D + "00:00", {"$initial_referrer": "bing", "initial_referrer": "google"}),
    ("u2", "Clicked", D + "01:00", {"browser": "Chrome", SQLISH: 1}),          # decoy for $browser
    ("u2", "Bought", D + "02:00", {"amount": 20}),                             # decoy for $amount
    ("u3", "Signed Up", D + "00:00", {"$initial_referrer": "google"}),
    ("u3", "Clicked", D + "01:00", {"a.b": "x"}),
    ("u3", "Viewed", D + "02:00", {"$item": "a"}), ("u3", "Viewed", D + "03:00", {"$item": "b"}),
    ("u4", "Signed Up", D + "00:00"),
    ("u4", "Clicked", D + "01:00", {"a": {"b": "x"}}),                       # nested: only "/a/b" reads it
    ("u4", "Viewed", D + "02:00", {"item": "a"}), ("u4", "Viewed", D + "03:00", {"item": "b"}),
    ("u5", "Signed Up", D + "00:00"),
    ("u5", "Clicked", D + "01:00", {"it's": 1, 'q"x': "yes"}),
    ("u6", "Signed Up", D + "00:00"),
    ("u6", "Clicked", D + "01:00", {"x y": "3", "ü": "ok"}),
]
TRAITS = {"u1": {"$plan": "pro"}, "u2": {"plan": "pro"}}
EXPECTED = {  # milestone → the users who reach it, counted by hand from JOURNEYS
    "dollar": {"u1"}, "dotted": {"u3"}, "nested": {"u4"}, "quoted": {"u5"}, "spaced": {"u6"}, "sqlish": {"u2"},
    "summed": {"u1"}, "distinct": {"u3"}, "scoped": {"u1"},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    store = open_store(tmp_path_factory.mktemp("keys") / "aha.duckdb")
    write_events(store, JOURNEYS)
    write_traits(store, TRAITS)
    return Project(store, parse(DEFINITIONS))


def test_every_key_is_read_as_its_literal_name(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = project.state(as_of="2026-01-03").to_frame()
    reached = frame[frame.status == "reached"]
    got = {m: set(reached[reached.milestone_id == m].entity_id) for m in EXPECTED}
    assert got == EXPECTED
    assert project.store.scalar("SELECT count(*) FROM events") == len(JOURNEYS)  # the SQL-looking key ran no SQL


def test_segment_by_a_dollar_key(project):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        funnel = project.funnel(segment="$initial_referrer", as_of="2026-01-03")
    signups = {group.segment: group.signups for group in funnel.groups}
    assert signups == {"google": 2, "bing": 1, "(none)": 3}  # u2's decoy `initial_referrer: google` is not read


def test_pointer_rule():
    assert pointer("$browser") == "/$browser"
    assert pointer("a/b") == "/a~1b" and pointer("t~x") == "/t~0x"
    assert pointer("/context/page") == "/context/page"
    assert members("/a~1b/c~0d") == ["a/b", "c~d"] and members("a.b") == ["a.b"]
    assert key_problem("") and key_problem("/a/~2") and key_problem("x" * 300) and key_problem("a\x00")
    assert key_problem("a\"b") is None and key_problem("*") is None and key_problem("a[0]") is None


@pytest.mark.parametrize("bad", ["", "/a/~x", "y" * 1000])
def test_bad_keys_are_refused_with_the_field(bad):
    text = DEFINITIONS.replace('"$browser": Chrome', f"{json.dumps(bad)}: Chrome")
    with pytest.raises(DefinitionError) as caught:
        parse(text)
    message = str(caught.value)
    assert "milestones[0].where" in message and len(message) < 400


def test_spark_sql_reads_the_literal_member():
    """Spark reads the member by name through VARIANT, as JSON text (a string stays quoted, so `"3"` and `3`
    differ, as on DuckDB); a name its path syntax cannot hold is refused naming the key."""
    import ibis

    import aha.store.dialects  # noqa: F401  (the dialect rules)
    from aha.engine.members import member

    t = ibis.table({"p": "json"}, name="t")
    sql = ibis.to_sql(t.select(v=member(t.p, "a.b").str, w=member(t.p, "/ctx/x y").str), dialect="pyspark")
    assert """'$["a.b"]'""" in sql and """'$["ctx"]["x y"]'""" in sql and "unwrap_json" not in sql
    with pytest.raises(Exception, match='it"s'):
        ibis.to_sql(t.select(v=member(t.p, 'it"s').str), dialect="pyspark")


def test_cli_on_hostile_keys(tmp_path: Path):
    """`"` in a stored key crashed discover and score; quotes in a definitions key passed validate, then crashed
    report. Through the console script: every command answers, none prints a traceback."""
    events = tmp_path / "events.jsonl"
    rows = []
    for i in range(60):
        user = f"u{i}"
        rows.append({"user_id": user, "event": "Signed Up", "timestamp": "2026-01-01T00:00:00Z",
                     "properties": {'pl"an': "pro" if i % 2 else "free"}})
        rows.append({"user_id": user, "event": "Clicked", "timestamp": "2026-01-01T01:00:00Z",
                     "properties": {'k"ind': "a" if i % 3 else "b", "$browser": "Chrome"}})
        if i % 4 == 0:
            rows.append({"user_id": user, "event": "Paid", "timestamp": "2026-01-02T00:00:00Z"})
    events.write_text("\n".join(json.dumps(r) for r in rows))
    config = tmp_path / "aha.yaml"
    config.write_text("""
signup: {event: Signed Up}
paid: {event: Paid, within: 7d}
segments: ['pl"an']
milestones:
  - {id: clicked, event: Clicked, within: 1d, level: primary, where: {'k"ind': a, "$browser": Chrome}}
""")
    aha = str(Path(sys.executable).parent / "aha")
    db = str(tmp_path / "aha.duckdb")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([aha, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        return done

    assert run("import", str(events), "--db", db).returncode == 0
    assert run("validate", str(config), "--db", db).returncode == 0
    report = run("report", "--db", db, "--config", str(config), "--json", "--include-immature")
    assert report.returncode == 0, report.stderr
    (group,) = json.loads(report.stdout)["funnel"]["groups"]
    reached = next(step for step in group["steps"] if step["id"] == "clicked")["entities"]
    assert reached == sum(1 for i in range(60) if i % 3)  # 40: kind "a" and the $browser filter both hold
    segmented = run("report", "--db", db, "--config", str(config), "--segment", 'pl"an')
    assert segmented.returncode == 0, segmented.stderr
    for command in ("discover", "score"):
        done = run(command, "--db", db, "--config", str(config), "--outcome", "conversion")
        assert done.returncode == 0, done.stderr
