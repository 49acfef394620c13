"""Delivering recorded firings: signed webhooks (Standard Webhooks) and emails, retried with backoff, failures
kept.

A firing is in the outbox before anything is sent (guidance.rules), so a crash loses nothing; it is marked delivered
only after the receiver answered 2xx, so a crash between the two sends it again, with the same `webhook-id`: the
Standard Webhooks idempotency key receivers deduplicate on (docs/semantics.md, "Delivery").

- Headers: `webhook-id` (stable per firing: `msg_` + a hash of rule and user), `webhook-timestamp` (Unix seconds of
  the send), `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes>`.
- Retries: after the n-th failed attempt the next waits min(30 s × 2^(n−1), 1 h) × a jitter in [0.5, 1.5); after
  MAX_ATTEMPTS the firing is `failed`, listed by `aha interventions --failed` and sent again by `--replay-failed`.
- A send reads the receiver's status and headers only, within ANSWER_SECONDS in all; a URL that gave no answer is
  not sent to again in the same pass (its other firings fail that attempt, saying so). Nor is the SMTP server: a
  server that does not answer (down, a firewall dropping its port, no greeting) cost each email its 10 s timeout, up
  to 500 per pass, with the reader (every dashboard page and read) waiting behind the pass.
- In-app firings are not sent: the product fetches them (`GET /v1/users/{id}/messages`) and acknowledges them.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aha.analyses.accounts import summaries as account_summaries
from aha.analyses.state import MilestoneState
from aha.definitions.rules import Rule
from aha.engine import columns as c
from aha.errors import UserError
from aha.guidance import account_rules, email, limits
from aha.guidance.checklist import UnknownEntity, checklist, linked_user
from aha.guidance.rules import DELIVERED, FAILED, FIRINGS, PENDING, WITHDRAWN, ensure_outbox, people
from aha.guidance.templates import TemplateRenderer
from aha.results import to_jsonable
from aha.store import Store, one_row

MAX_ATTEMPTS = 8
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
BATCH = 500  # firings sent per pass at most
TIMEOUT_SECONDS = 10.0  # each connect, write and read of a send
ANSWER_SECONDS = 30.0  # a send in all, to the receiver's status and headers (its body is never read)
ERROR_SHOWN = 200
SMTP_SERVER = "smtp:"  # the key of the SMTP server among the receivers of a pass (no webhook URL is spelled so)

Post = Callable[[str, bytes, dict[str, str]], int]  # (url, body, headers) → HTTP status; raises OSError-likes


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    attempted: int
    delivered: int
    retrying: int
    failed: int  # failed for good this pass
    deferred: int = 0  # held back by the per-user cap or quiet hours (not an attempt)
    withdrawn: int = 0  # waiting firings whose rule was removed: withdrawn, never sent


def message_id(rule_id: str, user_id: str, occurrence: int = 1) -> str:
    digest = hashlib.sha256(f"{rule_id}\x00{user_id}\x00{occurrence}".encode("utf-8", "surrogatepass"))
    return "msg_" + digest.hexdigest()[:32]


def secret_bytes(rule: Rule) -> bytes:
    """The rule's signing secret as bytes: `whsec_<base64>`, or read from the environment (`env:NAME`)."""
    raw = rule.then.secret or ""
    if raw.startswith("env:"):
        name = raw.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise UserError(f"rule {rule.id!r}: its webhook secret comes from the environment variable {name}, which "
                            "is not set. Set it (whsec_<base64>) where aha runs.")
        raw = value
    try:
        return base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise UserError(f"rule {rule.id!r}: the webhook secret is not whsec_ followed by base64.") from None


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


PROBE_SECONDS = 2.0


