"""Webhook delivery to a real receiver on 127.0.0.1: signatures verified by the `standardwebhooks` package (an
independent implementation), nothing sent to held-out users, retries with the same webhook-id after failures, a
final failure kept and replayed. The clock is injected: no sleeps."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from aha.definitions import parse
from aha.guidance.delivery import MAX_ATTEMPTS
from aha.guidance.rules import FIRINGS
from aha.project import Project
from aha.store import open_store
from tests.guidance.conftest import SECRET, nudge_definitions
from tests.journeys import write_events

START = datetime(2026, 1, 1)


def make_project(folder: Path, url: str, users: int = 40) -> Project:
    store = open_store(folder / "aha.duckdb")
    write_events(store, [(f"u{i:02d}", "Signed Up", (START + timedelta(minutes=i)).isoformat()) for i in range(users)])
    return Project(store, parse(nudge_definitions(url, holdout=0.25)))


def run(project: Project, now: datetime):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return project.run_rules(as_of="2026-01-01T12:00", now=now)


def statuses(project: Project) -> dict[str, str]:
    return dict(project.store.raw.execute(f"SELECT user_id, status FROM {FIRINGS}").fetchall())


def test_signed_deliveries_to_nudged_users_only(tmp_path, receiver):
    project = make_project(tmp_path, receiver.url)
    result = run(project, START + timedelta(hours=12))
    nudged = {u for u, s in statuses(project).items() if s != "held_out"}
    assert result.delivered == len(nudged) == len(receiver.received) and result.failed == 0
    verifier = Webhook(SECRET)
    got = set()
    for headers, body in receiver.received:
        payload = verifier.verify(body, headers)  # raises on a bad signature, id or timestamp
        got.add(payload["data"]["user_id"])
        assert payload["data"]["rule_id"] == "connect_nudge"
        assert payload["data"]["state"]["next_milestone"] == "connected"
    assert got == nudged  # nobody held out was sent anything
    again = run(project, START + timedelta(hours=13))
    assert again.sent == 0 and len(receiver.received) == len(nudged)  # delivered once


def test_retries_keep_the_webhook_id(tmp_path, receiver):
    project = make_project(tmp_path, receiver.url, users=4)
    receiver.fail = 10**6
    first = run(project, START + timedelta(hours=12))
    assert first.retrying == first.sent > 0 and first.delivered == 0
    soon = run(project, START + timedelta(hours=12, seconds=10))
    assert soon.sent == 0  # not due yet: the first wait is 30 s × a jitter in [0.5, 1.5)
    receiver.fail = 0
    later = run(project, START + timedelta(hours=12, minutes=5))
    assert later.delivered == first.sent
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert len(ids) == len(set(ids)) == first.sent


def test_a_final_failure_is_kept_and_replayed(tmp_path, receiver):
    project = make_project(tmp_path, receiver.url, users=4)
    receiver.fail = 10**6
    now = START + timedelta(hours=12)
    for _ in range(MAX_ATTEMPTS):
        last = run(project, now)
        now += timedelta(hours=2)  # past the longest wait
    assert last.failed > 0
    failed = project.interventions(status="failed")
    assert failed.total == last.failed and all(i.last_error == "HTTP 500" for i in failed.interventions)
    assert all(i.attempts == MAX_ATTEMPTS for i in failed.interventions)
    receiver.fail = 0
    assert project.replay_failed() == failed.total
    assert run(project, now).delivered == failed.total
    assert json.loads(receiver.received[0][1])["type"] == "aha.rule.fired"


def test_a_rule_whose_channel_is_edited_sends_its_waiting_firings_the_new_way(tmp_path, receiver):
    """Firings recorded for a webhook that could not be sent yet, then the rule edited to an in-app message: the
    waiting firings become the users' messages (they stayed pending forever, neither sent nor shown). Edited back
    to the webhook, the messages not yet acknowledged are sent by webhook, each once."""
    from aha.guidance.delivery import acknowledge, in_app_messages

    project = make_project(tmp_path, receiver.url, users=6)
    receiver.fail = 10**6
    first = run(project, START + timedelta(hours=12))
    waiting = sorted(u for u, s in statuses(project).items() if s == "pending")
    assert first.retrying == len(waiting) > 1 and receiver.received == []
    in_app = nudge_definitions(receiver.url).replace(
        f'{{webhook: "{receiver.url}", secret: "{SECRET}"}}', '{in_app: "Connect your data"}')
    edited = Project(project.store, parse(in_app))
    assert run(edited, START + timedelta(hours=13)).sent == 0  # nothing left for a webhook to send
    rules = edited.definitions.rules
    shown = {u: in_app_messages(edited.store, rules, u) for u in waiting}
    assert all(len(m) == 1 and m[0].text == "Connect your data" for m in shown.values())
    assert acknowledge(edited.store, rules, waiting[0], shown[waiting[0]][0].id, START + timedelta(hours=14))
    assert in_app_messages(edited.store, rules, waiting[0]) == []
    back = Project(project.store, parse(nudge_definitions(receiver.url)))
    receiver.fail = 0
    again = run(back, START + timedelta(hours=15))
    assert again.delivered == len(waiting) - 1
    assert sorted(json.loads(body)["data"]["user_id"] for _, body in receiver.received) == waiting[1:]
    channels = dict(project.store.raw.execute(f"SELECT user_id, channel FROM {FIRINGS} WHERE status = 'delivered'")
                    .fetchall())
    assert channels == {waiting[0]: "in_app", **{u: "webhook" for u in waiting[1:]}}


def test_waiting_firings_of_a_removed_rule_are_withdrawn_not_sent(tmp_path, receiver):
    """Firings waiting for a receiver that fails, then the rule removed from the definitions: the next pass marks
    them `withdrawn`, naming the rule (they stayed `pending` for ever, sent by nothing, counted as pending). Added
    back under the same id, the rule sends none of them and records those users again for nobody; its impact counts
    a withdrawn firing in neither arm (it was not nudged, and the hash did not hold it out)."""
    project = make_project(tmp_path, receiver.url, users=12)  # holdout 0.25
    receiver.fail = 10**6
    first = run(project, START + timedelta(hours=12))
    before = statuses(project)
    waiting = sorted(u for u, s in before.items() if s == "pending")
    held = sorted(u for u, s in before.items() if s == "held_out")
    assert first.retrying == len(waiting) > 1 and held and receiver.received == []
    no_rules = nudge_definitions(receiver.url).split("rules:")[0]
    removed = Project(project.store, parse(no_rules))
    assert run(removed, START + timedelta(hours=13)).withdrawn == len(waiting)
    after = statuses(project)
    assert {u for u, s in after.items() if s == "withdrawn"} == set(waiting)
    assert {u for u, s in after.items() if s == "held_out"} == set(held)  # history, unchanged
    listed = project.interventions(status="withdrawn", limit=100)
    assert listed.total == len(waiting)
    assert all("rule 'connect_nudge' was removed" in (i.last_error or "") for i in listed.interventions)
    assert project.interventions(limit=100).by_status == {"held_out": len(held), "withdrawn": len(waiting)}
    back = Project(project.store, parse(nudge_definitions(receiver.url, holdout=0.25)))
    receiver.fail = 0
    again = run(back, START + timedelta(hours=14))
    assert again.sent == 0 and again.withdrawn == 0 and receiver.received == []
    assert again.rules[0].new == 0 and again.rules[0].already == len(waiting) + len(held)
    assert statuses(project) == after
    impact = back.impact("connect_nudge", as_of="2026-01-01T12:00")
    assert impact.nudged.eligible == 0 and impact.held_out.eligible == len(held)


def test_the_server_s_schedule_withdraws_when_no_rule_is_left(tmp_path, receiver):
    """`aha serve`'s schedule skipped its pass when the definitions had no rule left, so the last rule's removal
    withdrew nothing: its pass withdraws the waiting firings even then (here the schedule runs one pass on the store,
    as the server's reader runs it)."""
    import asyncio

    from aha.surfaces.api.state import rules_schedule

    project = make_project(tmp_path, receiver.url, users=6)
    receiver.fail = 10**6
    run(project, START + timedelta(hours=12))
    waiting = {u for u, s in statuses(project).items() if s == "pending"}
    assert waiting

    class Definitions:
        def get(self):
            return parse(nudge_definitions(receiver.url).split("rules:")[0])

    class OnePass:
        def __init__(self):
            self.ran = asyncio.Event()

        async def run(self, work, transaction):
            result = work(project.store)
            self.ran.set()
            return result

    async def one_pass():
        reader = OnePass()
        task = asyncio.create_task(rules_schedule(reader, Definitions(), 0))  # type: ignore[arg-type]
        await reader.ran.wait()
        task.cancel()

    asyncio.run(one_pass())
    assert {u for u, s in statuses(project).items() if s == "withdrawn"} == waiting
    assert receiver.received == []
