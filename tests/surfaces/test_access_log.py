"""`aha serve --access-log`: by default a line only for answers of status 400 or more (in uvicorn's format, keys in the
query string removed); `all` a line per request; `off` none. The real server on 127.0.0.1, its log file read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.serving import create_key, running


@pytest.mark.parametrize(("option", "ok_logged", "errors_logged"),
                         [((), False, True), (("--access-log", "all"), True, True),
                          (("--access-log", "off"), False, False)])
def test_which_answers_the_access_log_keeps(tmp_path: Path, option: tuple[str, ...], ok_logged: bool,
                                           errors_logged: bool) -> None:
    db = tmp_path / "aha.duckdb"
    key = create_key(db)
    log = tmp_path / "server.log"
    with running(db, "--rules-every", "0", *option) as server:
        started = log.stat().st_size  # past the start-up lines and the start's own /health polls
        assert httpx.post(server.url + "/v1/track", json={"userId": "u", "event": "E"},
                          auth=(key, "")).status_code == 200
        assert httpx.get(server.url + "/health?probe=1").status_code == 200
        assert httpx.get(server.url + "/v1/users/u/milestones").status_code == 401
        assert httpx.post(server.url + f"/v1/track?writeKey={key}", content=b"{").status_code == 400
    with log.open(encoding="utf-8") as lines:
        lines.seek(started)
        written = lines.read()
    assert ('"POST /v1/track HTTP/1.1" 200' in written) is ok_logged
    assert ('"GET /health?probe=1 HTTP/1.1" 200' in written) is ok_logged
    assert ('"GET /v1/users/u/milestones HTTP/1.1" 401' in written) is errors_logged
    assert ('"POST /v1/track?writeKey=[removed] HTTP/1.1" 400' in written) is errors_logged
    assert key.rsplit("_", 1)[-1] not in written
