"""The dashboard's `/accounts` and `/accounts/{id}` pages on the b2b sample: the accounts ranked as `aha accounts`
ranks them, a signal filter, each signal against account conversion as `aha evaluate --signals` says, one account's
members as the memberships in the store hold them, and a 404 for an account that is not there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.serving import aha as run_aha
from tests.serving import dashboard_page, rows
from tests.surfaces.test_web import metrics


@pytest.fixture(scope="module")
def b2b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("b2b")
    done = run_aha("sample", "--b2b", "--users", "2000", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "aha.duckdb"


def cli(db: Path, *args: str) -> dict[str, object]:
    done = run_aha(*args, "--json", cwd=db.parent)
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def get(db: Path, path: str, status: int = 200) -> str:
    return dashboard_page(db, db.parent / "aha.yaml", path, status)


def listed(html: str) -> list[str]:
    return re.findall(r'<td><a href="/accounts/([^"?]+)', html)


def test_the_accounts_page_ranks_as_the_cli_and_filters_by_signal(b2b: Path):
    expected = cli(b2b, "accounts", "--top", "50")
    html = get(b2b, "/accounts")
    shown = metrics(html)
    ranked = [a["account_id"] for a in expected["accounts"]]  # type: ignore[index]
    assert listed(html) == ranked and len(ranked) == 50
    assert shown["accounts.total"] == f"{expected['total']:,}"
    assert int(str(expected["total"])) == len({r[0] for r in rows(b2b, "SELECT account_id FROM memberships")})
    for a in expected["accounts"]:  # type: ignore[attr-defined]
        assert shown[f"accounts.{a['account_id']}.score"] == f"{a['score']:.1f}"
    team = cli(b2b, "accounts", "--signal", "team", "--top", "50")
    filtered = get(b2b, "/accounts?signal=team")
    assert listed(filtered) == [a["account_id"] for a in team["accounts"]]  # type: ignore[index]
    assert metrics(filtered)["accounts.total"] == f"{team['total']:,}"
    assert 0 < int(str(team["total"])) < int(str(expected["total"]))
    assert all(a["highest_signal"] == "team" for a in team["accounts"])  # type: ignore[index]


def test_each_signal_against_conversion_equals_evaluate_signals(b2b: Path):
    expected = cli(b2b, "evaluate", "--signals")
    shown = metrics(get(b2b, "/accounts"))
    for s in expected["signals"]:  # type: ignore[attr-defined]
        cmp = s["comparison"]
        assert shown[f"signals.{s['signal_id']}.with"] == f"{cmp['rate_reached']:.1%}"
        assert shown[f"signals.{s['signal_id']}.without"] == f"{cmp['rate_not_reached']:.1%}"
        assert s["a"] + s["b"] + s["c"] + s["d"] == s["population"]


def test_one_account_lists_its_members_as_the_store_holds_them(b2b: Path):
    top = cli(b2b, "accounts", "--top", "1")["accounts"][0]  # type: ignore[index]
    account = top["account_id"]
    html = get(b2b, f"/accounts/{account}")
    members = set(re.findall(r'<td><a href="/users/([^"]+)"', html))
    # independently: the users the store's memberships put in this account
    stored = {str(r[0]) for r in rows(b2b, f"SELECT DISTINCT user_id FROM memberships WHERE account_id = '{account}'")}
    assert members and members <= stored
    assert metrics(html)["account.members"] == f"{top['members']:,}" == f"{len(members):,}"
    assert "no account 'nosuch'" in get(b2b, "/accounts/nosuch", 404).replace("&#39;", "'")


def test_without_signals_the_page_says_how_to_add_them(b2b: Path, tmp_path: Path):
    import shutil

    shutil.copy(b2b, tmp_path / "aha.duckdb")
    text = (b2b.parent / "aha.yaml").read_text(encoding="utf-8")
    start = text.index("\nsignals:")
    end = text.find("\n", text.find("\n", start + 1))
    while end != -1 and text[end + 1:end + 2] in (" ", "#"):  # the section's indented lines
        end = text.find("\n", end + 1)
    (tmp_path / "aha.yaml").write_text(text[:start] + (text[end:] if end != -1 else "\n"), encoding="utf-8")
    html = get(tmp_path / "aha.duckdb", "/accounts")
    assert "No signals in the definitions" in html and "accounts.total" in html


def test_an_account_id_that_is_markup_is_shown_as_text(b2b: Path, tmp_path: Path):
    """Account ids come from users' apps (group calls, events' account ids): escaped on the list and its own page."""
    import shutil
    from urllib.parse import quote

    hostile = "<script>alert(1)</script>"
    shutil.copy(b2b, tmp_path / "aha.duckdb")
    shutil.copy(b2b.parent / "aha.yaml", tmp_path / "aha.yaml")
    signup = str(rows(b2b, "SELECT max(timestamp) FROM events")[0][0]).replace(" ", "T") + "Z"
    lines = [{"type": "track", "userId": "markup-user", "event": "Signed Up", "timestamp": signup},
             {"type": "group", "userId": "markup-user", "groupId": hostile, "timestamp": signup}]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    done = run_aha("import", "calls.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    html = get(tmp_path / "aha.duckdb", f"/accounts/{quote(hostile, safe='')}")
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "markup-user" in html
    listing = get(tmp_path / "aha.duckdb", "/accounts?signal=&as_of=")
    assert hostile not in listing


def test_a_signal_rules_firings_link_to_their_accounts_on_the_nudges_page(b2b: Path, tmp_path: Path):
    import shutil

    from tests.serving import free_port

    shutil.copy(b2b, tmp_path / "aha.duckdb")
    text = (b2b.parent / "aha.yaml").read_text(encoding="utf-8")
    rule = ("\nrules:\n  - id: team_to_sales\n    when: {signal: team}\n    late_after: 365d\n    holdout: 0.2\n"
            f"    then: {{webhook: \"http://127.0.0.1:{free_port()}/hook\", secret: \"whsec_{'A' * 32}\"}}\n")
    (tmp_path / "aha.yaml").write_text(text + rule, encoding="utf-8")
    done = run_aha("rules", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    firings = rows(tmp_path / "aha.duckdb", "SELECT count(*), count(*) FILTER (WHERE held_out) FROM aha_firings")[0]
    assert int(str(firings[0])) > 0 and int(str(firings[1])) > 0
    html = get(tmp_path / "aha.duckdb", "/nudges")
    linked = re.findall(r'<td><a href="/accounts/([^"]+)">', html)
    assert linked and all(a.startswith("w") for a in linked)
    assert metrics(html)["nudges.team_to_sales.outbox.total"] == f"{int(str(firings[0])):,}"
    assert "of accounts held out" in html
