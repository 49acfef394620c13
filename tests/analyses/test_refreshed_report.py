"""A refreshed report (docs/semantics.md, "Incremental state"; aha.analyses.report_sql): the report read from a
state brought up to date batch after batch, through the statements kept in the file, equals the report of a full
rebuild over the same calls in every number: funnel, activation, headline, timing percentiles and Kaplan–Meier
curves, overview, signups. Random logs in four batches (late events, identity merges, windows closing between
batches as `as_of` moves), and a fresh process that reports without compiling an expression."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from aha.analyses import compiled, incremental, report_sql
from aha.analyses.report_results import ReportResult
from aha.definitions import Definitions
from aha.errors import UserError
from aha.project import Project
from aha.store import Store, open_store
from tests.engine.test_incremental import ACCOUNTS, Batch, _ev, batches

# test_incremental's definitions (a scope, all_of, distinct, an account milestone), with a funnel and targets
DEFINITIONS = ACCOUNTS.model_copy(update={"funnel": ["a_once", "b_twice"], "segments": ["persona"],
                                          "targets": {"activation_rate_day_1": 0.4,
                                                      "median_time_to_primary": 6 * 3600.0}})


@pytest.fixture(autouse=True)
def computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every report computed (no kept answers), every update incremental, no statements left from another test."""
    monkeypatch.setenv("AHA_RESULT_CACHE", "off")
    monkeypatch.setattr(incremental, "LARGEST_SHARE", float("inf"))
    report_sql._kept.clear()
    yield
    report_sql._kept.clear()


def _comparable(report: ReportResult) -> ReportResult:
    """The report without the store's data version (the grown file counts more writes than the whole one)."""
    return replace(report, overview=replace(report.overview, data_version=0))


def _full(batches: list[Batch], definitions: Definitions, tmp: Path) -> tuple[ReportResult, ReportResult | str]:
    """The report of a store that takes `batches` at once (its state built from every event, read by Ibis), and
    its breakdown by the `persona` trait (or the error that segment gets)."""
    whole = open_store(tmp / "whole.duckdb")
    try:
        for batch in batches:
            batch.write(whole)
        project = Project(whole, definitions)
        with expressions():
            ms = project.state()
            assert ms.rebuilt and not report_sql.usable(whole, ms)  # the expressions' way
            return project.report(), _by_persona(project)
    finally:
        whole.close()
        (tmp / "whole.duckdb").unlink()


@contextmanager
def expressions() -> Iterator[None]:
    """Every statement built and compiled from its expression (`AHA_KEPT_SQL=off`): the reference."""
    before = os.environ.get(compiled.SWITCH)
    os.environ[compiled.SWITCH] = "off"
    try:
        yield
    finally:
        if before is None:
            del os.environ[compiled.SWITCH]
        else:
            os.environ[compiled.SWITCH] = before


def _by_persona(project: Project) -> ReportResult | str:
    """The report by the `persona` trait, comparable; the error's text where no signed-up user has that trait."""
    try:
        return _comparable(project.report(segment="persona"))
    except UserError as error:
        return str(error)


def _split(first: Batch, second: Batch) -> list[Batch]:
    """Four batches: each drawn batch in halves, every other call (so each half has early and late calls)."""
    return [Batch(b.rows[k::2], b.links[k::2], b.members[k::2], dict(list(b.traits.items())[k::2]))
            for b in (first, second) for k in (0, 1)]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=batches())
def test_a_report_refreshed_batch_after_batch_equals_a_full_rebuilds(
        drawn: tuple[Batch, Batch, str, str]) -> None:
    first, second, _, _ = drawn
    parts = _split(first, second)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        grown = open_store(tmp / "grown.duckdb")
        try:
            project = Project(grown, DEFINITIONS)
            refreshed = 0
            for i, batch in enumerate(parts):
                batch.write(grown)
                if not grown.rows("SELECT 1 FROM events LIMIT 1"):
                    continue  # no events yet: nothing to report
                ms = project.state()
                refreshed += ms.refreshed
                report = project.report()
                whole, by_persona = _full(parts[: i + 1], DEFINITIONS, tmp)
                assert _comparable(report) == _comparable(whole), i
                # a breakdown joins the segments table on the entity key (a refreshed row once shared the largest
                # stored key: its user's trait went to another row)
                assert _by_persona(project) == by_persona, i
            if refreshed:  # a report read a refreshed state: its statements are kept in the file
                grown.settle()  # (written in the background: compiled._save_file)
                kept = grown.rows(f"SELECT key FROM {compiled.TABLE} WHERE key LIKE '[\"report\"%'")
                assert len(kept) == 7  # funnel, activation, headline, timing, overview (2), signups
        finally:
            grown.close()


@contextmanager
def _refreshed(tmp: Path, batches: list[Batch]) -> Iterator[tuple[Store, Project]]:
    """A store whose state was built after the first batch and refreshed after each later one."""
    store = open_store(tmp / "grown.duckdb")
    try:
        project = Project(store, DEFINITIONS)
        for batch in batches:
            batch.write(store)
            project.state()
        yield store, project
    finally:
        store.close()


