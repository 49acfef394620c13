"""A group call made by an anonymous visitor who signs up and identifies later (Segment's `group` with only an
anonymousId; docs/semantics.md, "Accounts"): the membership is the user's once the identify links the id, on the
import and the tracking server alike, and an incremental update after the identify equals the hand count.

Before, both paths acknowledged the call (the account's traits were stored) and dropped its membership: v1 was in
no account, so acme's t0 was v2's signup (09:30, not v1's 09:00) and its 3-action milestone was not reached."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.serving import aha, create_key, running, settled

YAML = """
signup: {event: Signed Up}
milestones:
  - {id: act, name: Act, level: primary, event: Action, within: 7d}
  - {id: team_work, name: Team work, level: secondary, entity: account, event: Action, count: 3, within: 7d}
  - {id: two, name: Two members, level: secondary, entity: account,
     members_reached: {milestone: act, at_least: 2}, within: 7d}
"""
BEFORE = [  # the visit: a group call and an action, anonymous
    {"type": "group", "anonymousId": "an1", "groupId": "acme", "timestamp": "2026-03-01T08:00:00Z"},
    {"type": "track", "anonymousId": "an1", "event": "Action", "timestamp": "2026-03-01T08:30:00Z"},  # before t0
    {"type": "track", "userId": "v2", "event": "Signed Up", "timestamp": "2026-03-01T09:30:00Z",
     "context": {"groupId": "acme"}},
]
AFTER = [
    {"type": "track", "userId": "v1", "event": "Signed Up", "timestamp": "2026-03-01T09:00:00Z"},  # acme's t0
    {"type": "identify", "userId": "v1", "anonymousId": "an1", "timestamp": "2026-03-01T09:05:00Z"},
    *({"type": "track", "userId": "v1", "event": "Action", "timestamp": f"2026-03-01T{h}:00:00Z"}
      for h in (10, 11, 12)),  # credited to acme, v1's first group: the 3rd at 12:00
    {"type": "track", "userId": "v2", "event": "Action", "timestamp": "2026-03-01T13:00:00Z",
     "context": {"groupId": "acme"}},  # v2 reaches act: the 2nd member at 13:00
]
for n, call in enumerate([*BEFORE, *AFTER]):
    call["messageId"] = f"m{n}"
AS_OF = "2026-03-20T00:00:00"


def acme(folder: Path) -> dict[str, tuple[str, str | None]]:
    done = aha("state", "acme", "--account", "--as-of", AS_OF, "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    return {"t0": (found["signed_up_at"], None),
            **{i["id"]: (i["status"], i["reached_at"]) for i in found["items"]}}


EXPECTED = {"t0": ("2026-03-01T09:00:00Z", None), "team_work": ("reached", "2026-03-01T12:00:00Z"),
            "two": ("reached", "2026-03-01T13:00:00Z")}


def test_an_anonymous_group_call_is_the_users_once_identified(tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "aha.yaml").write_text(YAML, encoding="utf-8")
    for part, calls in (("before", BEFORE), ("after", AFTER)):
        (imported / f"{part}.jsonl").write_text("\n".join(json.dumps(c) for c in calls) + "\n", encoding="utf-8")
    assert aha("import", "before.jsonl", cwd=imported).returncode == 0
    assert acme(imported)["t0"] == ("2026-03-01T09:30:00Z", None)  # v2 only: an1 is nobody yet
    assert aha("import", "after.jsonl", cwd=imported).returncode == 0  # the stored state is brought up to date
    assert acme(imported) == EXPECTED

    served = tmp_path / "served" / "aha.duckdb"
    served.parent.mkdir()
    (served.parent / "aha.yaml").write_text(YAML, encoding="utf-8")
    key = create_key(served)
    with running(served) as server:
        answer = httpx.post(server.url + "/v1/batch", json={"batch": [*BEFORE, *AFTER]}, auth=(key, ""))
        assert answer.status_code == 200 and answer.json()["accepted"] == len(BEFORE) + len(AFTER), answer.text
        settled(server)
    assert acme(served.parent) == EXPECTED
