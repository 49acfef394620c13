"""Kept answers (aha.analyses.result_cache): read back only for the same data, definitions and options; after every
kind of write the next answer is computed again and equals one computed without the cache."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from aha.analyses import result_cache
from aha.definitions import parse
from aha.ingest.payloads import Call
from aha.ingest.records import Record, encode
from aha.ingest.takeover import write_lines
from aha.project import Project
from aha.results import to_jsonable
from aha.store import Store, open_store
from aha.store.importer import import_files
from tests.journeys import write_events


def write_records(store: Store, records: list[Record], checkpoint: None) -> None:
    """Store calls as the server's writer does: from their spool lines."""
    write_lines(store, b"".join(encode(r) for r in records), checkpoint)


TEXT = """
signup: {event: Signed Up}
paid: {event: Paid, within: 3d}
milestones:
  - {id: m1, event: A, within: 1d, level: primary}
  - {id: m2, event: B, within: 2d}
"""
DEFINITIONS = parse(TEXT)
D = "2026-01-01T"
JOURNEYS = [
    ("u1", "Signed Up", D + "00:00"), ("u1", "A", D + "01:00"), ("u1", "B", D + "02:00"), ("u1", "Paid", D + "03:00"),
    ("u2", "Signed Up", D + "00:00"), ("u2", "A", D + "05:00"),
    ("u3", "Signed Up", D + "00:00"),
    ("u4", "Signed Up", "2026-01-05T00:00"), ("u4", "Z", "2026-01-10T00:00"),
]


def call(kind: str, n: int, user: str | None = None, anonymous: str | None = None, event: str | None = None,
         when: str = D + "06:00", previous: str | None = None, account: str | None = None) -> Call:
    moment = datetime.fromisoformat(when)
    return Call(kind, f"new-{kind}-{n}", event, user, anonymous, account, previous, moment, moment, moment, None,
                None, "test")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    return Project(store, DEFINITIONS)


def kept(project: Project) -> result_cache.Answer | None:
    return result_cache.lookup(project.store.raw, result_cache.definitions_hash(project.definitions), "report", {})


