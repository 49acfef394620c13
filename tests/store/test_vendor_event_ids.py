"""Each event's own id in a vendor's export, as a new user meets it through the real console script.

- A hint's `--map` is pasted into a shell as printed: `message_id=$insert_id` (Amplitude) was printed unquoted, so
  bash read `$insert_id` as an empty variable and the import was refused (`--map 'message_id='`); in Mixpanel's
  `/properties/$insert_id` it silently read member "" and deduped by content instead.
- A warehouse table (Segment, RudderStack) holds every canonical column, so nothing asked for a --map, and its `id`
  (the messageId) was kept as a property: the `tracks` table and the per-event table (the same events with their
  properties) were stored twice. The summary now says so and names the --map.
"""

from __future__ import annotations

import gzip
import json
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aha.store import open_store

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def amplitude_line(n: int, event: str, user: str, when: str, insert_id: str, session: int) -> str:
    return json.dumps({"$insert_id": insert_id, "event_type": event, "user_id": user, "device_id": f"d-{user}",
                       "event_time": when, "event_properties": {}, "user_properties": {}, "session_id": session,
                       "uuid": f"uuid-{n}"})


def test_the_hint_s_map_runs_in_a_shell_as_printed(tmp_path: Path) -> None:
    """Amplitude lines, 4 read: u1 signs up and creates a project; the project line is sent again by the SDK with
    the same $insert_id (another session_id, so its content differs); u2 signs up. By hand: 3 imported, 1 duplicate
    (only $insert_id tells the retry apart: by content it is a new event)."""
    lines = [amplitude_line(0, "Sign Up", "u1", "2024-01-01 10:00:00.000000", "i1", 1),
             amplitude_line(1, "Create Project", "u1", "2024-01-01 10:30:00.000000", "i2", 1),
             amplitude_line(2, "Create Project", "u1", "2024-01-01 10:30:00.000000", "i2", 2),
             amplitude_line(3, "Sign Up", "u2", "2024-01-02 10:00:00.000000", "i3", 3)]
    with gzip.open(tmp_path / "123_2024-01-01_10#0.json.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    refused = run("import", "123_2024-01-01_10#0.json.gz", "--db", "aha.duckdb", cwd=tmp_path)
    assert refused.returncode == 2
    hint = refused.stderr.split(" with --map ", 1)[1].split(" (", 1)[0]
    assert hint == "'event=event_type,timestamp=event_time,message_id=$insert_id,anonymous_id=device_id'"
    assert AHA
    pasted = f"{shlex.quote(AHA)} import '123_2024-01-01_10#0.json.gz' --db aha.duckdb --json --map {hint}"
    done = subprocess.run(["bash", "-c", pasted], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows_read"], summary["imported"], summary["duplicates"]) == (4, 3, 1)


def write_warehouse(folder: Path) -> None:
    """A RudderStack warehouse: `tracks` (every track call, no custom properties) and `project_created` (the same
    calls of that event, same `id`, with their property `plan`). u1 and u3 sign up and create a project, u2 signs
    up: 5 events in all, 2 of them in both tables."""
    rows = [("m1", "u1", "signed_up", 1, 10), ("m2", "u1", "project_created", 1, 11),
            ("m3", "u2", "signed_up", 2, 10), ("m4", "u3", "signed_up", 2, 12), ("m5", "u3", "project_created", 3, 9)]
    def table(picked: list[tuple[str, str, str, int, int]]) -> dict[str, object]:
        times = [datetime(2024, 6, day, hour, tzinfo=UTC) for *_, day, hour in picked]
        return {"id": [r[0] for r in picked], "anonymous_id": [f"a-{r[1]}" for r in picked],
                "user_id": [r[1] for r in picked], "event": [r[2] for r in picked],
                "event_text": [r[2].replace("_", " ").title() for r in picked],
                "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
                "received_at": pa.array(times, pa.timestamp("us", tz="UTC")),
                "context_library_name": ["RudderLabs JavaScript SDK"] * len(picked)}
    pq.write_table(pa.table(table(rows)), folder / "tracks.parquet")
    created = [r for r in rows if r[2] == "project_created"]
    pq.write_table(pa.table({**table(created), "plan": ["pro", "free"]}), folder / "project_created.parquet")


def stored_events(db: Path) -> int:
    store = open_store(db, read_only=True)
    try:
        return int(store.raw.execute("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        store.close()


def test_a_warehouse_s_event_id_is_named_before_the_same_event_is_stored_twice(tmp_path: Path) -> None:
    write_warehouse(tmp_path)
    done = run("import", "tracks.parquet", "project_created.parquet", "--db", "plain.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert ("note: tracks.parquet: id looks like each event's own id but is kept as a property" in said
            and "is stored twice" in said and "--map message_id=id" in said), said
    assert stored_events(tmp_path / "plain.duckdb") == 7  # what the note warns of: m2 and m5 twice
    as_json = run("import", "tracks.parquet", "--db", "other.duckdb", "--json", cwd=tmp_path)
    assert [f["unmapped_ids"] for f in json.loads(as_json.stdout)["files"]] == [["id"]]
    mapped = run("import", "tracks.parquet", "project_created.parquet", "--db", "mapped.duckdb", "--json",
                 "--map", "message_id=id", cwd=tmp_path)
    assert mapped.returncode == 0, mapped.stderr
    summary = json.loads(mapped.stdout)
    assert (summary["imported"], summary["duplicates"]) == (5, 2)
    assert [f["unmapped_ids"] for f in summary["files"]] == [[], []]
    assert stored_events(tmp_path / "mapped.duckdb") == 5


def test_a_pointer_to_a_member_no_row_has_is_said(tmp_path: Path) -> None:
    """Mixpanel's raw export, 3 lines: u1's Sign Up, sent twice with one $insert_id (the second copy carries
    another `$lib_version`, so only the id tells them apart), and u2's Sign Up. By hand: with the right pointer 2
    imported, 1 duplicate. A typo'd pointer (`$insert_idd`) read nothing and deduped by content (3 imported), and
    said nothing; now the summary names it and the member meant."""
    lines = [{"event": "Sign Up", "properties": {"time": 1704103200, "distinct_id": "u1", "$insert_id": "a1",
                                                  "$lib_version": v}} for v in ("2.1", "2.2")]
    lines.append({"event": "Sign Up", "properties": {"time": 1704189600, "distinct_id": "u2", "$insert_id": "a2"}})
    (tmp_path / "export.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    base = "user_id=/properties/distinct_id,timestamp=/properties/time,"
    typo = run("import", "export.jsonl", "--db", "typo.duckdb", "--map", base + "message_id=/properties/$insert_idd",
               "--json", cwd=tmp_path)
    summary = json.loads(typo.stdout)
    assert (summary["imported"], summary["duplicates"]) == (3, 0)
    assert summary["files"][0]["absent"] == [
        "--map message_id=/properties/$insert_idd: no row has that member, so every row's message_id is empty "
        "(did you mean /properties/$insert_id?)"]
    shown = run("import", "export.jsonl", "--db", "typo2.duckdb", "--map", base + "message_id=/properties/$insert_idd",
                cwd=tmp_path)
    assert "note: export.jsonl: --map message_id=/properties/$insert_idd: no row has that member" in " ".join(
        shown.stdout.split())
    right = run("import", "export.jsonl", "--db", "right.duckdb", "--map", base + "message_id=/properties/$insert_id",
                "--json", cwd=tmp_path)
    summary = json.loads(right.stdout)
    assert (summary["imported"], summary["duplicates"]) == (2, 1)
    assert summary["files"][0]["absent"] == []


def test_a_warehouse_s_anonymous_signup_is_the_user_s_with_previous_id(tmp_path: Path) -> None:
    """docs/import.md's warehouse command: u1 signed up before logging in (the `signed_up` row has anonymous_id
    a-u1 and no user_id), then created a project as u1 (both ids). Without identify calls a-u1's signup stayed the
    device's: 2 signed-up users (u2, u3). `previous_id=anonymous_id` links a-u1 to u1 from that row on, as
    Segment's identify would: 3 signed-up users, u1 activated within 1h (10:00 → 10:20)."""
    rows = [("m1", "a-u1", None, "signed_up", 1, 10, 0), ("m2", "a-u1", "u1", "project_created", 1, 10, 20),
            ("m3", "a-u2", "u2", "signed_up", 2, 10, 0), ("m4", "a-u3", "u3", "signed_up", 2, 12, 0)]
    times = [datetime(2024, 6, day, hour, minute, tzinfo=UTC) for *_, day, hour, minute in rows]
    pq.write_table(pa.table({
        "id": [r[0] for r in rows], "anonymous_id": [r[1] for r in rows], "user_id": [r[2] for r in rows],
        "event": [r[3] for r in rows], "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(times, pa.timestamp("us", tz="UTC"))}), tmp_path / "tracks.parquet")
    (tmp_path / "aha.yaml").write_text("signup: {event: signed_up}\nmilestones:\n"
                                       "  - {id: project, event: project_created, within: 1h, level: primary}\n")
    signed_up = {}
    for db, maps in (("plain.duckdb", "message_id=id"), ("linked.duckdb", "message_id=id,previous_id=anonymous_id")):
        assert run("import", "tracks.parquet", "--db", db, "--map", maps, cwd=tmp_path).returncode == 0
        done = run("report", "--db", db, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        signed_up[db] = json.loads(done.stdout)["overview"]["signed_up_users"]
    assert signed_up == {"plain.duckdb": 2, "linked.duckdb": 3}
    state = run("state", "u1", "--db", "linked.duckdb", "--json", cwd=tmp_path)
    assert json.loads(state.stdout)["items"][0]["reached_at"].startswith("2024-06-01T10:20")
