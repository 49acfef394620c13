"""Links to accounts and users whose ids hold `/`, `.` or `..` lead to those pages (outside8).

Jinja's `urlencode` keeps `/`, so the account `x/../y` was linked as `/accounts/x/../y`, which a browser resolves to
`/accounts/y`: another account's page; `../../etc` led to `/etc`. The ids `.` and `..` are dot segments however they
are written (a browser reads `%2e%2e` as `..` too), so no path reaches them: they are linked by `?id=`, which shows
the page (as `/users?id=` does, which redirected to `/users/..` and so to the overview)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest

from tests.serving import AHA, aha, free_port

LOCAL = "http://127.0.0.1"  # a real server: Starlette's TestClient decodes a path twice (`a%252Fb` reached `a/b`)

IDS = ["acme/eu", "x/../y", "y", "../../etc", ".", "..", "a%2Fb", "50%", "q?x=1#f", "ünï"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Account i has the two members u{i}_0 and u{i}_1; user ids are the account id with `~k` after it."""
    folder = tmp_path_factory.mktemp("odd_ids")
    lines = []
    for i, account in enumerate(IDS):
        for k in range(2):
            user = f"u{i}_{k}" if k == 0 else f"{account}~{k}"
            lines += [{"type": "group", "userId": user, "groupId": account, "timestamp": "2026-03-01T09:00:00Z"},
                      {"type": "track", "userId": user, "event": "Signed Up", "timestamp": "2026-03-01T10:00:00Z"},
                      {"type": "track", "userId": user, "event": "Visited", "timestamp": "2026-03-01T12:00:00Z"}]
    (folder / "calls.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (folder / "aha.yaml").write_text("signup: {event: Signed Up}\nmilestones:\n"
                                     "  - {id: visited, event: Visited, within: 3d, level: primary}\n"
                                     "  - {id: team_core, entity: account, event: Visited, count: 2, within: 30d}\n"
                                     "signals:\n  - {id: team, name: Team, milestones: [team_core]}\n")
    assert aha("import", "calls.jsonl", "--db", "aha.duckdb", cwd=folder).returncode == 0
    return folder


@contextmanager
def dashboard(folder: Path) -> Iterator[httpx.Client]:
    port = free_port()
    process = subprocess.Popen([AHA, "dashboard", "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"{LOCAL}:{port}", timeout=60) as client:
            for _ in range(600):
                try:
                    client.get("/accounts")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield client
    finally:
        process.terminate()
        process.wait(60)


def _followed(client: httpx.Client, page: str, href: str) -> str:
    """What a browser shows on following `href` from `page`: dot segments resolved (`%2e` read as `.`)."""
    assert not any(unquote(s.replace("%2e", ".").replace("%2E", ".")) in (".", "..")
                   for s in urlsplit(href).path.split("/")[1:]), href
    got = client.get(urljoin(LOCAL + page, href)[len(LOCAL):])
    assert got.status_code == 200, (href, got.text[:300])
    return got.text


def _title(html: str) -> str:
    found = re.search(r"<h2[^>]*>(.*?)</h2>", html, re.S)
    assert found is not None
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_each_account_and_member_link_leads_to_its_own_page(folder: Path) -> None:
    with dashboard(folder) as client:
        listing = client.get("/accounts").text
        links = dict((unescape(name), unescape(href)) for href, name in
                     re.findall(r'<td><a href="(/accounts[^"]*)">([^<]*)</a>', listing))
        assert sorted(links) == sorted(IDS)
        for i, account in enumerate(IDS):
            page = _followed(client, "/accounts", links[account])
            assert _title(page) == f"Account {account}"
            members = dict((unescape(name), unescape(href)) for href, name in
                           re.findall(r'<td><a href="(/users[^"]*)">([^<]*)</a>', page))
            assert sorted(members) == sorted([f"u{i}_0", f"{account}~1"])
            for user, href in members.items():
                assert _title(_followed(client, "/accounts/x", href)).lower().startswith(f"user {user}".lower())


@pytest.mark.parametrize("user", [".", ".."])
def test_the_user_search_shows_a_user_whose_id_is_a_dot_segment(folder: Path, user: str) -> None:
    (folder / "dots.jsonl").write_text(json.dumps({"type": "track", "userId": user, "event": "Signed Up",
                                                   "timestamp": "2026-03-01T10:00:00Z"}) + "\n")
    assert aha("import", "dots.jsonl", "--db", "aha.duckdb", cwd=folder).returncode == 0
    with dashboard(folder) as client:
        got = client.get("/users", params={"id": user}, follow_redirects=False)
        if got.status_code == 303:
            got = client.get(_followed_location(got.headers["location"]))
        assert got.status_code == 200 and _title(got.text).lower().startswith(f"user {user}".lower()), got.text[:300]


def _followed_location(location: str) -> str:
    return urljoin(LOCAL + "/users", location)[len(LOCAL):]
