"""A read key's options are not trusted (tried from outside): `days` of the activation read is bounded before any
work. Before: `{"days": [0, 1, ..., 99999]}` made the server compute one column per day; it grew past 9 GB and
answered no other read for minutes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import aha
from aha.errors import UserError
from tests.serving import create_key, running, sample_db


@pytest.mark.parametrize("days", [list(range(100_000)), [10**18], [-5], [], [7, 7], [1.5], [True]])
def test_the_python_api_refuses_days_outside_the_bounds(tmp_path: Path, days: list[object]) -> None:
    db = sample_db(tmp_path, users=30)
    project = aha.open(db, tmp_path / "aha.yaml")
    with pytest.raises(UserError, match=r"days: .* is not 1 to 12 different whole numbers of days from 0 to 36,500"):
        project.activation(days=tuple(days))  # type: ignore[arg-type]
    assert project.activation(days=(0, 1, 36500)).days == (0, 1, 36500)


def test_the_read_api_refuses_a_hundred_thousand_days_at_once(tmp_path: Path) -> None:
    db = sample_db(tmp_path, users=30)
    definitions = (tmp_path / "aha.yaml").read_text()
    with running(db) as server:
        key = create_key(db, "analyst", "read")
        answer = httpx.post(server.url + "/v1/query/activation", auth=(key, ""), timeout=120,
                            json={"definitions": definitions, "options": {"days": list(range(100_000))}})
        assert answer.status_code == 422, answer.text
        assert "days: [0, 1, 2" in answer.json()["reason"]
        fine = httpx.post(server.url + "/v1/query/activation", auth=(key, ""), timeout=120,
                          json={"definitions": definitions, "options": {"days": [1, 7]}})
        assert fine.status_code == 200 and fine.json()["days"] == [1, 7]


def test_a_read_key_may_dry_run_rules_but_not_run_them(tmp_path: Path) -> None:
    """Before: a read key's `POST /v1/query/run_rules` with its own definitions recorded firings and sent webhooks to
    the URL those definitions named (a write, and a request to any address). Now 403; a dry run still answers, and
    `aha rules run` (the server's local token) still runs."""
    import http.server
    import threading

    hits: list[str] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    db = sample_db(tmp_path, users=30)
    base = (tmp_path / "aha.yaml").read_text()
    milestone = aha.open(db, tmp_path / "aha.yaml").definitions.milestones[0].id
    rules = (f"\nrules:\n  - id: probe\n    when: {{reached: {milestone}}}\n    late_after: 36500d\n"
             f"    then: {{webhook: \"http://127.0.0.1:{receiver.server_port}/steal\", "
             "secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n")
    try:
        with running(db) as server:
            key = create_key(db, "analyst", "read")
            body = {"definitions": base + rules, "options": {"dry_run": False}}
            answer = httpx.post(server.url + "/v1/query/run_rules", auth=(key, ""), json=body, timeout=120)
            assert answer.status_code == 403, answer.text
            assert "only the server's local token may run rules" in answer.json()["reason"]
            dry = httpx.post(server.url + "/v1/query/run_rules", auth=(key, ""), timeout=120,
                             json={"definitions": base + rules, "options": {"dry_run": True}})
            assert dry.status_code == 200 and dry.json()["dry_run"] is True
        assert hits == []
        tables = {str(t) for (t,) in rows_of(db, "SELECT table_name FROM duckdb_tables()")}
        assert "aha_firings" not in tables or rows_of(db, "SELECT count(*) FROM aha_firings") == [(0,)]
    finally:
        receiver.shutdown()


def rows_of(db: Path, sql: str) -> list[tuple[object, ...]]:
    from tests.serving import rows
    return rows(db, sql)


def test_definitions_with_a_lone_surrogate_are_one_error_not_a_500(tmp_path: Path) -> None:
    db = sample_db(tmp_path, users=30)
    with running(db) as server:
        key = create_key(db, "analyst", "read")
        answer = httpx.post(server.url + "/v1/query/report", auth=(key, ""), timeout=120,
                            content=b'{"definitions": "version: 1\\nsignup: {event: \\"\\ud800\\"}"}',
                            headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, answer.text  # before: 500 Internal Server Error (UnicodeEncodeError)
        assert "lone surrogate" in answer.json()["reason"]


DEEP = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"  # 6 KB: Jinja's parser recurses per bracket


def test_a_template_nested_too_deep_is_one_error_on_every_path(tmp_path: Path) -> None:
    """Before: `aha validate` printed a RecursionError traceback, and the read API answered 500 with the traceback in
    the server's log (any read key could send it). Now the field and the fix, and the server keeps answering."""
    from tests.serving import aha as run_aha

    db = sample_db(tmp_path, users=30)
    rule = ("\nrules:\n  - id: deep\n    when: {not_reached: " + aha.open(db, tmp_path / "aha.yaml").definitions
            .milestones[0].id + ", after: 1h}\n    then:\n      email:\n        subject: hi\n        body: \"" + DEEP
            + "\"\n")
    definitions = (tmp_path / "aha.yaml").read_text() + rule
    (tmp_path / "deep.yaml").write_text(definitions)
    done = run_aha("validate", "deep.yaml", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "rules[0].then.email: the body template does not parse (expressions or blocks nested too deep" in (
        done.stderr)
    with running(db) as server:
        key = create_key(db, "analyst", "read")
        answer = httpx.post(server.url + "/v1/query/validate", auth=(key, ""), timeout=120,
                            json={"definitions": definitions})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "rules[0].then.email" and "nested too deep" in answer.json()["reason"]
        fine = httpx.post(server.url + "/v1/query/validate", auth=(key, ""), timeout=120,
                          json={"definitions": (tmp_path / "aha.yaml").read_text()})
        assert fine.status_code == 200
    assert "RecursionError" not in (tmp_path / "server.log").read_text()
