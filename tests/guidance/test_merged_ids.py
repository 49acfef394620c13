"""Identity chains through both paths (docs/semantics.md, "Merged users", "Checklist"): the same calls imported
from a file and sent to a real server give one user C for the chain A → B → C with an anonymous visit of A's; its
events before each merge are counted once, from A's signup; and asking for A (or B, or the anonymous id) names C.

Before, `aha state A` and GET /v1/users/A/milestones said only "no signed-up user 'A' ... or it was never seen",
although A had signed up and its every event counted in C's checklist."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.serving import aha, create_key, running, settled

YAML = """
signup: {event: Signed Up}
milestones:
  - {id: active, name: Active, level: primary, event: Action, count: 5, within: 7d}
"""
CALLS = [
    {"type": "track", "anonymousId": "anon1", "event": "Action", "timestamp": "2026-03-01T09:00:00Z"},  # before t0
    {"type": "track", "userId": "A", "event": "Signed Up", "timestamp": "2026-03-01T10:00:00Z"},  # C's t0
    {"type": "identify", "userId": "A", "anonymousId": "anon1", "timestamp": "2026-03-01T10:01:00Z"},
    {"type": "track", "userId": "A", "event": "Action", "timestamp": "2026-03-01T12:00:00Z"},  # 1
    {"type": "track", "userId": "B", "event": "Signed Up", "timestamp": "2026-03-02T10:00:00Z"},
    {"type": "track", "userId": "B", "event": "Action", "timestamp": "2026-03-02T11:00:00Z"},  # 2
    {"type": "alias", "previousId": "A", "userId": "B", "timestamp": "2026-03-03T10:00:00Z"},
    {"type": "track", "userId": "C", "event": "Signed Up", "timestamp": "2026-03-04T10:00:00Z"},
    {"type": "track", "userId": "C", "event": "Action", "timestamp": "2026-03-04T11:00:00Z"},  # 3
    {"type": "alias", "previousId": "B", "userId": "C", "timestamp": "2026-03-05T10:00:00Z"},
    {"type": "track", "userId": "C", "event": "Action", "timestamp": "2026-03-08T10:00:00Z"},  # t0 + 7d: outside
]
for n, call in enumerate(CALLS):
    call["messageId"] = f"m{n}"
AS_OF = "2026-03-10T00:00:00"


def merged_into(target: str, who: str, moment: str) -> str:
    return (f"'{who}' is not a user of its own as of {moment} UTC: an identify or alias call links it to the user "
            f"'{target}', whose checklist counts its events (ask for '{target}').")


def test_an_id_merged_into_another_user_names_that_user(tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "aha.yaml").write_text(YAML, encoding="utf-8")
    (imported / "calls.jsonl").write_text("\n".join(json.dumps(c) for c in CALLS) + "\n", encoding="utf-8")
    assert aha("import", "calls.jsonl", cwd=imported).returncode == 0
    done = aha("state", "C", "--as-of", AS_OF, "--json", cwd=imported)
    assert done.returncode == 0, done.stderr
    c = json.loads(done.stdout)
    # by hand: t0 = A's signup; A's, B's and C's actions inside [t0, t0 + 7d) once each; anon1's is before t0
    assert (c["signed_up_at"], c["items"][0]["progress"], c["items"][0]["status"]) == ("2026-03-01T10:00:00Z", 3,
                                                                                       "missed")
    for who in ("A", "B", "anon1"):
        done = aha("state", who, "--as-of", AS_OF, cwd=imported)
        assert done.returncode != 0 and merged_into("C", who, "2026-03-10 00:00") in " ".join(done.stderr.split())
    done = aha("state", "A", "--as-of", "2026-03-04T00:00:00", cwd=imported)  # before B → C: A is B's
    assert merged_into("B", "A", "2026-03-04 00:00") in " ".join(done.stderr.split())
    done = aha("state", "nobody", "--as-of", AS_OF, cwd=imported)
    assert "no signed-up user 'nobody'" in done.stderr

    served = tmp_path / "served" / "aha.duckdb"
    served.parent.mkdir()
    (served.parent / "aha.yaml").write_text(YAML, encoding="utf-8")
    key = create_key(served)
    reader = create_key(served, "reader", "read")
    with running(served) as server:
        answer = httpx.post(server.url + "/v1/batch", json={"batch": CALLS}, auth=(key, ""))
        assert answer.status_code == 200 and answer.json()["accepted"] == len(CALLS), answer.text
        settled(server)
        headers = {"Authorization": f"Bearer {reader}"}
        got = httpx.get(f"{server.url}/v1/users/C/milestones", params={"as_of": AS_OF}, headers=headers).json()
        assert (got["signed_up_at"], got["items"][0]["progress"]) == ("2026-03-01T10:00:00Z", 3)
        for params in ({"as_of": AS_OF}, {}):  # as of a moment, and live (the server's copy)
            answer = httpx.get(f"{server.url}/v1/users/A/milestones", params=params, headers=headers)
            assert answer.status_code == 404
            assert "links it to the user 'C'" in answer.json()["reason"]
        answer = httpx.get(f"{server.url}/v1/users/A/milestones", params={"as_of": "2026-03-04T00:00:00"},
                           headers=headers)
        assert answer.json()["reason"] == merged_into("B", "A", "2026-03-04 00:00")
