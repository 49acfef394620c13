"""The HTML report and the dashboard's pages without a browser: self-contained, escaped, guarded, cached.

Browser checks (console errors, charts drawn offline, numbers equal to the API's) are in test_browser.py.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serving import LOCAL, aha, create_key, report
from tests.surfaces.conftest import HOSTILE


def metrics(html: str) -> dict[str, str]:
    """`data-metric` keys → the text shown (what the browser tests compare with the API)."""
    return {k: re.sub(r"<[^>]+>", "", v).strip()
            for k, v in re.findall(r'data-metric="([^"]+)"[^>]*>(.*?)</', html, flags=re.S)}


def test_html_report_is_one_file_with_nothing_fetched_and_every_name_escaped(hostile_db: Path):
    folder = hostile_db.parent
    done = aha("report", "--html", "out.html", "--segment", "plan", cwd=folder)
    assert done.returncode == 0, done.stderr
    html = (folder / "out.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and HOSTILE not in html  # no script at all, the event's name as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';" in html
    # nothing to fetch: no src, no external link or stylesheet (SVG namespaces are names, not requests)
    assert not re.search(r'\s(src|srcset)=', html) and not re.search(r'href="(?!#|data:)', html)
    assert html.count("<svg") == 6  # activation, funnel, histograms, Kaplan–Meier, drop-off, retention
    shown = metrics(html)
    expected = report(hostile_db, folder / "aha.yaml")
    overview = expected["overview"]
    assert isinstance(overview, dict)
    assert shown["overview.signed_up_users"] == f"{overview['signed_up_users']:,}"
    assert shown["overview.events"] == f"{overview['events']:,}"
    headline = expected["headline"]  # what the CLI leads with: activation over closed windows only
    assert isinstance(headline, dict)
    assert shown["headline.activation"] == f"{headline['activation']['value']:.1%}"


def test_png_export_writes_each_chart(hostile_db: Path):
    done = aha("report", "--png", "charts", cwd=hostile_db.parent)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (hostile_db.parent / "charts").iterdir())
    assert written == ["activation.png", "drop-off.png", "funnel.png", "kaplan-meier.png", "retention.png",
                       "time-to-value.png"]
    assert all((hostile_db.parent / "charts" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in written)


def test_an_unwritable_destination_is_one_message(hostile_db: Path):
    done = aha("report", "--html", "no/such/folder/out.html", cwd=hostile_db.parent)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--html no/such/folder/out.html: cannot write it (No such file or directory)" in done.stderr
    (hostile_db.parent / "a-file").write_text("x")
    done = aha("report", "--png", "a-file/charts", cwd=hostile_db.parent)
    assert done.returncode != 0 and "--png a-file/charts: cannot write there" in done.stderr


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def copy_db(hostile_db: Path, tmp_path: Path) -> Path:
    import shutil

    for name in ("aha.duckdb", "aha.yaml"):
        shutil.copy(hostile_db.parent / name, tmp_path / name)
    return tmp_path / "aha.duckdb"


def test_off_loopback_the_pages_ask_for_a_read_key(copy_db: Path):
    from aha.surfaces.web.local import create_dashboard

    read, write = create_key(copy_db, "reader", "read"), create_key(copy_db, "writer", "write")
    app = create_dashboard(copy_db, copy_db.parent / "aha.yaml", requires_key=True)
    with TestClient(app, base_url=LOCAL) as client:
        refused = client.get("/funnel")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert client.get("/funnel", headers=basic(write)).status_code == 401
        assert client.get("/funnel", headers=basic("nonsense")).status_code == 401
        assert client.get("/funnel", headers=basic(read)).status_code == 200
    with TestClient(create_dashboard(copy_db, copy_db.parent / "aha.yaml"), base_url=LOCAL) as client:  # no key
        page = client.get("/funnel")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]  # no script may run, nothing may be fetched or frame it
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy


def test_the_tracking_server_guards_its_pages_the_same_way(copy_db: Path):
    """`aha serve --host 0.0.0.0` passes dashboard_requires_key: read keys and the local token read, nothing else."""
    from aha.surfaces.api import create_app

    read = create_key(copy_db, "reader", "read")
    app = create_app(copy_db, fsync=False, definitions=copy_db.parent / "aha.yaml", local_token="local-secret",
                     dashboard_requires_key=True)
    with TestClient(app, base_url=LOCAL) as client:
        assert client.get("/milestones").status_code == 401
        assert client.get("/milestones", headers={"Authorization": "Bearer local-secret"}).status_code == 200
        assert client.get("/users/u00000001", headers=basic(read)).status_code in (200, 404)
        assert client.get("/users/u00000001", headers=basic("u00000001")).status_code == 401


def wait_until_stored(ingestor) -> None:  # type: ignore[no-untyped-def]
    """Acknowledged calls reach DuckDB on the writer thread, after the spool: wait for that (a condition, no timing)."""
    import time

    deadline = time.monotonic() + 60
    while ingestor.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ingestor.in_flight == 0


def test_pages_are_cached_until_the_data_changes(copy_db: Path):
    """A repeated view is not recomputed; a tracked signup (a new data version) is counted on the next view."""
    from aha.surfaces.api import create_app

    key = create_key(copy_db)
    app = create_app(copy_db, fsync=False, definitions=copy_db.parent / "aha.yaml")
    with TestClient(app, base_url=LOCAL) as client:
        first = metrics(client.get("/").text)["overview.signed_up_users"]
        again = client.get("/")
        assert metrics(again.text)["overview.signed_up_users"] == first
        done = client.post("/v1/track", json={"userId": "new-user", "event": "Signed Up",
                                              "timestamp": "2026-04-30T12:00:00Z"}, headers=basic(key))
        assert done.status_code == 200, done.text
        wait_until_stored(app.state.ingestor)
        after = metrics(client.get("/").text)["overview.signed_up_users"]
    assert int(after.replace(",", "")) == int(first.replace(",", "")) + 1


def test_a_bad_filter_is_one_message_on_the_page(copy_db: Path):
    from aha.surfaces.web.local import create_dashboard

    with TestClient(create_dashboard(copy_db, copy_db.parent / "aha.yaml"), base_url=LOCAL) as client:
        bad = client.get("/?as_of=yesterday-ish")
        assert bad.status_code == 422 and "&#39;yesterday-ish&#39; is not a date or time" in bad.text
        empty = client.get("/funnel?from=2026-03-01&to=2026-03-01")
        assert empty.status_code == 422 and "the range is empty (--to is excluded)" in empty.text
        day = client.get("/retention?from=March")
        assert day.status_code == 422 and "--from &#39;March&#39; is not a day" in day.text
        order = client.get("/funnel?order=sideways")
        assert order.status_code == 422 and "order: &#39;sideways&#39; is not a funnel order" in order.text
        unknown = client.get("/users/" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert unknown.status_code == 404 and HOSTILE not in unknown.text and "&lt;script&gt;" in unknown.text
        segment = client.get("/funnel?segment=plan")
        assert segment.status_code == 200 and HOSTILE not in segment.text and "&lt;script&gt;" in segment.text


def test_the_cache_counts_one_computation_per_key(copy_db: Path):
    import asyncio

    from aha.store import open_store
    from aha.surfaces.web.pages import Results

    store = open_store(copy_db)
    try:
        from aha.definitions import load

        definitions = load(copy_db.parent / "aha.yaml")

        async def run(fn):  # type: ignore[no-untyped-def]
            return fn(store)

        results = Results(run, lambda: definitions)
        first = asyncio.run(results.get("funnel", segment=None, as_of="2026-03-01"))
        assert asyncio.run(results.get("funnel", segment=None, as_of="2026-03-01")) is first
        asyncio.run(results.get("funnel", segment=None, as_of="2026-03-02"))
        assert results.misses == 2
    finally:
        store.close()


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa():
    from aha.surfaces.web import charts
    from aha.surfaces.web.views import ENV

    css = ENV.loader.get_source(ENV, "base.html")[0]  # type: ignore[union-attr]
    colours = dict(re.findall(r"--([a-z]+): (#[0-9A-Fa-f]{6})", css))
    pairs = [(colours[t], "#ffffff") for t in ("ink", "muted", "accent", "ok", "bad")]
    pairs += [(colours[t], colours["bg"]) for t in ("ink", "muted", "accent")]  # header, table heads
    pairs += [("#ffffff", colours["accent"]), (charts.INK, "#ffffff"), (charts.MUTED, "#ffffff")]  # buttons, charts
    assert min(contrast(f, b) for f, b in pairs) >= 4.5
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the formula, on a known value


def test_aha_dashboard_serves_the_pages_from_the_console_script(copy_db: Path):
    import contextlib
    import signal
    import subprocess
    import time

    import httpx

    from tests.serving import AHA, free_port

    port = free_port()
    log = (copy_db.parent / "dashboard.log").open("wb")
    process = subprocess.Popen([AHA, "dashboard", "--db", str(copy_db), "--port", str(port)], cwd=copy_db.parent,
                               stdout=log, stderr=log)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline:
            assert process.poll() is None, (copy_db.parent / "dashboard.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(f"http://127.0.0.1:{port}/funnel", timeout=120)
            time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        assert 'data-metric="funnel.(all).signup.entities"' in answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_an_empty_database_says_what_to_do(tmp_path: Path, hostile_db: Path):
    import shutil

    from aha.surfaces.api import create_app

    shutil.copy(hostile_db.parent / "aha.yaml", tmp_path / "aha.yaml")
    app = create_app(tmp_path / "empty.duckdb", fsync=False, definitions=tmp_path / "aha.yaml")
    with TestClient(app, base_url=LOCAL) as client:
        page = client.get("/funnel")
        assert page.status_code == 422 and "holds no events yet. Load some with `aha import FILE`." in page.text
    with TestClient(create_app(tmp_path / "none.duckdb", fsync=False), base_url=LOCAL) as client:  # no definitions file
        page = client.get("/")
        assert page.status_code == 422 and "start it with `aha serve --config aha.yaml`" in page.text


def test_an_activation_chart_with_every_cohort_complete_has_a_bounded_size():
    """No partial cohort (an old range, `?from=&to=`): the hollow-point layer is left out rather than drawn empty,
    whose legend made the SVG's viewBox 1.8e308 wide (a console error in the browser, nothing drawn)."""
    from datetime import date, datetime

    from aha.analyses.report_results import ActivationCohort, ActivationGroup, ActivationResult
    from aha.results import Rate
    from aha.surfaces.web import charts

    cohorts = tuple(ActivationCohort(date(2026, 2, d), 10, (Rate.of(n, 10),)) for d, n in ((2, 4), (9, 6)))
    result = ActivationResult("m1", "First step", "week", (1,), datetime(2026, 4, 1), None,
                              (ActivationGroup("all", ActivationCohort(None, 20, (Rate.of(10, 20),)), cohorts),))
    svg = charts.svg(charts.activation(result))
    width, height = (float(v) for v in re.search(r'viewBox="0 0 ([\d.e+]+) ([\d.e+]+)"', svg).groups())
    assert 300 < width < 2000 and 100 < height < 1000