def unreachable(url: str, timeout: float = PROBE_SECONDS) -> str | None:
    """Why a webhook URL cannot be reached now (a TCP connection to its host and port), or None when it can."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "its port is not a number"
    if not parts.hostname:
        return "it names no host"
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except socket.gaierror:
        return f"the host {parts.hostname} does not resolve"
    except ConnectionRefusedError:
        return f"nothing listens on {parts.hostname}:{port} (connection refused)"
    except TimeoutError:
        return f"{parts.hostname}:{port} did not answer within {timeout:g} s"
    except OSError as exc:
        return f"{parts.hostname}:{port}: {exc.strerror or exc}"
    return None


def shown_url(url: str) -> str:
    """A webhook URL as a message may show it: credentials in it (`https://user:token@host/`, which httpx sends as
    Basic auth) are replaced by `***`, so a log line or terminal never carries them."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The receiver's HTTP status, read within ANSWER_SECONDS in all. Only the status line and headers are read: a
    receiver's body (gigabytes, or one byte every few seconds for ever) is never read, and a receiver that sends its
    headers slowly is given up at the deadline (httpx's own timeout bounds each read, not the answer)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop in this thread
        return asyncio.run(_post(url, body, headers))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # called inside a running loop (a notebook): asyncio.run needs its own thread
        return pool.submit(asyncio.run, _post(url, body, headers)).result()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import asyncio

    import httpx

    try:
        async with (asyncio.timeout(ANSWER_SECONDS),
                    httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client,
                    client.stream("POST", url, content=body, headers=headers) as response):
            return response.status_code  # closed unread: the connection is dropped, not drained
    except TimeoutError:
        raise TimeoutError(f"the receiver did not answer within {ANSWER_SECONDS:g} s") from None


def deliver(store: Store, ms: MilestoneState, now: datetime, post: Post = http_post,
            rng: random.Random | None = None) -> DeliveryRun:
    """Send every pending webhook firing that is due (`next_attempt_at` ≤ now), at most BATCH per pass; first
    withdraw the waiting firings of rules no longer defined."""
    ensure_outbox(store)
    withdrawn = withdraw_removed(store, [r.id for r in ms.definitions.rules], now)
    rules = {r.id: r for r in ms.definitions.rules if r.then.channel in ("webhook", "email")}
    if not rules:
        return DeliveryRun(0, 0, 0, 0, withdrawn=withdrawn)
    secrets = {rule_id: secret_bytes(rule) for rule_id, rule in rules.items() if rule.then.webhook is not None}
    smtp = email.smtp_settings() if any(r.then.email is not None for r in rules.values()) else None
    due = store.raw.execute(
        f"""SELECT rule_id, user_id, occurrence, eligible_at, milestone_id, attempts, unit, channel FROM {FIRINGS}
            WHERE status = '{PENDING}' AND list_contains(?, rule_id)
              AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
            ORDER BY eligible_at, rule_id, user_id LIMIT {BATCH}""",
        [sorted(rules), now.replace(tzinfo=None)],
    ).fetchall()
    rng = rng or random.Random()
    with TemplateRenderer() as renderer:  # its child process starts on the pass's first email, if any
        sent = _deliver_due(store, ms, now, post, rng, rules, secrets, smtp, due, renderer)
    return dataclasses.replace(sent, withdrawn=withdrawn)


def withdraw_removed(store: Store, rule_ids: list[str], now: datetime) -> int:
    """Mark `withdrawn` every firing still waiting (pending: a webhook or email not yet sent, an in-app message not
    yet acknowledged) whose rule is not among `rule_ids` (removed from the definitions): it is never sent, and its
    `last_error` names the rule. How many. A store without an outbox is left as it is."""
    exists = one_row(store.raw, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                     "AND database_name = current_database()", [FIRINGS])
    if not exists or not exists[0]:
        return 0
    where = f"WHERE status = '{PENDING}' AND NOT list_contains(?, rule_id)"
    removed = store.raw.execute(f"SELECT rule_id, count(*) FROM {FIRINGS} {where} GROUP BY rule_id ORDER BY rule_id",
                                [sorted(rule_ids)]).fetchall()
    for rule_id, _ in removed:
        reason = (f"withdrawn {now:%Y-%m-%d %H:%M} UTC: rule {rule_id!r} was removed from the definitions before "
                  "this was sent")
        store.raw.execute(f"UPDATE {FIRINGS} SET status = '{WITHDRAWN}', next_attempt_at = NULL, last_error = ? "
                          f"WHERE status = '{PENDING}' AND rule_id = ?", [reason[:ERROR_SHOWN], rule_id])
    return sum(int(n) for _, n in removed)


def _deliver_due(store: Store, ms: MilestoneState, now: datetime, post: Post, rng: random.Random,
                 rules: dict[str, Rule], secrets: dict[str, bytes], smtp: dict[str, Any] | None,
                 due: list[tuple[Any, ...]], renderer: TemplateRenderer) -> DeliveryRun:
    delivered = retrying = failed = deferred = 0
    gone: dict[str, str] = {}  # webhook URL (or SMTP_SERVER) → why its send got no answer: not tried again this pass
    accounts = account_summaries(store, ms, [r[1] for r in due if r[6] == "account"])
    # The cap counts a person's deliveries under every id of theirs: the identity links as of the state, read once.
    persons = (limits.person_ids(people(store, ms))
               if ms.definitions.nudges.cap is not None and any(r[6] == "user" for r in due) else {})
    for rule_id, user_id, occurrence, eligible_at, milestone_id, attempts, unit, channel in due:
        rule = rules[rule_id]
        key = (rule_id, user_id, occurrence)
        if channel != rule.then.channel:  # the rule's channel was edited while this firing waited: sent as it is now
            store.raw.execute(f"UPDATE {FIRINGS} SET channel = ? WHERE rule_id = ? AND user_id = ? AND occurrence = ?",
                              [rule.then.channel, *key])
        # The cap and quiet hours protect a user; an account's firing goes to its owner or a CRM, never limited.
        owner = None if unit == "account" else _owner(store, ms, user_id)
        wait_until = (None if unit == "account" else
                      limits.not_before(store, ms.definitions.nudges, user_id, now.replace(tzinfo=None),
                                        persons.get(user_id, ()), owner))
        if wait_until is not None:  # capped or quiet: deferred, not an attempt
            store.raw.execute(f"UPDATE {FIRINGS} SET next_attempt_at = ? WHERE rule_id = ? AND user_id = ? "
                              "AND occurrence = ?", [wait_until, *key])
            deferred += 1
            continue
        msg_id = message_id(rule_id, user_id, occurrence)
        payload = (account_rules.payload(ms, rule, user_id, eligible_at, msg_id, accounts.get(user_id))
                   if unit == "account" else _payload(store, ms, rule, user_id, eligible_at, milestone_id, msg_id))
        error = None
        mailed = rule.then.email is not None and smtp is not None
        try:
            if mailed and SMTP_SERVER in gone:
                error = f"not sent: an earlier send to the SMTP server in the same pass failed ({gone[SMTP_SERVER]})"
            elif mailed:
                try:
                    if unit == "account":
                        to, context = account_rules.email_context(store, rule, user_id, payload["data"])
                        _send(smtp or {}, renderer, rule, to, context, msg_id)
                    else:
                        _email(store, smtp or {}, renderer, rule, user_id, payload, msg_id, owner)
                except OSError as exc:  # no answer from the SMTP server: every other email of the pass waits too
                    if email.unanswered(exc):
                        gone[SMTP_SERVER] = f"{type(exc).__name__}: {exc}"[:ERROR_SHOWN]
                    raise
            elif (url := rule.then.webhook or "") in gone:
                error = f"not sent: an earlier send to this receiver in the same pass failed ({gone[url]})"
            else:
                try:
                    error = _webhook(post, rule, secrets[rule_id], payload, msg_id)
                except Exception as exc:  # no answer (timeout, refused, TLS): the receiver's other firings wait
                    gone[url] = f"{type(exc).__name__}: {exc}"[:ERROR_SHOWN]
                    raise
        except Exception as exc:  # any failure is a failed attempt with its reason, never a crash of the pass
            error = f"{type(exc).__name__}: {exc}"[:ERROR_SHOWN] if not isinstance(exc, ValueError) else str(exc)
        if error is None:
            stamp = now.replace(tzinfo=None)
            _update(store, key, f"status = '{DELIVERED}', delivered_at = ?, last_error = NULL", stamp)
            delivered += 1
        elif attempts + 1 >= MAX_ATTEMPTS:
            _update(store, key, f"status = '{FAILED}', last_error = ?", error)
            failed += 1
        else:
            wait = min(FIRST_WAIT * 2**attempts, LONGEST_WAIT) * rng.uniform(0.5, 1.5)
            _update(store, key, "last_error = ?, next_attempt_at = ?", error, (now + wait).replace(tzinfo=None))
            retrying += 1
    return DeliveryRun(len(due) - deferred, delivered, retrying, failed, deferred)


def _webhook(post: Post, rule: Rule, secret: bytes, payload: dict[str, Any], msg_id: str) -> str | None:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    sent_at = int(time.time())  # the receiver checks the signature's time against its own clock
    headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(sent_at),
               "webhook-signature": sign(secret, msg_id, sent_at, body), "user-agent": "aha"}
    status = post(rule.then.webhook or "", body, headers)
    return None if 200 <= status < 300 else f"HTTP {status}"