def uncached(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict:
    with monkeypatch.context() as m:
        m.setenv(result_cache.SWITCH, "off")
        return project.report().to_dict()


def exact(result: object) -> str:
    """Every field, datetimes to the microsecond, NaN and infinity as such: equal text, equal objects."""
    return json.dumps(to_jsonable(result, exact=True), sort_keys=True)


def test_the_defaults_are_the_projects():
    for analysis, defaults in result_cache.DEFAULTS.items():
        signature = inspect.signature(getattr(Project, analysis))
        assert {n: p.default for n, p in signature.parameters.items() if n != "self"} == defaults


def test_a_repeated_question_is_read_back_equal(project, monkeypatch):
    assert kept(project) is None
    first = project.report()
    assert kept(project) is not None
    assert json.dumps(kept(project).body, sort_keys=True) == json.dumps(
        to_jsonable(first, first.kind, exact=True), sort_keys=True)
    again = project.report()
    assert again == first or again.to_dict() == first.to_dict()
    assert again.to_dict() == uncached(project, monkeypatch)
    assert again.headline is not None and again.headline.users == 4  # hand-counted: four signups
    # other options, other definitions: other answers
    assert result_cache.lookup(project.store.raw, result_cache.definitions_hash(project.definitions), "report",
                               {"order": "unordered"}) is None
    for other in (TEXT.replace("event: A, within: 1d", "event: A, within: 2d"),  # another state
                  TEXT.replace("id: m2,", "id: m2, name: Second,"),  # the same state, another name shown
                  TEXT + "targets: {activation_rate_day_7: 0.5}\n",  # the same state, a target in the overview
                  TEXT + "discovery: {exclude: [B]}\n"):  # the same state, another discovery
        assert result_cache.lookup(project.store.raw, result_cache.definitions_hash(parse(other)), "report",
                                   {}) is None


def test_an_answer_is_not_read_back_after_a_tracked_event(project, monkeypatch):
    before = project.report()
    write_records(project.store, [call("track", 1, user="u9", event="Signed Up")], None)
    assert kept(project) is None
    after = project.report()
    assert after.headline.users == before.headline.users + 1 == 5
    assert after.to_dict() == uncached(project, monkeypatch)


@pytest.mark.parametrize("kind", ["identify", "alias"])
def test_an_answer_is_not_read_back_after_a_link(project, monkeypatch, kind):
    # an anonymous signup: nobody's until a link names its user
    write_records(project.store, [call("track", 1, anonymous="anon-1", event="Signed Up", when=D + "04:00"),
                                  call("track", 2, anonymous="anon-1", event="A", when=D + "04:30")], None)
    before = project.report()
    link = (call("identify", 3, user="u8", anonymous="anon-1") if kind == "identify"
            else call("alias", 3, user="u8", previous="anon-1"))
    write_records(project.store, [link], None)
    assert kept(project) is None
    after = project.report()
    assert after.headline.users == before.headline.users + 1
    assert after.to_dict() == uncached(project, monkeypatch)


def test_an_answer_is_not_read_back_after_a_group_call(project, monkeypatch):
    before = project.report()
    write_records(project.store, [call("group", 1, user="u1", account="acme")], None)
    assert kept(project) is None
    after = project.report()
    # no account milestone here, so no number moves: the answer carries the data version it was computed for
    assert after.overview.data_version == before.overview.data_version + 1
    assert after.to_dict() == uncached(project, monkeypatch)


def test_an_answer_is_not_read_back_after_an_import(project, monkeypatch, tmp_path):
    before = project.report()
    new = tmp_path / "new.jsonl"
    new.write_text("\n".join(json.dumps({"type": "track", "messageId": f"imp-{n}", "event": event, "userId": "u7",
                                         "timestamp": "2026-01-02T00:00:00Z"})
                             for n, event in enumerate(["Signed Up", "A"])) + "\n")
    import_files(project.store, [new])
    assert kept(project) is None
    after = project.report()
    assert after.headline.users == before.headline.users + 1
    assert after.to_dict() == uncached(project, monkeypatch)


def test_a_forced_rebuild_forgets_every_answer(project):
    project.report()
    project.report(order="unordered")
    project.state(force=True)
    assert kept(project) is None
    tables = project.store.raw.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert (result_cache.TABLE,) not in tables


def test_notes_are_kept_with_the_answer(project):
    with pytest.warns(UserWarning, match="after the latest event"):
        first = project.report(as_of="2026-03-01")
    with pytest.warns(UserWarning, match="after the latest event"):
        again = project.report(as_of="2026-03-01")
    assert again.to_dict() == first.to_dict()


def test_a_kept_answer_keeps_microseconds(project):
    """`as_of` is the latest event, here 250 ms past a second: read back, it is the same moment (the public JSON
    writes whole seconds; a kept discovery's `as_of` is what `score` builds its state for)."""
    write_records(project.store, [call("track", 1, user="u1", event="Z", when="2026-01-10T00:00:00.250000")], None)
    computed = project.report()
    read_back = project.report()
    assert computed.funnel.as_of == datetime(2026, 1, 10, 0, 0, 0, 250000)
    assert read_back.funnel.as_of == computed.funnel.as_of
    assert exact(read_back) == exact(computed)


def test_an_answer_computed_across_a_write_is_not_kept(project):
    """A write between the start and the end of a computation: the answer may have seen part of it, so it is not
    kept under either data version."""
    digest = result_cache.definitions_hash(DEFINITIONS)
    before = result_cache.data_version(project.store.raw)
    result = project.report.__wrapped__(project)  # computed, not kept
    write_records(project.store, [call("track", 1, user="u9", event="Signed Up")], None)
    result_cache.remember(project.store.raw, digest, "report", {}, result, (), before)
    assert kept(project) is None
    result_cache.remember(project.store.raw, digest, "report", {}, result, (), before + 1)
    assert kept(project) is not None  # the same call with the version it was computed at: kept


def test_off_keeps_and_reads_nothing(project, monkeypatch):
    monkeypatch.setenv(result_cache.SWITCH, "off")
    project.report()
    monkeypatch.delenv(result_cache.SWITCH)
    assert kept(project) is None


def test_a_lake_keeps_no_answers(tmp_path):
    from aha.store.lake import LakeStore
    from aha.store.spark import SparkStore

    assert LakeStore.keeps_answers is False and SparkStore.keeps_answers is False


def test_a_repeated_report_imports_no_ibis(tmp_path):
    """The console script, twice: the second answer is the kept one, printed without importing Ibis or SQLGlot."""
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, JOURNEYS)
    store.close()
    config = tmp_path / "aha.yaml"
    config.write_text(TEXT)
    probe = ("import sys\nfrom aha.surfaces.cli.app import main\nsys.argv = ['aha', 'report', '--db', sys.argv[1], "
             "'--config', sys.argv[2], '--json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('ibis', 'sqlglot', 'pyarrow') if m in sys.modules), file=sys.stderr)")
    # no statements kept from other tests' files: the first run builds and compiles (a kept program imports no Ibis)
    env = {**os.environ, "AHA_STATEMENT_CACHE": "off"}
    runs = [subprocess.run([sys.executable, "-c", probe, str(tmp_path / "aha.duckdb"), str(config)],
                           capture_output=True, text=True, timeout=300, env=env) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stderr.strip().splitlines()[-1] == "['ibis', 'pyarrow', 'sqlglot']"  # computed
    assert runs[1].stderr.strip().splitlines()[-1] == "[]"  # read back
    assert json.loads(runs[1].stdout) == json.loads(runs[0].stdout)
    con = duckdb.connect(str(tmp_path / "aha.duckdb"), read_only=True)
    assert con.execute(f"SELECT count(*) FROM {result_cache.TABLE}").fetchall() == [(1,)]


QUESTIONS = [("report", {}), ("report", {"segment": "plan", "order": "unordered"}), ("funnel", {}), ("timing", {}),
             ("activation", {"period": "month"}), ("evaluate", {}), ("revalidate", {}), ("retention", {}),
             ("paths", {}), ("discover", {}), ("discover", {"outcome": "conversion", "window": 7})]


@pytest.fixture(scope="module")
def sampled(sample_db: Path) -> Project:
    return Project.open(sample_db, sample_db.parent / "aha.yaml")


@pytest.mark.parametrize(("analysis", "options"), QUESTIONS)
def test_every_kept_analysis_reads_back_what_it_computes(sampled, analysis, options):
    """On the 300-user sample: the answer read back (JSON → result object) equals the one computed, field by field,
    and equals one computed with the cache off."""
    ask = getattr(sampled, analysis)
    computed = ask(**options)
    digest = result_cache.definitions_hash(sampled.definitions)
    assert result_cache.lookup(sampled.store.raw, digest, analysis, options) is not None
    read_back = ask(**options)
    assert type(read_back) is type(computed)
    assert exact(read_back) == exact(computed)
    with pytest.MonkeyPatch.context() as m:
        m.setenv(result_cache.SWITCH, "off")
        assert ask(**options).to_dict() == computed.to_dict()


def test_scores_from_a_kept_discovery_equal_computed_ones(sampled):
    kept_discovery = sampled.discover()
    scored = sampled.score(discovery=kept_discovery)
    with pytest.MonkeyPatch.context() as m:
        m.setenv(result_cache.SWITCH, "off")
        assert sampled.score().to_dict() == scored.to_dict()


PROBE = ("import sys\nfrom aha.surfaces.cli.app import main\nsys.argv = ['aha', *sys.argv[1:]]\ntry:\n    main()\n"
         "except SystemExit as e:\n    assert not e.code, e.code\n"
         "print(sorted(m for m in ('ibis', 'sqlglot', 'pandas') if m in sys.modules), file=sys.stderr)")


def _lines(rows: list[tuple[str, str, str]]) -> str:
    return "\n".join(json.dumps({"user_id": u, "event": e, "timestamp": t + ":00Z"}) for u, e, t in rows)


def test_a_report_from_kept_statements_imports_no_ibis(tmp_path):
    """The console script (docs/engine.md, "A report without Ibis"): once a report's statements are kept, (a) a
    report of a state built and current, with the answers kept or not, (b) a cold report of another file, and (c)
    a report right after `aha import` of new events (the refresh) import neither Ibis nor SQLGlot, and each answer
    equals the expressions' (`AHA_KEPT_SQL=off`)."""
    config = tmp_path / "aha.yaml"
    config.write_text(TEXT)
    env = {**os.environ, "AHA_STATEMENT_CACHE": str(tmp_path / "statements"), result_cache.SWITCH: "off"}
    aha = str(Path(sys.executable).parent / "aha")
    (tmp_path / "old.jsonl").write_text(_lines(JOURNEYS))
    (tmp_path / "warm.jsonl").write_text(_lines([("u5", "Signed Up", "2026-01-11T00:00"),
                                                 ("u5", "A", "2026-01-11T02:00")]))
    (tmp_path / "new.jsonl").write_text(_lines([("u6", "Signed Up", "2026-01-12T00:00"),
                                                ("u6", "B", "2026-01-12T01:00"), ("u2", "B", "2026-01-12T02:00"),
                                                ("u1", "A", "2026-01-12T03:00")]))

    def command(*args: str, **changes: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([aha, *args], capture_output=True, text=True, env={**env, **changes}, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    def report(db: str, **changes: str) -> tuple[dict, str]:
        done = subprocess.run([sys.executable, "-c", PROBE, "report", "--db", str(tmp_path / db), "--config",
                               str(config), "--json"], capture_output=True, text=True, env={**env, **changes},
                              timeout=300)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        answer["overview"].pop("data_version")
        return answer, done.stderr.strip().splitlines()[-1]

    for db in ("one", "two", "three"):
        command("import", str(tmp_path / "old.jsonl"), "--db", str(tmp_path / f"{db}.duckdb"))
    assert report("one.duckdb")[1] == "['ibis', 'sqlglot']"  # the first ever: built, compiled and kept
    expected, _ = report("three.duckdb", AHA_KEPT_SQL="off")
    assert expected["headline"]["users"] == 4 and expected["headline"]["activation"]["numerator"] == 2

    assert report("one.duckdb") == (expected, "[]")  # (a), the answers not kept
    assert report("one.duckdb", **{result_cache.SWITCH: "on"}) == (expected, "[]")  # (a), computed and kept
    assert report("two.duckdb") == (expected, "[]")  # (b): a cold report, the statements one.duckdb kept

    command("import", str(tmp_path / "warm.jsonl"), "--db", str(tmp_path / "two.duckdb"))
    report("two.duckdb")  # a file's first refresh compiles its update: kept for the next file's
    for db in ("one", "three"):
        command("import", str(tmp_path / "warm.jsonl"), "--db", str(tmp_path / f"{db}.duckdb"))
        command("import", str(tmp_path / "new.jsonl"), "--db", str(tmp_path / f"{db}.duckdb"))
    refreshed, _ = report("three.duckdb", AHA_KEPT_SQL="off")
    assert refreshed["headline"]["users"] == 6
    assert report("one.duckdb") == (refreshed, "[]")  # (c): the refresh and its report
