"""Compiled statements kept per user (aha.analyses.statement_cache, compiled, docs/engine.md "Kept statements"): a
cold report in a new file, run from the statements another file compiled, equals the report built from expressions
(hand-counted); and what the statements depend on (the definitions, aha's version, the file's tables) is never
reused across a change. The cache reads nothing another user could have written, and nothing corrupt or foreign."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aha.analyses import compiled, report_sql, statement_cache
from aha.analyses.report_results import ReportResult
from aha.definitions import Definitions
from aha.project import Project
from aha.store import open_store
from tests.analyses.test_refreshed_report import DEFINITIONS, HAND, _comparable, expressions


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty statement cache, no kept answers, nothing kept in the process."""
    monkeypatch.setenv("AHA_RESULT_CACHE", "off")
    monkeypatch.setenv(statement_cache.SWITCH, str(tmp_path / "statements"))
    _forget()
    yield tmp_path / "statements"
    _forget()


def _forget() -> None:
    """A fresh process: nothing compiled in memory."""
    compiled._programs.clear()
    compiled._texts.clear()
    report_sql._kept.clear()


def _report(path: Path, batches: list, definitions: Definitions = DEFINITIONS, **options: object) -> ReportResult:
    store = open_store(path)
    try:
        if not store.rows("SELECT 1 FROM events LIMIT 1"):
            for batch in batches:
                batch.write(store)
        return _comparable(Project(store, definitions).report(**options))  # type: ignore[arg-type]
    finally:
        store.close()


def _reference(tmp: Path, name: str, batches: list, definitions: Definitions = DEFINITIONS,
               **options: object) -> ReportResult:
    with expressions():
        return _report(tmp / name, batches, definitions, **options)


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Ibis's compiles from now on."""
    from ibis.backends.sql import SQLBackend

    calls: list[int] = []
    compile_ = SQLBackend.compile
    monkeypatch.setattr(SQLBackend, "compile", lambda *a, **k: calls.append(1) or compile_(*a, **k))
    return calls


def test_a_cold_report_from_another_files_statements_equals_the_expressions(
        tmp_path: Path, fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File A (two batches, as of 10:00) compiles and keeps; file B (three batches, as of day 3, another as_of and
    other rows) reports cold without one compile, and equals B's report built from expressions. Hand count: u1
    makes a_once at 0:30 and b_twice at 0:50 (both at 0:50), u2 a_once at 10:00, b_twice (10:20) too late (1 h
    window); u3 signs up on day 3, its windows open."""
    _report(tmp_path / "a.duckdb", HAND[:2])
    assert len(list(fresh.glob("*.json"))) >= 10  # the build's three, the report's reads
    _forget()
    calls = _compiles(monkeypatch)
    report = _report(tmp_path / "b.duckdb", HAND)
    assert calls == []
    assert report == _reference(tmp_path, "b-ref.duckdb", HAND)
    steps = {s.id: s.entities for s in report.funnel.groups[0].steps}
    assert steps == {"signup": 2, "a_once": 2, "b_twice": 1, "_paid": 0}
    assert report.headline.users == 3 and report.overview.events == 9
    (both,) = (t for t in report.timing.groups[0].milestones if t.milestone_id == "both")
    assert (both.eligible, both.reached, both.median_seconds) == (3, 1, 50 * 60.0)


def test_statements_from_the_users_cache_are_kept_in_the_file_off_the_reports_connection(
        tmp_path: Path, fresh: Path) -> None:
    """A cold report in a new file runs what the user's cache keeps and copies every program into the file too (the
    same keys as the file that compiled them), written by the store's background connection: on the report's own
    connection those writes waited for the state's background commit (compiled._save_file)."""
    _report(tmp_path / "a.duckdb", HAND[:2])
    keys = f"SELECT key FROM {compiled.TABLE} ORDER BY key"
    a = open_store(tmp_path / "a.duckdb")
    try:
        compiled_in_a = a.rows(keys)
    finally:
        a.close()
    assert len(compiled_in_a) >= 10
    _forget()
    store = open_store(tmp_path / "b.duckdb")
    try:
        for batch in HAND:
            batch.write(store)
        store.raw.execute("CALL enable_logging('QueryLog')")
        store.raw.execute("SELECT 'the report connection'").fetchall()
        Project(store, DEFINITIONS).report()
        store.settle()
        logs = store.rows("SELECT connection_id, message FROM duckdb_logs WHERE type = 'QueryLog'")
        (report_connection,) = {con for con, m in logs if m == "SELECT 'the report connection'"}
        writes = {con for con, m in logs if m.startswith(("INSERT INTO aha_compiled", "DELETE FROM aha_compiled"))}
        assert writes and report_connection not in writes
        assert store.rows(keys) == compiled_in_a
    finally:
        store.close()


@pytest.mark.parametrize("options", [{"segment": "persona"}, {"signups_from": "2026-01-05", "signups_to": "2026-01-06"},
                                     {"level": "account"}], ids=["segment", "from_to", "accounts"])
def test_a_cold_report_with_options_from_kept_statements_equals_the_expressions(
        tmp_path: Path, options: dict[str, object]) -> None:
    """A breakdown, a signup range and accounts as the unit: the build is kept, the reads the options change are
    built by Ibis; every number as the expressions give it, in a second file run from the first's statements."""
    _report(tmp_path / "a.duckdb", HAND[:2], **options)
    _forget()
    assert _report(tmp_path / "b.duckdb", HAND, **options) == _reference(tmp_path, "b-ref.duckdb", HAND, **options)