def _owner(store: Store, ms: MilestoneState, user_id: str) -> str | None:
    """The user an identify or alias call (up to the state's clock) merged `user_id` into since it was recorded, or
    None: their traits (address, time zone) are the person's. One indexed look-up when the id was never linked."""
    if one_row(store.raw, "SELECT 1 FROM identities WHERE anonymous_id = ? LIMIT 1", [user_id]) is None:
        return None
    person = linked_user(store, ms.as_of, user_id)
    return person if person != user_id else None


def _email(store: Store, smtp: dict[str, Any], renderer: TemplateRenderer, rule: Rule, user_id: str,
           payload: dict[str, Any], msg_id: str, owner: str | None = None) -> None:
    spec = rule.then.email
    assert spec is not None
    trait = spec.address_trait("user")
    traits = limits.user_traits(store, [user_id, *([owner] if owner else [])])
    to = traits.get(trait)
    if not isinstance(to, str) or "@" not in to:
        raise ValueError(f"no email address: the user has no {trait!r} trait holding one")
    to = email.one_address(to, f"the user's {trait!r} trait")
    context = {"user": traits, "user_id": user_id, "state": payload["data"]["state"], "rule": rule.id,
               "milestone": payload["data"]["milestone_id"]}
    _send(smtp, renderer, rule, to, context, msg_id)


