"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright, against `aha serve` on
127.0.0.1 (tests/serving.py), and the HTML report opened from disk with the network cut off.

Skipped, loudly, only where chromium is not installed (`.ci/run` installs it with apt).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aha.guidance.checklist import STATUS_LABELS
from tests.serving import aha, running
from tests.surfaces.conftest import HOSTILE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWS = ["/", "/funnel", "/time-to-value", "/drop-off", "/retention", "/milestones", "/nudges", "/accounts", "/users"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("BROWSER TESTS SKIPPED: chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that records console errors, uncaught exceptions and dialogs (an `alert` would be an injection)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda m: opened.problems.append(f"console: {m.text}") if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.problems.append(f"error: {e}"))
    opened.on("dialog", lambda d: (opened.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield opened
    context.close()


@pytest.fixture(scope="module")
def served(hostile_db: Path) -> Iterator[Any]:
    with running(hostile_db) as server:
        yield server


def api(server: Any, analysis: str, **options: Any) -> dict[str, Any]:
    """The read API's answer for the same query, with the server's local token."""
    token = json.loads(Path(f"{server.db}.server.json").read_text())["token"]
    config = server.db.parent / "aha.yaml"
    response = httpx.post(f"{server.url}/v1/query/{analysis}", headers={"Authorization": f"Bearer {token}"},
                          json={"definitions": config.read_text(), "options": options}, timeout=300)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def shown(page: Any, key: str) -> str:
    return str(page.locator(f'[data-metric="{key}"]').first.inner_text()).strip()


def settled(page: Any) -> None:
    """Wait while the page says its slow part (discovery on /milestones) is being computed: it reloads itself."""
    page.wait_for_selector("#discovery-computing", state="detached", timeout=300_000)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


FILTERED = ["/?segment=plan", "/funnel?segment=plan", "/drop-off?segment=plan", "/milestones?as_of=2026-03-31",
            "/funnel?include_immature=true&order=unordered", "/?from=2026-02-01&to=2026-03-01",
            "/retention?from=2026-02-01&to=2026-03-01"]


@pytest.mark.parametrize("path", [*VIEWS, *FILTERED])
def test_every_view_loads_without_console_errors(served: Any, page: Any, path: str):
    response = page.goto(served.url + path)
    assert response.status == 200
    settled(page)
    assert page.locator("main h2").first.is_visible()
    assert page.problems == []
    for chart in page.locator(".chart svg").all():  # every chart drawn, with marks
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        assert chart.locator("path, rect").count() > 5


def test_a_user_page_shows_the_checklist_of_the_api(served: Any, page: Any):
    user = api(served, "funnel")  # any request first: the server is warm
    assert user
    first_user = aha("state", "--json", "u00000001", "--db", str(served.db), cwd=served.db.parent)
    expected = json.loads(first_user.stdout) if first_user.returncode == 0 else None
    page.goto(f"{served.url}/users")  # looked up by id through the search form
    page.locator("input[name=id]").fill("u00000001")
    page.locator("#users button").click()
    page.wait_for_url("**/users/u00000001")
    if expected is None:
        assert "not" in page.locator("main").inner_text()
        return
    assert page.problems == []
    for item in expected["items"]:
        assert shown(page, f"user.{item['id']}.status") == STATUS_LABELS[item["status"]]  # the token in words
    timeline = api(served, "user_timeline", user_id="u00000001")  # beside it, the timeline of the same result
    assert timeline["entries"] and timeline["shown"] == timeline["events"]
    rows = page.locator("table.timeline tbody tr")
    assert rows.count() == len(timeline["entries"])
    for i, entry in enumerate(timeline["entries"]):
        text = shown(page, f"timeline.{i}")  # an event's name; a mark's words with its milestone's name
        assert (text == entry["label"]) if entry["kind"] == "event" else (entry["label"] in text)
    assert page.locator("table.timeline").get_by_text(HOSTILE).count() >= 1  # an event named <script> is text
    assert page.locator("main script").count() == 0


def test_the_numbers_on_the_page_equal_the_api_and_the_filters_change_them(served: Any, page: Any):
    for as_of in (None, "2026-02-15"):
        page.goto(served.url + "/funnel" + (f"?as_of={as_of}" if as_of else ""))
        expected = api(served, "report", **({"as_of": as_of} if as_of else {}))
        for group in expected["funnel"]["groups"]:
            for step in group["steps"]:
                key = f"funnel.{group['segment']}.{step['id']}"
                assert shown(page, f"{key}.entities") == f"{step['entities']:,}"
                assert shown(page, f"{key}.overall") == pct(step["conversion_overall"]["value"])
        page.goto(served.url + "/" + (f"?as_of={as_of}" if as_of else ""))
        assert shown(page, "overview.signed_up_users") == f"{expected['overview']['signed_up_users']:,}"
        for target in expected["overview"]["targets"]:
            if target["unit"] == "rate":
                assert shown(page, f"target.{target['name']}.current") == pct(target["current"])
        for group in expected["timing"]["groups"]:
            page.goto(served.url + "/time-to-value" + (f"?as_of={as_of}" if as_of else ""))
            for m in group["milestones"]:
                assert shown(page, f"timing.{group['segment']}.{m['milestone_id']}.reached") == f"{m['reached']:,}"
        query = {"as_of": as_of} if as_of else {}
        page.goto(served.url + "/retention" + (f"?as_of={as_of}" if as_of else ""))
        for group in api(served, "retention", **query)["groups"]:
            for m in group["milestones"]:
                key = f"retention.{group['segment']}.{m['milestone_id']}"
                assert shown(page, f"{key}.reached") == pct(m["rule_reached"]["value"])
                assert shown(page, f"{key}.not_reached") == pct(m["rule_not_reached"]["value"])
        page.goto(served.url + "/drop-off" + (f"?as_of={as_of}" if as_of else ""))
        for group in api(served, "paths", **query)["groups"]:
            for d in group["drop_offs"]:
                assert shown(page, f"drop-off.{group['segment']}.{d['to_id']}.lost") == pct(d["lost_share"]["value"])
        page.goto(served.url + "/milestones" + (f"?as_of={as_of}" if as_of else ""))
        settled(page)
        for group in api(served, "evaluate", **query)["groups"]:
            for m in group["rows"]:
                key = f"validation.{group['segment']}.{m['milestone_id']}.{m['outcome']}.reached"
                assert shown(page, key) == pct(m["comparison"]["rate_reached"])
        for group in api(served, "revalidate", **query)["groups"]:
            for t in group["trends"]:
                gap = t["latest_gap_points"]
                key = f"revalidation.{group['segment']}.{t['milestone_id']}.{t['outcome']}.latest"
                assert shown(page, key) == ("—" if gap is None else f"{gap:+.1f} pts")
        if as_of is None:
            everyone = expected["overview"]["signed_up_users"]
        else:
            assert expected["overview"]["signed_up_users"] < everyone  # the filter changed the numbers


def test_the_signup_range_changes_the_numbers_and_equals_the_api(served: Any, page: Any):
    everyone = api(served, "report")["overview"]["signed_up_users"]
    query = {"signups_from": "2026-02-01", "signups_to": "2026-03-01"}
    expected = api(served, "report", **query)
    assert 0 < expected["overview"]["signed_up_users"] < everyone
    page.goto(served.url + "/")  # the filter form sets it, and every view's link keeps it
    page.locator("input[name=from]").fill("2026-02-01")
    page.locator("input[name=to]").fill("2026-03-01")
    page.locator("form.filters button").click()
    page.wait_for_url("**/?*from=2026-02-01*")
    assert shown(page, "overview.signed_up_users") == f"{expected['overview']['signed_up_users']:,}"
    assert shown(page, "headline.activation") == pct(expected["headline"]["activation"]["value"])
    page.get_by_role("link", name="Funnel").click()
    assert "from=2026-02-01" in page.url and "to=2026-03-01" in page.url
    for group in expected["funnel"]["groups"]:
        for step in group["steps"]:
            assert shown(page, f"funnel.{group['segment']}.{step['id']}.entities") == f"{step['entities']:,}"
    page.goto(served.url + "/milestones?from=2026-02-01&to=2026-03-01")
    settled(page)
    for group in api(served, "evaluate", **query)["groups"]:
        for m in group["rows"]:
            key = f"validation.{group['segment']}.{m['milestone_id']}.{m['outcome']}.reached"
            assert shown(page, key) == pct(m["comparison"]["rate_reached"])
    assert page.problems == []


def test_milestones_discovers_the_outcome_and_window_picked_in_its_form_as_the_api(served: Any, page: Any):
    page.goto(served.url + "/milestones?from=2026-01-01")
    settled(page)
    form = page.locator("#discovery-options")
    form.locator("select[name=outcome]").select_option("conversion")
    form.locator("select[name=window]").select_option("7")
    form.locator("button").click()
    page.wait_for_url("**/milestones?*window=7*")
    assert "from=2026-01-01" in page.url and "outcome=conversion" in page.url
    settled(page)
    expected = api(served, "discover", outcome="conversion", window=7, signups_from="2026-01-01")
    assert expected["window_days"] == 7 and expected["outcome"].startswith("conversion")
    assert page.get_by_text("Discovery: which early actions predict " + expected["outcome"]).count() == 1
    ranked = [k for k in expected["candidates"] if k["rank"] is not None][:5]
    for k in ranked:
        assert shown(page, f"discovery.{k['rank']}.rate") == pct(k["comparison"]["rate_reached"])
    for m in expected["magic_numbers"]:
        if m["threshold"] is not None and page.locator(f'[data-metric="magic.{m["event"]}.threshold"]').count():
            assert shown(page, f"magic.{m['event']}.threshold") == f"{m['threshold']}×"
    assert page.problems == []


def signups_text(found: dict[str, Any]) -> str:
    """The range line built from the API's `signups` answer (fields, not its text)."""
    seen = f"first {found['first_signup'][:10]}, last {found['last_signup'][:10]} ({found['users']:,} users)"
    if found["signups_from"] is None and found["signups_to"] is None:
        return f"all signups: {seen}"
    flags = f"--from {found['signups_from']} --to {found['signups_to']}"
    return f"signups {found['signups_from']} to 2026-02-28 ({flags}): {seen}"


def test_every_view_shows_the_signup_range_of_the_api_in_its_header(served: Any, page: Any):
    for query, options in (("", {}), ("?from=2026-02-01&to=2026-03-01",
                                      {"signups_from": "2026-02-01", "signups_to": "2026-03-01"})):
        expected = api(served, "signups", **options)
        assert 0 < expected["users"] <= api(served, "report", **options)["overview"]["signed_up_users"]
        for path in [*VIEWS, "/users/u00000001"]:
            page.goto(served.url + path + query)
            settled(page)
            assert page.locator("header #signups").inner_text() == "Signups counted: " + signups_text(expected), path
    assert page.problems == []


def test_script_in_event_data_is_shown_as_text(served: Any, page: Any):
    for path in ("/time-to-value", "/milestones", "/funnel?segment=plan"):
        page.goto(served.url + path)
        settled(page)
        assert page.get_by_text(HOSTILE).count() >= 1, path
        assert page.locator("main script").count() == 0
    assert page.problems == []


def test_the_html_report_renders_every_chart_offline(served: Any, browser: Any, tmp_path: Path):
    out = tmp_path / "report.html"
    done = aha("report", "--html", str(out), "--db", str(served.db), cwd=served.db.parent)
    assert done.returncode == 0, done.stderr
    context = browser.new_context(offline=True)
    asked: list[str] = []

    def block(route: Any) -> None:
        if not route.request.url.startswith("file://"):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", block)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.goto(out.as_uri())
    charts = opened.locator(".chart svg").all()
    assert len(charts) == 6
    for chart in charts:
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        assert chart.locator("path, rect").count() > 5
    assert asked == [] and problems == []
    context.close()


SCREENSHOTS = os.environ.get("AHA_SCREENSHOTS")


@pytest.mark.skipif(not SCREENSHOTS, reason="set AHA_SCREENSHOTS=docs/screenshots to retake the README's screenshots "
                                            "from the full sample (20,000 users)")
def test_screenshots_of_the_full_sample(browser: Any, tmp_path: Path):
    folder = Path(SCREENSHOTS or "")
    done = aha("sample", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with running(tmp_path / "aha.duckdb") as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        opened = context.new_page()
        for path, name in (("/", "overview"), ("/funnel?include_immature=true", "funnel"),
                           ("/time-to-value", "time-to-value"), ("/drop-off?segment=plan", "drop-off"),
                           ("/retention", "retention"), ("/milestones", "milestones"),
                           ("/users/u00000002", "user")):
            opened.goto(server.url + path, timeout=300_000)
            settled(opened)
            # a user's page lists up to 500 events: its first screens show the checklist and the timeline's start
            opened.screenshot(path=str(folder / f"{name}.png"), full_page=name != "user")
        context.close()
    for option, path, name in (("--nudges", "/nudges", "nudges"), ("--b2b", "/accounts?signal=team", "accounts")):
        sample = tmp_path / name
        sample.mkdir()
        done = aha("sample", option, "--db", "aha.duckdb", cwd=sample)
        assert done.returncode == 0, done.stderr
        with running(sample / "aha.duckdb") as server:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            opened = context.new_page()
            opened.goto(server.url + path, timeout=300_000)
            opened.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            context.close()


def test_a_note_survives_a_reload_and_a_server_restart(hostile_db: Path, browser: Any, tmp_path: Path):
    for name in ("aha.duckdb", "aha.yaml"):
        shutil.copy(hostile_db.parent / name, tmp_path / name)
    context = browser.new_context()
    opened = context.new_page()
    with running(tmp_path / "aha.duckdb") as server:
        opened.goto(server.url + "/drop-off?as_of=2026-03-31")
        form = opened.locator("#step-core_workflow form")
        form.locator("input[name=author]").fill("ana")
        form.locator("input[name=body]").fill(f"Most stall at the OAuth screen {HOSTILE}")
        form.locator("button").click()
        opened.wait_for_url("**/drop-off?as_of=2026-03-31#step-core_workflow")
        opened.reload()
        assert "Most stall at the OAuth screen" in opened.locator("#step-core_workflow").inner_text()
        # a form posted from elsewhere: no token, or a foreign Origin
        forged = httpx.post(server.url + "/drop-off/notes", data={"step": "core_workflow", "author": "x", "body": "y"})
        foreign = httpx.post(server.url + "/drop-off/notes", headers={"Origin": "https://evil.example"},
                             data={"step": "core_workflow", "author": "x", "body": "y",
                                   "csrf": opened.locator("input[name=csrf]").first.get_attribute("value")})
        assert forged.status_code == 403 and foreign.status_code == 403
    with running(tmp_path / "aha.duckdb") as server:
        opened.goto(server.url + "/drop-off")
        text = opened.locator("#step-core_workflow").inner_text()
        assert "ana, " in text and f"Most stall at the OAuth screen {HOSTILE}" in text  # as text, not markup
        assert "x, " not in opened.locator("#step-core_workflow").inner_text()
    context.close()