def test_what_the_statements_depend_on_is_never_reused_across_a_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other definitions (a 1 d window for b_twice: u2's B at 10:20 now counts), another aha (its code fingerprint),
    a file whose tables differ (one more): each compiles again and equals the expressions' report."""
    _report(tmp_path / "a.duckdb", HAND)
    wider = DEFINITIONS.model_copy(update={"milestones": [
        m.model_copy(update={"within": m.within * 24}) if m.id == "b_twice" else m for m in DEFINITIONS.milestones]})
    _forget()
    calls = _compiles(monkeypatch)
    changed = _report(tmp_path / "b.duckdb", HAND, wider)
    assert calls and changed == _reference(tmp_path, "b-ref.duckdb", HAND, wider)
    assert {s.id: s.entities for s in changed.funnel.groups[0].steps}["b_twice"] == 2

    _forget()
    calls.clear()
    monkeypatch.setattr(compiled, "version", lambda: "another aha")
    assert _report(tmp_path / "c.duckdb", HAND) == _reference(tmp_path, "c-ref.duckdb", HAND)
    assert calls
    monkeypatch.undo()

    _forget()
    calls = _compiles(monkeypatch)
    store = open_store(tmp_path / "d.duckdb")
    store.raw.execute("CREATE TABLE extra (x INTEGER)")  # a table more in the file
    store.close()
    assert _report(tmp_path / "d.duckdb", HAND) == _reference(tmp_path, "c-ref.duckdb", HAND)
    assert calls


KEY, VERSION = ["report", "x"], "v1"


def test_an_entry_is_read_back_only_for_its_own_key_and_version(fresh: Path) -> None:
    statement_cache.save(KEY, VERSION, ["SELECT 1"])
    assert statement_cache.load(KEY, VERSION) == ["SELECT 1"]
    assert statement_cache.load(KEY, "v2") is None and statement_cache.load(["report", "y"], VERSION) is None
    (entry,) = fresh.glob("*.json")
    assert entry.stat().st_mode & 0o777 == 0o600 and fresh.stat().st_mode & 0o777 == 0o700
    # a foreign entry under this key's name (another key inside), a corrupt one, a wrong shape: never run
    for body in (json.dumps({"version": VERSION, "key": ["report", "y"], "statements": ["DROP TABLE events"]}),
                 "{not json", json.dumps({"version": VERSION, "key": KEY, "statements": [1]})):
        entry.write_text(body)
        assert statement_cache.load(KEY, VERSION) is None


def test_nothing_another_user_could_write_is_read(fresh: Path, tmp_path: Path) -> None:
    statement_cache.save(KEY, VERSION, ["SELECT 1"])
    (entry,) = fresh.glob("*.json")
    entry.chmod(0o620)  # group-writable
    assert statement_cache.load(KEY, VERSION) is None
    entry.chmod(0o600)
    fresh.chmod(0o777)  # a directory anyone can write into
    assert statement_cache.folder() is None and statement_cache.load(KEY, VERSION) is None
    fresh.chmod(0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text(entry.read_text())
    entry.unlink()
    entry.symlink_to(target)  # a link: not followed
    assert statement_cache.load(KEY, VERSION) is None


def test_the_cache_is_bounded_and_can_be_off(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statement_cache, "KEPT", 3)
    for i in range(5):
        statement_cache.save([str(i)], VERSION, [f"SELECT {i}"])
        os.utime(statement_cache._entry(fresh, [str(i)], VERSION), ns=(i * 10**9, i * 10**9))
    assert len(list(fresh.glob("*.json"))) == 3
    assert statement_cache.load(["4"], VERSION) == ["SELECT 4"] and statement_cache.load(["0"], VERSION) is None
    monkeypatch.setenv(statement_cache.SWITCH, "off")
    assert statement_cache.load(["4"], VERSION) is None


def test_a_report_reads_the_files_shape_and_kept_statements_once(tmp_path: Path, fresh: Path) -> None:
    """Inside one report the file's tables (the shape every key holds) and the programs it keeps are each read by one
    query on the report's connection (each read alone was ~20 catalog queries beside the background write), and a
    second report reads the shape again (a table of the user's may have changed between two analyses)."""
    _report(tmp_path / "a.duckdb", HAND)  # compiles and keeps in a.duckdb
    _forget()
    store = open_store(tmp_path / "a.duckdb")
    try:
        store.raw.execute("CALL enable_logging('QueryLog')")
        store.raw.execute("SELECT 'the report connection'").fetchall()
        reports = [_comparable(Project(store, DEFINITIONS).report(as_of=f"2026-01-0{d}")) for d in (2, 3)]
        logs = store.rows("SELECT connection_id, message FROM duckdb_logs WHERE type = 'QueryLog'")
    finally:
        store.close()
    (mine,) = {con for con, m in logs if m == "SELECT 'the report connection'"}
    sent = [m for con, m in logs if con == mine]
    assert sum("FROM duckdb_columns()" in m for m in sent) == 2  # once per report
    # the first report reads every kept body at once; the second finds them kept in the process
    assert sum(m.startswith(f"SELECT key, body FROM {compiled.TABLE}") for m in sent) == 1
    assert not any(m.startswith(f"SELECT body FROM {compiled.TABLE}") for m in sent)
    _forget()
    assert reports[1] == _reference(tmp_path, "ref.duckdb", HAND, as_of="2026-01-03")