def _send(smtp: dict[str, Any], renderer: TemplateRenderer, rule: Rule, to: str, context: dict[str, Any],
          msg_id: str) -> None:
    spec = rule.then.email
    assert spec is not None
    email.send(smtp, to, renderer.render(spec.subject, context), renderer.render(spec.body, context), msg_id)


def _update(store: Store, key: tuple[str, str, int], sets: str, *params: object) -> None:
    """One attempt's outcome on its firing (every attempt counts)."""
    store.raw.execute(f"UPDATE {FIRINGS} SET attempts = attempts + 1, {sets} "
                      "WHERE rule_id = ? AND user_id = ? AND occurrence = ?", [*params, *key])


def replay_failed(store: Store, rule_id: str | None = None) -> int:
    """Failed firings back to pending, due now, with their attempts reset: how many."""
    ensure_outbox(store)
    where = f"WHERE status = '{FAILED}' AND (? IS NULL OR rule_id = ?)"
    (n,) = one_row(store.raw, f"SELECT count(*) FROM {FIRINGS} {where}", [rule_id, rule_id]) or (0,)
    store.raw.execute(f"UPDATE {FIRINGS} SET status = '{PENDING}', attempts = 0, next_attempt_at = NULL {where}",
                      [rule_id, rule_id])
    return int(n)


def _payload(store: Store, ms: MilestoneState, rule: Rule, user_id: str, eligible_at: datetime, milestone_id: str,
             msg_id: str) -> dict[str, Any]:
    """What the receiver gets: the rule, the moment, and the user's checklist as of now (the state that fired it)."""
    try:
        state = to_jsonable(checklist(store, ms, c.USER, user_id), "checklist")
    except UnknownEntity:  # merged into another user since it was recorded, or gone from the state (data deleted)
        state = None
        person = linked_user(store, ms.as_of, user_id)
        if person is not None and person != user_id:  # its events are that user's: their checklist (`entity_id`)
            with contextlib.suppress(UnknownEntity):  # else the firing still says who and why
                state = to_jsonable(checklist(store, ms, c.USER, person), "checklist")
    return {"type": "aha.rule.fired", "id": msg_id,
            "data": {"rule_id": rule.id, "unit": "user", "user_id": user_id, "milestone_id": milestone_id,
                     "eligible_at": eligible_at.isoformat() + "Z", "holdout": rule.holdout, "state": state}}


