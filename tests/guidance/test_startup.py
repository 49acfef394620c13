"""`aha serve` says at startup which rule's webhook cannot be reached (one line naming the rule, the URL and why),
and still starts: firings wait in the outbox and are retried. Credentials in the URL are not written to the log."""

from __future__ import annotations

from pathlib import Path

from aha.store import open_store
from tests.guidance.conftest import SECRET, Receiver
from tests.journeys import write_events
from tests.serving import Server, free_port


def test_an_unreachable_webhook_is_named_at_startup(tmp_path: Path, receiver: Receiver) -> None:
    store = open_store(tmp_path / "aha.duckdb")
    write_events(store, [("u1", "Signed Up", "2026-01-01T10:00:00")])
    store.close()
    port = free_port()  # nothing listens there
    dead = f"http://hooks:s3cret-token@127.0.0.1:{port}/hook"  # sent as Basic auth: never to be logged
    (tmp_path / "aha.yaml").write_text(f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
rules:
  - {{id: dead_hook, when: {{not_reached: connected, after: 1h}}, then: {{webhook: "{dead}", secret: "{SECRET}"}}}}
  - {{id: live_hook, when: {{not_reached: connected, after: 2h}},
      then: {{webhook: "{receiver.url}", secret: "{SECRET}"}}}}
""")
    server = Server(tmp_path / "aha.duckdb", free_port(),
                    args=("--config", str(tmp_path / "aha.yaml"), "--rules-every", "0")).start()
    server.stop()
    log = (tmp_path / "server.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: rule 'dead_hook': its webhook http://***@127.0.0.1:{port}/hook cannot be reached now (nothing "
        f"listens on 127.0.0.1:{port} (connection refused)). Firings are kept and retried with backoff (8 attempts); "
        "`aha interventions --failed` lists those that gave up and `--replay-failed` sends them again."]
    assert "Traceback" not in log and "s3cret" not in log
