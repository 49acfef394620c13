"""`GET /v1/users/{id}/milestones` on the real server: every user of a sample agrees with the engine's state; who may
read (read keys, the local token, a browser with its own user's HMAC; never a write key); unknown ids are 404."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import httpx

import aha
from aha.ingest.service import now_utc
from aha.surfaces.api.state import IDENTITY_SECRET_ENV, user_hash
from tests.serving import Server, create_key, free_port

SECRET = "test-identity-secret"


def test_every_user_agrees_with_the_engine(sample_db: Path):
    sample = sample_db
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(sample), str(sample.parent / "aha.yaml"))
        # The server reads checklists as of now; every window of the sample (2026-01 to 2026-05) has ended by then,
        # so the engine's state as of any moment of this test is the same.
        frame = project.state(as_of=now_utc()).to_frame()
        project.close()
    users = frame[(frame.entity_type == "user") & (frame.milestone_id != "_paid")]
    expected = {(r.entity_id, r.milestone_id): (r.status, float(r.progress)) for r in users.itertuples()}
    read_key = create_key(sample, "reader", "read")
    write_key = create_key(sample, "writer", "write")
    os.environ[IDENTITY_SECRET_ENV] = SECRET
    server = Server(sample, free_port()).start()
    try:
        got = {}
        with httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {read_key}"}) as client:
            for user in sorted(set(users.entity_id)):
                answer = client.get(f"/v1/users/{user}/milestones")
                assert answer.status_code == 200, answer.text
                for item in answer.json()["items"]:
                    got[(user, item["id"])] = (item["status"], float(item["progress"]))
            missing = client.get("/v1/users/nobody/milestones")
            assert missing.status_code == 404 and "no signed-up user 'nobody'" in missing.json()["reason"]
        assert got == expected
        one = sorted(set(users.entity_id))[0]
        url = f"{server.url}/v1/users/{one}/milestones"
        assert httpx.get(url, headers={"Authorization": f"Bearer {write_key}"}).status_code == 403
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, params={"user_hash": user_hash(SECRET, one)}).status_code == 200
        assert httpx.get(url, params={"user_hash": user_hash(SECRET, "someone else")}).status_code == 403
        assert httpx.get(url, params={"user_hash": user_hash("wrong secret", one)}).status_code == 403
    finally:
        server.stop()
        os.environ.pop(IDENTITY_SECRET_ENV, None)


def test_a_browser_reads_its_checklist_as_of_now_only(sample_db: Path):
    """`as_of` builds the whole state as of that moment on the server's one reader (0.5 s of CPU per distinct moment
    at 1M events): with only its own user_hash, any user's browser could send a stream of them and hold the
    dashboard, every read and the rules' passes behind its own. A read key still reads any moment."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = aha.open(str(sample_db), str(sample_db.parent / "aha.yaml"))
        one = sorted(project.state(as_of="2026-03-01").to_frame().query("entity_type == 'user'").entity_id)[0]
        then = project.user_state(one, as_of="2026-03-01")
        project.close()
    read_key = create_key(sample_db, "past-reader", "read")
    os.environ[IDENTITY_SECRET_ENV] = SECRET
    server = Server(sample_db, free_port()).start()
    try:
        url = f"{server.url}/v1/users/{one}/milestones"
        mine = {"user_hash": user_hash(SECRET, one)}
        assert httpx.get(url, params=mine, timeout=120).status_code == 200
        refused = httpx.get(url, params={**mine, "as_of": "2026-03-01"}, timeout=120)
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "as_of" and "needs a read key" in refused.json()["reason"]
        past = httpx.get(url, params={"as_of": "2026-03-01"}, headers={"Authorization": f"Bearer {read_key}"},
                         timeout=120)
        assert past.status_code == 200, past.text
        assert [(i["id"], i["status"]) for i in past.json()["items"]] == [(i.id, i.status) for i in then.items]
    finally:
        server.stop()
        os.environ.pop(IDENTITY_SECRET_ENV, None)