@dataclass(frozen=True, slots=True)
class InAppMessage:
    id: str  # the firing's message id: acknowledge with it
    rule_id: str
    milestone_id: str
    text: str
    eligible_at: datetime


def in_app_messages(store: Store, rules: list[Rule], user_id: str) -> list[InAppMessage]:
    """A user's unacknowledged in-app messages (held-out users have none), oldest first: also those recorded under
    another id of theirs that an identify or alias call has since merged into `user_id` (`_merged_ids`)."""
    return [InAppMessage(message_id(rule_id, recorded, occurrence), rule_id, milestone_id, text, at)
            for rule_id, recorded, occurrence, milestone_id, at, text in _pending_in_app(store, rules, user_id)]


def _pending_in_app(store: Store, rules: list[Rule],
                    user_id: str) -> list[tuple[str, str, int, str, datetime, str]]:
    """(rule, recorded id, occurrence, milestone, moment, text) of the person's pending in-app firings."""
    ensure_outbox(store)
    texts = {r.id: r.then.in_app for r in rules if r.then.in_app is not None}
    ids = [user_id, *_merged_ids(store, sorted(texts), user_id)]
    rows = store.raw.execute(
        f"""SELECT rule_id, user_id, occurrence, milestone_id, eligible_at FROM {FIRINGS}
            WHERE list_contains(?, user_id) AND unit = 'user' AND status = '{PENDING}' AND list_contains(?, rule_id)
            ORDER BY eligible_at, rule_id, user_id""",
        [ids, sorted(texts)]).fetchall()  # by the rules' channel now: a firing recorded as a webhook's too
    return [(rule_id, recorded, occurrence, milestone_id, at, texts[rule_id] or "")
            for rule_id, recorded, occurrence, milestone_id, at in rows if rule_id in texts]


def _merged_ids(store: Store, rule_ids: list[str], user_id: str) -> list[str]:
    """The ids with a pending in-app firing that the identify and alias calls stored link to `user_id` (chains
    followed, as the state and the rules' "once per person" read them): the person nudged as `old1` and merged into
    `new1` since is shown the message when the product asks for `new1`. The links are built only when some pending
    in-app firing's id was ever linked to another (one cheap query otherwise)."""
    candidates = [r[0] for r in store.raw.execute(
        f"""SELECT DISTINCT f.user_id FROM {FIRINGS} f JOIN identities i ON i.anonymous_id = f.user_id
            WHERE f.status = '{PENDING}' AND f.unit = 'user' AND f.user_id <> ? AND list_contains(?, f.rule_id)""",
        [user_id, rule_ids]).fetchall()]
    if not candidates:
        return []
    from aha.analyses.state import event_source

    links = event_source(store, None).identity_links()
    found = store.records(links.filter(links.anonymous_id.isin(candidates) & (links.linked_user == user_id))
                          .select("anonymous_id"))
    return sorted(str(r["anonymous_id"]) for r in found)


def acknowledge(store: Store, rules: list[Rule], user_id: str, msg_id: str, now: datetime) -> bool:
    """Mark one of the user's in-app messages delivered (shown); False when it is not one of theirs or already done.
    A message recorded under an id since merged into `user_id` is marked on its recorded row."""
    for rule_id, recorded, occurrence, *_ in _pending_in_app(store, rules, user_id):
        if hmac.compare_digest(message_id(rule_id, recorded, occurrence), msg_id):
            store.raw.execute(f"UPDATE {FIRINGS} SET status = '{DELIVERED}', delivered_at = ?, "
                              "attempts = attempts + 1, channel = 'in_app' "
                              f"WHERE rule_id = ? AND user_id = ? AND occurrence = ? AND status = '{PENDING}'",
                              [now.replace(tzinfo=None), rule_id, recorded, occurrence])
            return True
    return False
