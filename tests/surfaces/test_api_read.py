"""One database, two processes: while `aha serve` holds the file, every command asks it (issue 5 item 6).

The real server runs on a sample database; `aha report|evaluate|discover --json` and friends run as subprocesses
against the same --db and must give the numbers they give once the server has stopped. Plus the read API's keys
(write keys cannot read), stale discovery files, reads during ingestion, and `from_jsonable` round trips.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from aha.ingest import running as discovery
from tests.serving import aha, create_key, free_port
from tests.serving import running as serving

# Reads run whole analyses; on a loaded 2-core CI machine they can take longer than httpx's 5 s default.
post = functools.partial(httpx.post, timeout=120)

ANALYSES = (("report", "--json"), ("evaluate", "--json"), ("discover", "--json"), ("retention", "--json"),
            ("validate", "aha.yaml", "--json"), ("score", "--json"), ("paths", "--json"),
            ("evaluate", "--by-month", "--json"))


def run_all(db: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for args in ANALYSES:
        done = aha(*args, "--db", str(db), cwd=db.parent)
        assert done.returncode == 0, (args, done.stderr)
        assert "lock" not in done.stderr.lower()
        out[args[0]] = json.loads(done.stdout)
    return out


def test_commands_ask_the_running_server_and_match_the_local_numbers(sample_db: Path) -> None:
    db = sample_db
    with serving(db) as server:
        info = discovery.read(db)
        assert info is not None and info.url == server.url and info.token.startswith("aha_local_")
        assert (Path(f"{db}.server.json").stat().st_mode & 0o777) == 0o600
        served = run_all(db)
        read_key = aha("keys", "create", "--name", "analyst", "--kind", "read", "--db", str(db), cwd=db.parent)
        assert read_key.returncode == 0, read_key.stderr
        # the server accepts a key created through it at once
        answer = post(server.url + "/v1/query/keys", auth=(read_key.stdout.strip(), ""))
        assert answer.status_code == 200 and [k["name"] for k in answer.json()] == ["analyst"]
        listed = aha("keys", "list", "--json", "--db", str(db), cwd=db.parent)
        assert [k["name"] for k in json.loads(listed.stdout)] == ["analyst"]
        assert aha("dead-letters", "--json", "--db", str(db), cwd=db.parent).stdout.strip() == "[]"
        table = aha("report", "--db", str(db), cwd=db.parent)
        assert table.returncode == 0 and "Funnel" in table.stdout
        refused = aha("import", "events.csv", "--db", str(db), cwd=db.parent)
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"error: aha import: {db} is held by `aha serve` (pid ")
    assert not Path(f"{db}.server.json").exists()
    local = run_all(db)
    assert served == local


def test_a_stale_discovery_file_is_ignored_and_removed(sample_db: Path) -> None:
    db = sample_db
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for pid, url in ((gone.pid, "http://127.0.0.1:9"), (os.getpid(), f"http://127.0.0.1:{free_port()}")):
        Path(f"{db}.server.json").write_text(json.dumps({"url": url, "pid": pid, "started_at": "", "token": "x"}))
        done = aha("report", "--json", "--db", str(db), cwd=db.parent)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["overview"]["events"] > 0
        assert not Path(f"{db}.server.json").exists()


def test_read_api_keys_errors_and_reads_during_ingestion(tmp_path: Path) -> None:
    db = tmp_path / "aha.duckdb"
    assert aha("sample", "--users", "100", "--db", str(db), cwd=tmp_path).returncode == 0
    write = create_key(db)
    read = create_key(db, "analyst", "read")
    config = (tmp_path / "aha.yaml").read_text()
    body = {"definitions": config, "options": {}}
    with serving(db) as server:
        query = server.url + "/v1/query/"
        refused = post(query + "report", json=body, auth=(write, ""))
        assert refused.status_code == 403 and refused.json()["reason"] == "a write key cannot read; use a read key"
        assert post(query + "report", json=body).status_code == 401
        assert post(query + "nothing", json=body, auth=(read, "")).status_code == 404
        bad_option = post(query + "report", json={**body, "options": {"order": "sideways"}}, auth=(read, ""))
        assert bad_option.status_code == 422 and bad_option.json()["field"] == "options.order"
        bad_yaml = post(query + "report", json={"definitions": "signup: [", "source": "mine.yaml"},
                              auth=(read, ""))
        assert bad_yaml.status_code == 422 and bad_yaml.json()["reason"].startswith("mine.yaml: line 1")
        unknown = post(query + "report", json={**body, "options": {"segment": "nope"}}, auth=(read, ""))
        assert unknown.status_code == 422 and "--segment 'nope'" in unknown.json()["reason"]
        assert post(server.url + "/v1/admin/keys", json={"name": "x"}, auth=(read, "")).status_code == 403
        before = post(query + "report", json=body, auth=(read, "")).json()["overview"]["events"]

        # reads while a client keeps sending: no errors either side, and every acknowledged call is counted
        def send() -> None:
            with httpx.Client(auth=(write, "")) as client:
                for i in range(20):
                    batch = [{"type": "track", "userId": f"u{i}-{j}", "event": "Page Viewed",
                              "messageId": f"m{i}-{j}", "timestamp": "2026-02-01T00:00:00Z"} for j in range(100)]
                    assert client.post(server.url + "/v1/batch", json={"batch": batch}).status_code == 200

        sender = threading.Thread(target=send)
        sender.start()
        statuses = set()
        while sender.is_alive():
            statuses.add(post(query + "funnel", json=body, auth=(read, ""), timeout=60).status_code)
        sender.join()
        assert statuses == {200}
    after = aha("report", "--json", "--db", str(db), cwd=tmp_path)
    assert json.loads(after.stdout)["overview"]["events"] == before + 2000


def test_results_round_trip_through_json(sample_db: Path, tmp_path: Path) -> None:
    import aha as aha_api
    from aha.analyses import checks
    from aha.definitions import load
    from aha.results import from_jsonable, to_jsonable

    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(sample_db.read_bytes())
    project = aha_api.open(str(copy), str(sample_db.parent / "aha.yaml"))
    try:
        results = [project.report(segment="plan"), project.evaluate(), project.retention(), project.discover(),
                   project.funnel(order="unordered"), project.timing(), project.activation(period="month"),
                   checks.run(load(sample_db.parent / "aha.yaml"), "aha.yaml", project.store)]
    finally:
        project.close()
    for result in results:
        data = json.loads(json.dumps(to_jsonable(result, result.kind)))
        back = from_jsonable(type(result), data)
        assert type(back) is type(result)
        assert to_jsonable(back, result.kind) == data
