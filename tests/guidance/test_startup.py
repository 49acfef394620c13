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


def test_webhooks_are_probed_at_the_same_time(tmp_path: Path, monkeypatch, capsys) -> None:
    """Six rules whose receivers cannot be reached: the start probed them one after another (2 s each when a
    receiver does not answer, so 12 s before the server answered). Every probe must be under way at once: each
    waits at a barrier for the other five before probing for real (one after another, the first would wait alone
    until the barrier gives up and the test fails). The warnings still come one per rule, in the rules' order."""
    import threading

    from aha.guidance import delivery
    from aha.surfaces.cli.commands.serve_cmd import _warn_unreachable_webhooks

    ports = [free_port() for _ in range(6)]  # nothing listens on them
    rules = "\n".join(f"  - {{id: hook{i}, when: {{not_reached: connected, after: {i + 1}h}}, "
                      f"then: {{webhook: \"http://127.0.0.1:{port}/hook\", secret: \"{SECRET}\"}}}}"
                      for i, port in enumerate(ports))
    (tmp_path / "aha.yaml").write_text(f"""
signup: {{event: Signed Up}}
milestones:
  - {{id: connected, event: Connected, within: 3d, level: primary}}
rules:
{rules}
""")
    together = threading.Barrier(len(ports), timeout=30)
    real = delivery.unreachable

    def probe(url: str, timeout: float = delivery.PROBE_SECONDS) -> str | None:
        together.wait()  # raises BrokenBarrierError unless all six probes are running at once
        return real(url, timeout)

    monkeypatch.setattr(delivery, "unreachable", probe)
    _warn_unreachable_webhooks(tmp_path / "aha.yaml")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0:2] for line in lines] == [["warning", f" rule 'hook{i}'"] for i in range(6)]
    assert all(f"nothing listens on 127.0.0.1:{port} (connection refused)" in line
               for line, port in zip(lines, ports, strict=True))