HAND = [Batch([_ev("u1", "Signed Up", 0, 1), _ev("u2", "Signed Up", 5, 2), _ev("u1", "A", 30, 3)], [], [], {}),
        Batch([_ev("u1", "B", 40, 4), _ev("u1", "B", 50, 5), _ev("u2", "A", 600, 6)], [], [], {"u1": {
            "persona": "admin"}}),
        Batch([_ev("u3", "Signed Up", 3000, 7), _ev("u2", "B", 610, 8), _ev("u2", "B", 620, 9)], [], [], {})]


def test_a_fresh_process_reports_from_the_kept_statements_without_compiling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The statements a refreshed report compiled are kept in the file: another process (the process's copies
    emptied) reads a later refresh's report with Ibis's compile refusing, and it equals a full rebuild's. Hand
    count: u1 makes a_once at 0:30 and b_twice at 0:50 (both at 0:50), u2 a_once at 10:00, b_twice (10:20) too late
    (1 h window); u3 signs up on day 3, its windows open."""
    from ibis.backends.sql import SQLBackend

    with tempfile.TemporaryDirectory() as name, _refreshed(Path(name), HAND[:2]) as (store, project):
        assert report_sql.usable(store, project.state())  # refreshed: the file's own table
        project.report()
        store.settle()  # kept statements are written in the background (compiled._save_file)
        kept = {k for (k,) in store.rows(f"SELECT key FROM {compiled.TABLE} WHERE key LIKE '[\"report\"%'")}
        assert len(kept) == 7

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("compiled again")

        HAND[2].write(store)
        assert project.state().refreshed
        report_sql._kept.clear()
        with monkeypatch.context() as m:
            m.setattr(SQLBackend, "compile", refuse)
            report = project.report()
        assert _comparable(report) == _comparable(_full(HAND, DEFINITIONS, Path(name))[0])
        steps = {s.id: s.entities for s in report.funnel.groups[0].steps}
        assert steps == {"signup": 2, "a_once": 2, "b_twice": 1, "_paid": 0}  # u3's windows are open: immature
        assert report.headline.users == 3 and report.overview.events == 9
        (both,) = (t for t in report.timing.groups[0].milestones if t.milestone_id == "both")
        assert (both.eligible, both.reached, both.median_seconds) == (3, 1, 50 * 60.0)


def test_a_read_only_store_compiles_its_reads_and_keeps_none(tmp_path: Path) -> None:
    """A store that cannot write (the file opened read-only) compiles the reads the file does not keep, reports
    the same numbers, and leaves the file as it was."""
    with _refreshed(tmp_path, HAND) as (store, project):
        assert report_sql.usable(store, project.state())
        store.raw.execute(f"CREATE TABLE IF NOT EXISTS {compiled.TABLE} (key VARCHAR PRIMARY KEY, "
                          "version VARCHAR NOT NULL, body VARCHAR NOT NULL)")
        store.raw.execute(f"DELETE FROM {compiled.TABLE} WHERE key LIKE '[\"report\"%'")
    report_sql._kept.clear()
    reader = open_store(tmp_path / "grown.duckdb", read_only=True)
    try:
        project = Project(reader, DEFINITIONS)
        assert report_sql.usable(reader, project.state())
        report = project.report()
        assert not reader.rows(f"SELECT key FROM {compiled.TABLE} WHERE key LIKE '[\"report\"%'")
        assert len(report_sql._kept) == 7  # kept in the process only
        assert _comparable(report) == _comparable(_full(HAND, DEFINITIONS, tmp_path)[0])
    finally:
        reader.close()


BROKEN_DOWN = [  # drawn by the hypothesis test above; failed before refreshed rows got keys of their own
    Batch([
        (None, 'Pay', '2026-01-05T22:00:00', {'k': 'x'}, {'message_id': 'm00001', 'anonymous_id': 'x0'}),
        ('u0', 'B', '2026-01-09T15:00:00', {'k': 'z'}, {'message_id': 'm00003'}),
        ('u0', 'B', '2026-01-07T11:00:00', {'k': 'z'}, {'message_id': 'm00006'}),
        ('u0', 'B', '2026-01-06T11:00:00', {'k': 'x'}, {'message_id': 'm00008'}),
        ('u1', 'A', '2026-01-08T16:00:00', {'k': 'y'}, {'message_id': 'm00011', 'account_id': 'acc1'}),
        ('u2', 'B', '2026-01-08T06:30:00', {'k': 'x'}, {'message_id': 'm00019', 'account_id': 'acc0'}),
        ('u3', 'C', '2026-01-09T16:30:00', {'k': 'y'}, {'message_id': 'm00029'}),
        (None, 'B', '2026-01-08T11:30:00', {'k': 'y'}, {'message_id': 'm00032', 'anonymous_id': 'anon0'}),
    ], [], [], {'u0': {'persona': 'analyst'}}),
    Batch([
        (None, 'Signed Up', '2026-01-06T00:00:00', {'k': 'y'},
         {'message_id': 'm00002', 'anonymous_id': 'x0', 'account_id': 'acc1'}),
        ('u0', 'B', '2026-01-06T18:00:00', {'k': 'x'}, {'message_id': 'm00005', 'account_id': 'acc1'}),
        (None, 'B', '2026-01-08T06:00:00', {'k': 'z'}, {'message_id': 'm00007', 'anonymous_id': 'x0'}),
        ('u1', 'Signed Up', '2026-01-06T14:00:00', {'k': 'y'}, {'message_id': 'm00010'}),
        ('u1', 'Pay', '2026-01-10T01:00:00', {'k': 'y'}, {'message_id': 'm00015', 'account_id': 'acc1'}),
        (None, 'C', '2026-01-08T12:30:00', {'k': 'x'}, {'message_id': 'm00022', 'anonymous_id': 'anon0'}),
        ('u3', 'B', '2026-01-10T11:30:00', {'k': 'x'}, {'message_id': 'm00031', 'account_id': 'acc1'}),
        ('u3', 'A', '2026-01-07T06:30:00', {'k': 'z'}, {'message_id': 'm00033', 'account_id': 'acc0'}),
    ], [], [], {}),
    Batch([
        (None, 'Signed Up', '2026-01-05T23:00:00', {'k': 'x'}, {'message_id': 'm00000', 'anonymous_id': 'anon2'}),
        (None, 'B', '2026-01-08T02:00:00', {'k': 'z'}, {'message_id': 'm00009', 'anonymous_id': 'anon2'}),
        ('u1', 'A', '2026-01-08T13:00:00', {'k': 'y'}, {'message_id': 'm00013'}),
        (None, 'Signed Up', '2026-01-06T17:30:00', {'k': 'x'},
         {'message_id': 'm00016', 'anonymous_id': 'x2', 'account_id': 'acc1'}),
        (None, 'C', '2026-01-06T23:00:00', {'k': 'z'}, {'message_id': 'm00018', 'anonymous_id': 'x2'}),
        (None, 'B', '2026-01-07T11:00:00', {'k': 'z'},
         {'message_id': 'm00021', 'anonymous_id': 'x2', 'account_id': 'acc1'}),
        (None, 'A', '2026-01-08T23:30:00', {'k': 'y'}, {'message_id': 'm00024', 'anonymous_id': 'x3'}),
        (None, 'B', '2026-01-09T14:30:00', {'k': 'z'}, {'message_id': 'm00026', 'anonymous_id': 'anon0'}),
        ('u3', 'A', '2026-01-07T09:00:00', {'k': 'z'}, {'message_id': 'm00028', 'account_id': 'acc1'}),
    ], [], [('u0', 'acc0', '2026-01-06T05:30:00')], {'u1': {'persona': 'admin'}}),
    Batch([
        ('u0', 'Pay', '2026-01-08T01:30:00', {'k': 'y'}, {'message_id': 'm00004'}),
        ('u1', 'Pay', '2026-01-07T16:00:00', {'k': 'x'}, {'message_id': 'm00012'}),
        ('u1', 'B', '2026-01-07T15:00:00', {'k': 'y'}, {'message_id': 'm00014'}),
        ('u2', 'A', '2026-01-08T01:30:00', {'k': 'z'}, {'message_id': 'm00017', 'account_id': 'acc0'}),
        ('u2', 'C', '2026-01-10T07:30:00', {'k': 'x'}, {'message_id': 'm00020', 'account_id': 'acc1'}),
        (None, 'Signed Up', '2026-01-06T17:00:00', {'k': 'z'},
         {'message_id': 'm00023', 'anonymous_id': 'anon2', 'account_id': 'acc1'}),
        ('u3', 'C', '2026-01-08T02:30:00', {'k': 'y'}, {'message_id': 'm00025', 'account_id': 'acc0'}),
        ('u3', 'Signed Up', '2026-01-08T05:30:00', {'k': 'y'}, {'message_id': 'm00027', 'account_id': 'acc0'}),
        ('u3', 'B', '2026-01-10T16:30:00', {'k': 'z'}, {'message_id': 'm00030', 'account_id': 'acc0'}),
    ], [], [], {}),
]


def test_a_refreshed_breakdown_equals_a_full_rebuilds(tmp_path: Path) -> None:
    """Four batches (traits and a group call arriving after the signups): the breakdown by `persona` of the state
    refreshed after each equals a full rebuild's. Before 2026-12-05 a refreshed row took the largest stored entity
    key, the segments table's join gave one user's trait to another, and the groups' eligible counts differed."""
    store = open_store(tmp_path / "grown.duckdb")
    try:
        project = Project(store, DEFINITIONS)
        compared = 0
        for i, batch in enumerate(BROKEN_DOWN):
            batch.write(store)
            refreshed = project.state().refreshed
            whole, by_persona = _full(BROKEN_DOWN[: i + 1], DEFINITIONS, tmp_path)
            assert _comparable(project.report()) == _comparable(whole), i
            assert _by_persona(project) == by_persona, i
            compared += refreshed and not isinstance(by_persona, str)
        assert compared == 2  # the last two batches: refreshed, and some signed-up user has a persona
    finally:
        store.close()
