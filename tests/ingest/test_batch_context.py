"""A batch's `context` applies to each of its calls and is no amplifier (the real server, its DuckDB file).

Before: each call of a batch was measured, and dead-lettered, with the batch's context copied into it. A 500 KB batch
of 2,500 empty calls and a 400 KB context (any holder of a write key, which a web page carries in the clear) made
the server serialise a gigabyte and write a gigabyte of dead letters to its spool and DuckDB file, for one request;
a few such requests filled the disk. Now the context is measured once, and a refused call's dead letter is the call
as it was sent (docs/ingest.md: "Dead letters from batch calls keep the call only").
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.serving import create_key, rows, running, sample_db

CONTEXT = {"page": {"title": "é" * 20_000}, "groupId": "acme"}  # 40 KB in UTF-8: past one call's 32 KB with any call


def test_a_batch_context_is_measured_once_and_never_copied_into_dead_letters(tmp_path: Path) -> None:
    db = sample_db(tmp_path, users=20)
    key = create_key(db)
    calls = [{"type": "track", "userId": f"ctx{i}", "event": "Clicked", "messageId": f"ctx-{i}"} for i in range(300)]
    body = json.dumps({"batch": calls, "context": CONTEXT}).encode()
    small = {"batch": [{"type": "track", "userId": "ctx-ok", "event": "Clicked", "messageId": "ctx-ok"}],
             "context": {"groupId": "acme"}}
    with running(db) as server:
        answer = httpx.post(server.url + "/v1/batch", content=body, auth=(key, ""), timeout=120,
                            headers={"content-type": "application/json"})
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["accepted"] == 0 and len(got["rejected"]) == 300
        for call, rejected in zip(calls, got["rejected"], strict=True):  # each measured with the context, exactly
            size = len(json.dumps({**call, "context": CONTEXT}, ensure_ascii=False).encode())
            assert rejected["reason"] == f"call is {size} bytes; the limit is 32768 (32 KB)"
        fine = httpx.post(server.url + "/v1/batch", json=small, auth=(key, ""), timeout=120)
        assert fine.status_code == 200 and fine.json()["accepted"] == 1
    letters = rows(db, "SELECT raw FROM dead_letters WHERE file = 'http' AND reason LIKE 'call is %' ORDER BY line")
    assert [json.loads(str(raw)) for (raw,) in letters] == calls  # each the call as sent
    assert sum(len(str(raw)) for (raw,) in letters) < len(body)  # before: 300 × 40 KB = 12 MB from a 52 KB body
    stored = rows(db, "SELECT user_id, account_id FROM events WHERE message_id = 'ctx-ok'")
    assert stored == [("ctx-ok", "acme")]  # a call within the limit still takes the batch's context