@pytest.fixture(scope="module")
def larger_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample large enough for discovery to rank candidates and find magic numbers (300 users are too few)."""
    from tests.serving import sample_db

    return sample_db(tmp_path_factory.mktemp("discovery"), users=2000)


def computed(client: TestClient, url: str) -> Any:
    """The page once its background part is shown: reloaded as the browser would (the page asks to, a condition
    polled, no timing asserted)."""
    import time

    deadline = time.monotonic() + 300
    while True:
        page = client.get(url)
        assert page.status_code == 200, page.text[:500]
        if 'id="discovery-computing"' not in page.text:
            assert 'http-equiv="refresh"' not in page.text
            return page
        assert 'http-equiv="refresh" content="2"' in page.text and time.monotonic() < deadline
        time.sleep(0.2)


def test_milestones_shows_validation_at_once_and_discovery_in_the_background(larger_db: Path):
    """A cache miss: the page answers with validation and revalidation and says discovery is being computed (it
    reloads itself); a reload shows discovery and scoring."""
    from aha.surfaces.web.local import create_dashboard

    with TestClient(create_dashboard(larger_db, larger_db.parent / "aha.yaml"), base_url=LOCAL) as client:
        first = client.get("/milestones?from=2026-02-01")
        assert first.status_code == 200
        assert 'id="discovery-computing"' in first.text and 'http-equiv="refresh" content="2"' in first.text
        assert any(k.startswith("validation.") for k in metrics(first.text))
        assert 'id="discovery"' not in first.text
        done = computed(client, "/milestones?from=2026-02-01")
        assert 'id="discovery"' in done.text and any(k.startswith("discovery.") for k in metrics(done.text))


def test_milestones_discovers_the_chosen_outcome_and_window_as_the_cli_does(larger_db: Path):
    import json

    from aha.surfaces.web.local import create_dashboard

    found = json.loads(aha("discover", "--json", "--outcome", "conversion", "--window", "7d",
                           cwd=larger_db.parent).stdout)
    assert found["outcome"].startswith("conversion") and found["window_days"] == 7
    with TestClient(create_dashboard(larger_db, larger_db.parent / "aha.yaml"), base_url=LOCAL) as client:
        page = computed(client, "/milestones?outcome=conversion&window=7")
        shown = metrics(page.text)
        assert "predict conversion" in page.text and "done in 7 days" in page.text
        ranked = [k for k in found["candidates"] if k["rank"] is not None][:5]
        assert ranked
        for k in ranked:
            assert shown[f"discovery.{k['rank']}.rate"] == f"{k['comparison']['rate_reached']:.1%}"
        with_step = [m for m in found["magic_numbers"] if m["threshold"] is not None]
        for m in with_step[:3]:
            assert shown[f"magic.{m['event']}.threshold"] == f"{m['threshold']}×"
        # the choice is kept by the filter form and the view's links; a bad one is one message
        assert '<input type="hidden" name="outcome" value="conversion">' in page.text
        assert "/funnel?outcome=conversion&amp;window=7" in page.text
        bad = client.get("/milestones?outcome=churn")
        assert bad.status_code == 422 and "outcome: &#39;churn&#39; is not an outcome" in bad.text
        window = client.get("/milestones?window=30")
        assert window.status_code == 422 and "window: &#39;30&#39; is not a discovery window" in window.text


def test_milestones_page_shows_discovery_magic_numbers_and_the_shortlist_of_the_cli(larger_db: Path):
    import json

    from aha.surfaces.web import views
    from aha.surfaces.web.local import create_dashboard

    found = json.loads(aha("discover", "--json", "--from", "2026-01-01", cwd=larger_db.parent).stdout)
    scored = json.loads(aha("score", "--json", "--from", "2026-01-01", cwd=larger_db.parent).stdout)
    with TestClient(create_dashboard(larger_db, larger_db.parent / "aha.yaml"), base_url=LOCAL) as client:
        page = computed(client, "/milestones?from=2026-01-01")
        shown = metrics(page.text)
        ranked = [k for k in found["candidates"] if k["rank"] is not None][: views.TOP_CANDIDATES]
        assert len(ranked) >= 5
        for k in ranked:
            assert shown[f"discovery.{k['rank']}.rate"] == f"{k['comparison']['rate_reached']:.1%}"
            infinite = k["comparison"]["lift_code"] == "infinite"
            assert shown[f"discovery.{k['rank']}.lift"] == ("∞" if infinite else f"{k['comparison']['lift']:.2f}×")
        assert "discovery.16.rate" not in shown  # bounded
        with_step = [m for m in found["magic_numbers"] if m["threshold"] is not None]
        assert with_step and all(shown[f"magic.{m['event']}.threshold"] == f"{m['threshold']}×"
                                 for m in with_step[: views.DOSE_CHARTS])
        assert scored["shortlist"]
        for e in scored["scores"]:
            assert shown[f"score.{e['event']}.total"] == str(e["total"])
        assert page.text.count('class="shortlisted"') == len(scored["shortlist"])
        # the dose–response chart: one small multiple per drawn event, a dashed rule per magic number
        assert 'aria-label="dose–response curves' in page.text


def test_notes_are_in_the_html_report_beside_their_step_escaped(copy_db: Path):
    """Notes written on the dashboard (stored with author and time) are in `aha report --html`, under the drop-off
    they were written beside, escaped; read from the file, or from the server while it holds the file."""
    from datetime import datetime

    from aha.store import notes as store_notes
    from aha.store import open_store
    from tests.serving import running

    store = open_store(copy_db)
    try:
        store_notes.add(store, store_notes.Note("core_workflow", f"ana {HOSTILE}", f"Stall at OAuth {HOSTILE}",
                                                datetime(2026, 3, 2, 9, 30)))
        store_notes.add(store, store_notes.Note("core_workflow", "bo", "Second note", datetime(2026, 3, 3, 10, 0)))
    finally:
        store.close()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    expected = (f'<p class="step-note"><span class="muted">ana {escaped}, 2026-03-02 09:30:00 UTC:</span> '
                f"Stall at OAuth {escaped}</p>")

    def step_block(html: str) -> str:
        start = html.index('<div id="step-core_workflow"')
        return html[start:html.index("</div>", start)]

    assert aha("report", "--html", "local.html", cwd=copy_db.parent).returncode == 0
    block = step_block((copy_db.parent / "local.html").read_text(encoding="utf-8"))
    assert expected in block and block.index(expected) < block.index("Second note")  # oldest first
    assert HOSTILE not in (copy_db.parent / "local.html").read_text(encoding="utf-8")
    assert "<form" not in block  # a file has no form to post to
    with running(copy_db):
        done = aha("report", "--html", "served.html", "--db", str(copy_db), cwd=copy_db.parent)
        assert done.returncode == 0, done.stderr
    assert expected in step_block((copy_db.parent / "served.html").read_text(encoding="utf-8"))


def test_the_activation_axis_ends_at_the_next_ten_percent_above_the_highest_interval():
    """Rates around 38% on a 0–100% axis were a flat bundle (the overview screenshot): the axis starts at 0 and ends
    at the highest interval end rounded up to 10%; never past 100%."""
    from datetime import date, datetime

    from aha.analyses.activation import ActivationCohort, ActivationGroup, ActivationResult
    from aha.results import Rate
    from aha.surfaces.web import charts

    def domain(reached: tuple[int, ...], of: int) -> list[float]:
        cohorts = tuple(ActivationCohort(date(2026, 2, 2 + 7 * i), of, (Rate.of(n, of),))
                        for i, n in enumerate(reached))
        total = ActivationCohort(None, of * len(reached), (Rate.of(sum(reached), of * len(reached)),))
        result = ActivationResult("m1", "First step", "week", (1,), datetime(2026, 4, 1), None,
                                  (ActivationGroup("all", total, cohorts),))
        spec = charts.activation(result).to_dict(validate=False)
        found = [layer["encoding"]["y"]["scale"]["domain"] for layer in spec["layer"]
                 if "scale" in layer["encoding"].get("y", {})]
        assert len(found) >= 1
        return list(found[0])

    highest = max(Rate.of(n, 1000).high or 0.0 for n in (380, 410))  # Wilson upper ends: 0.441
    assert 0.4 < highest < 0.5 and domain((380, 410), 1000) == [0, 0.5]
    assert domain((990, 1000), 1000) == [0, 1.0]
    assert domain((0, 1), 1000) == [0, 0.1]


def test_a_background_discovery_that_fails_is_one_message_on_the_next_reload(copy_db: Path):
    """`outcome=conversion` without a `paid:` section: the first answer says it is computing; a reload names the
    problem (422), and the one after that tries again rather than keeping the failure."""
    import time

    from aha.surfaces.web.local import create_dashboard

    config = copy_db.parent / "aha.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^paid:\n(?:  .*\n)+", "", text), encoding="utf-8")
    assert "paid:" not in config.read_text(encoding="utf-8")
    with TestClient(create_dashboard(copy_db, config), base_url=LOCAL) as client:
        first = client.get("/milestones?outcome=conversion")
        assert first.status_code == 200 and 'id="discovery-computing"' in first.text
        deadline = time.monotonic() + 120
        page = first
        while page.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            page = client.get("/milestones?outcome=conversion")
        assert page.status_code == 422
        assert "--outcome conversion needs a `paid:` section" in page.text.replace("&#96;", "`")
        again = client.get("/milestones?outcome=conversion")
        assert again.status_code == 200 and 'id="discovery-computing"' in again.text


def test_a_note_sent_from_a_filtered_drop_off_page_returns_to_the_same_filters(copy_db: Path):
    """The redirect after a note keeps every filter of the page it was written on (the signup range was dropped),
    and nothing else: `back` is the client's, so only the drop-off page's own parameters are carried."""
    from aha.surfaces.web.local import create_dashboard

    with TestClient(create_dashboard(copy_db, copy_db.parent / "aha.yaml"), base_url=LOCAL) as client:
        page = client.get("/drop-off?from=2026-01-05&to=2026-02-01&segment=plan")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        step = re.search(r'name="step" value="([^"]+)"', page.text)
        back = re.search(r'name="back" value="([^"]+)"', page.text)
        assert csrf and step and back and "from=2026-01-05" in back.group(1)
        sent = client.post("/drop-off/notes", follow_redirects=False, headers={"origin": "http://127.0.0.1"},
                           data={"csrf": csrf.group(1), "step": step.group(1), "author": "ana", "body": "stall",
                                 "back": back.group(1).replace("&amp;", "&") + "&evil=https://x.example"})
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert location.startswith("/drop-off?") and location.endswith(f"#step-{step.group(1)}")
    assert {"from=2026-01-05", "to=2026-02-01", "segment=plan"} <= set(location.split("#")[0][10:].split("&"))
    assert "evil" not in location
