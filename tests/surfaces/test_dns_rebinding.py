"""On the loopback interface the dashboard asks no key, so it must answer only requests that name this machine.

A site the user visits can point its own name at 127.0.0.1 (DNS rebinding): the browser then sends the site's script's
requests to the local server with `Host: attacker.example:PORT` and treats the answers as same-origin, so the script
read every page (user ids, event names, numbers) and the notes form's token, and posted notes (its Origin matched its
Host). The real `aha dashboard` on 127.0.0.1 here, spoken to as a rebound page would.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import AHA, free_port, sample_db


@pytest.mark.parametrize(("host", "allowed"), [
    pytest.param("127.0.0.1:8000", True, id="ipv4_loopback"),
    pytest.param("127.3.4.5", True, id="ipv4_loopback_range"),
    pytest.param("[::1]:8000", True, id="ipv6_loopback"),
    pytest.param("localhost:8000", True, id="localhost"),
    pytest.param("LocalHost.", True, id="localhost_case_and_dot"),
    pytest.param("app.localhost:8000", True, id="rfc6761_subdomain"),
    pytest.param(None, True, id="no_host_header"),
    pytest.param("attacker.example:8000", False, id="rebound_name"),
    pytest.param("localhost.attacker.example", False, id="localhost_prefix"),
    pytest.param("127.0.0.1.attacker.example", False, id="ip_prefix"),
    pytest.param("192.168.1.5:8000", False, id="lan_address"),
    pytest.param("", False, id="empty"),
    pytest.param("[::1", False, id="unclosed_bracket"),
])
def test_loopback_names(host: str | None, allowed: bool):
    from aha.surfaces.web.pages import loopback_name

    assert loopback_name(host) is allowed


def test_a_rebound_name_reads_no_page_and_writes_no_note(tmp_path: Path):
    db = sample_db(tmp_path, users=60)
    port = free_port()
    log = (tmp_path / "dashboard.log").open("wb")
    process = subprocess.Popen([AHA, "dashboard", "--db", str(db), "--port", str(port)], cwd=tmp_path,
                               stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    rebound = {"host": f"attacker.example:{port}"}
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "dashboard.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                page = httpx.get(f"{url}/drop-off", timeout=120)
            time.sleep(0.1)
        assert page is not None and page.status_code == 200  # the user's own browser, at 127.0.0.1
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        step = re.search(r'name="step" value="([^"]+)"', page.text)
        assert token and step
        assert httpx.get(f"{url}/drop-off", headers={"host": f"localhost:{port}"}, timeout=120).status_code == 200
        for path in ("/", "/funnel", "/drop-off", "/milestones", "/users/u00000001"):
            answer = httpx.get(url + path, headers=rebound, timeout=120)
            assert answer.status_code == 403, (path, answer.status_code)
            assert "DNS rebinding" in answer.text and "csrf" not in answer.text
            assert "attacker.example" in answer.text and "--host" in answer.text
        sent = httpx.post(f"{url}/drop-off/notes", timeout=120,
                          headers={**rebound, "origin": f"http://attacker.example:{port}"},
                          data={"csrf": token.group(1), "step": step.group(1), "author": "x", "body": "planted"})
        assert sent.status_code == 403
        again = httpx.get(f"{url}/drop-off", timeout=120)
        assert "planted" not in again.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
