"""Exports aha did not generate (issue 13, "what must be shown"): a PostHog-shaped and a Mixpanel-shaped export,
imported with `aha import --map ...` as docs/import.md tells a user, give the funnel, activation and time to value
that an independent pandas computation gives.

PostHog (its events API / batch export): `uuid`, `event`, `distinct_id`, `timestamp`, `properties` with `$`-keys;
before `identify` a person's `distinct_id` is an anonymous id, and the `$identify` event carries it in
`properties.$anon_distinct_id`; no signup event (`signup: {first_seen: true}`).
Mixpanel (its raw export API): `{"event": ..., "properties": {"distinct_id", "time" (epoch seconds), "$insert_id",
"mp_processing_time_ms", "$browser", ...}}`, and the same events flattened to CSV columns; a retried event repeats its
`$insert_id`.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.serving import aha, report, rows

BASE = datetime(2026, 3, 2, 8, 0)
DAY = timedelta(days=1)

POSTHOG_MAP = "user_id=distinct_id,message_id=uuid,previous_id=/properties/$anon_distinct_id"
MIXPANEL_JSON_MAP = "user_id=/properties/distinct_id,timestamp=/properties/time,message_id=/properties/$insert_id"
MIXPANEL_CSV_MAP = "user_id=distinct_id,timestamp=time,message_id=$insert_id"

POSTHOG_YAML = """
version: 1
signup: {first_seen: true}
paid: {event: subscription started, within: 30d}
funnel: [project, insight]
milestones:
  - id: project
    name: Project created
    level: secondary
    event: project created
    where: {"$browser": {in: [Chrome, Firefox]}}
    within: 1d
  - id: insight
    name: Two insights viewed
    level: primary
    event: $pageview
    where: {"$current_url": {contains: /insights/}}
    count: 2
    within: 7d
"""

MIXPANEL_YAML = """
version: 1
signup: {event: Sign Up}
paid: {event: Purchase, within: 30d}
funnel: [project, insight]
milestones:
  - id: project
    name: Project created
    level: secondary
    event: Create Project
    where: {"$browser": {in: [Chrome, Firefox]}}
    within: 1d
  - id: insight
    name: Two reports viewed
    level: primary
    event: View Report
    count: 2
    within: 7d
"""


# -- the exports -----------------------------------------------------------------------------------------------------


def _people(seed: int) -> list[dict[str, Any]]:
    """Each person's actions: (offset from their start, kind); kinds are named per product below."""
    rng = random.Random(seed)
    people = []
    for i in range(90):
        start = BASE + timedelta(hours=6 * i, minutes=rng.randrange(60))
        acts: list[tuple[timedelta, str]] = [(timedelta(0), "land")]
        identified = rng.random() < 0.75
        if identified:
            acts.append((timedelta(minutes=rng.randrange(1, 180)), "identify"))
        if rng.random() < 0.65:
            acts.append((timedelta(minutes=rng.randrange(2, 36 * 60)), "project"))
        for _ in range(rng.choice((0, 1, 2, 2, 3))):
            acts.append((timedelta(minutes=rng.randrange(3, 10 * 24 * 60)), "insight"))
        for _ in range(rng.randrange(4)):
            acts.append((timedelta(minutes=rng.randrange(1, 20 * 24 * 60)), "browse"))
        if rng.random() < 0.35:
            acts.append((timedelta(minutes=rng.randrange(10, 40 * 24 * 60)), "pay"))
        browser = rng.choice(("Chrome", "Chrome", "Firefox", "Safari"))
        people.append({"i": i, "start": start, "acts": sorted(acts), "identified": identified, "browser": browser})
    return people


def _iso(t: datetime) -> str:
    return t.replace(tzinfo=UTC).isoformat(timespec="microseconds")


def posthog_export(path: Path) -> None:
    lines = []
    for p in _people(13):
        anon = f"0190a1b2-{p['i']:04d}-7000-8000-{p['i']:012d}"
        user = f"user{p['i']}@example.com"
        identify_at = next((p["start"] + off for off, kind in p["acts"] if kind == "identify"), None)
        for n, (off, kind) in enumerate(p["acts"]):
            at = p["start"] + off
            who = user if identify_at is not None and at >= identify_at else anon
            props: dict[str, Any] = {"$browser": p["browser"], "$os": "Mac OS X", "$lib": "web",
                                     "$session_id": f"s{p['i']}", "$current_url": "https://app.example.com/"}
            event = {"land": "$pageview", "identify": "$identify", "project": "project created",
                     "insight": "$pageview", "browse": "$pageview", "pay": "subscription started"}[kind]
            if kind == "identify":
                props |= {"$anon_distinct_id": anon, "$set": {"email": user}}
            if kind == "insight":
                props["$current_url"] = f"https://app.example.com/project/1/insights/{n}"
            if kind == "browse":
                props["$current_url"] = "https://app.example.com/project/1/dashboard"
            lines.append({"uuid": f"018f{p['i']:04d}-{n:04d}-7000-8000-000000000000", "event": event,
                          "distinct_id": who, "timestamp": _iso(at), "properties": props})
    late = {"uuid": "018fffff-0000-7000-8000-000000000000", "event": "$pageview", "distinct_id": "user0@example.com",
            "timestamp": _iso(BASE + 80 * DAY), "properties": {"$current_url": "https://app.example.com/"}}
    path.write_text("".join(json.dumps(line) + "\n" for line in [*lines, late]))


def mixpanel_events() -> list[dict[str, Any]]:
    out = []
    for p in _people(15):
        for n, (off, kind) in enumerate(p["acts"]):
            if kind == "identify":
                continue
            event = {"land": "Sign Up" if p["identified"] else "Page View", "project": "Create Project",
                     "insight": "View Report", "browse": "Page View", "pay": "Purchase"}[kind]
            at = p["start"] + off
            out.append({"event": event, "properties": {
                "time": int(at.replace(tzinfo=UTC).timestamp()), "distinct_id": f"mp-{p['i']}",
                "$insert_id": f"ins{p['i']:03d}x{n:03d}", "mp_processing_time_ms": 1_700_000_000_000 + n,
                "$browser": p["browser"], "mp_country_code": "DE", "$current_url": "https://shop.example/"}})
    out.append({"event": "Page View", "properties": {
        "time": int((BASE + 80 * DAY).replace(tzinfo=UTC).timestamp()), "distinct_id": "mp-0",
        "$insert_id": "late", "mp_processing_time_ms": 1, "$browser": "Chrome"}})
    # Retries: Mixpanel delivers some events twice with the same $insert_id (and a later processing time).
    for e in out[5:40:7]:
        out.append({"event": e["event"], "properties": {**e["properties"], "mp_processing_time_ms": 2}})
    return out


def mixpanel_json(path: Path) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in mixpanel_events()))


def mixpanel_parquet(path: Path) -> None:
    """The raw export as a warehouse table: `properties` a struct column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(mixpanel_events()), path)


def mixpanel_csv(path: Path) -> None:
    flat = [{"event": e["event"], **e["properties"]} for e in mixpanel_events()]
    keys = list(dict.fromkeys(k for row in flat for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(flat)


# -- the independent computation ---------------------------------------------------------------------------------


def expected(events: pd.DataFrame, links: dict[str, str], signup: str | None,
             project: tuple[str, str | None], insight: tuple[str, str | None], paid: str) -> dict[str, Any]:
    """Funnel, activation and timing by pandas, from the rows: `events` has person-level ids after `links`."""
    df = events.assign(person=events["distinct_id"].map(lambda d: links.get(d, d)))
    as_of = df["ts"].max()
    firsts = df[df["event"] == signup] if signup else df
    t0 = firsts.groupby("person")["ts"].min()
    df = df[df["person"].isin(t0.index)].assign(t0=lambda d: d["person"].map(t0))

    def reach(event: str, url: str | None, browsers: bool, window: timedelta, count: int) -> pd.Series:
        hit = df[(df["event"] == event) & (df["ts"] >= df["t0"]) & (df["ts"] < df["t0"] + window)]
        if url:
            hit = hit[hit["url"].fillna("").str.contains(url, regex=False)]
        if browsers:
            hit = hit[hit["browser"].isin(["Chrome", "Firefox"])]
        nth = hit.sort_values("ts").groupby("person")["ts"].nth(count - 1)
        return pd.Series(nth.to_numpy(), index=hit.sort_values("ts").loc[nth.index, "person"].to_numpy())

    r_project = reach(project[0], project[1], True, DAY, 1)
    r_insight = reach(insight[0], insight[1], False, 7 * DAY, 2)
    r_paid = reach(paid, None, False, 30 * DAY, 1)
    everyone = t0.index
    mature = [u for u in everyone if t0[u] + 30 * DAY <= as_of]
    step1 = [u for u in mature if u in r_project.index]
    step2 = [u for u in step1 if u in r_insight.index and r_insight[u] >= r_project[u]]
    step3 = [u for u in step2 if u in r_paid.index and r_paid[u] >= r_insight[u]]

    def timing(r: pd.Series) -> list[float]:
        secs = np.array([(r[u] - t0[u]).total_seconds() for u in r.index])
        return [len(secs), *(float(np.percentile(secs, q)) for q in (25, 50, 75, 90))]

    day_rates = []
    for n in (1, 7, 14, 30):
        seen = [u for u in everyone if t0[u] + n * DAY <= as_of]
        got = [u for u in seen if u in r_insight.index and r_insight[u] - t0[u] <= n * DAY]
        day_rates.append((len(got), len(seen)))
    return {
        "users": len(everyone),
        "funnel": [len(mature), len(step1), len(step2), len(step3)],
        "activation": (sum(u in r_insight.index for u in everyone), len(everyone)),
        "conversion": (sum(u in r_paid.index for u in everyone), len(everyone)),
        "days": day_rates,
        "timing": {"project": timing(r_project), "insight": timing(r_insight), "_paid": timing(r_paid)},
    }


def measured(out: dict[str, Any]) -> dict[str, Any]:
    head = out["headline"]
    timing = {m["milestone_id"]: [m["reached"], m["p25_seconds"], m["median_seconds"], m["p75_seconds"],
                                  m["p90_seconds"]] for m in out["timing"]["groups"][0]["milestones"]}
    return {
        "users": head["users"],
        "funnel": [s["entities"] for s in out["funnel"]["groups"][0]["steps"]],
        "activation": (head["activation"]["numerator"], head["activation"]["denominator"]),
        "conversion": (head["conversion"]["numerator"], head["conversion"]["denominator"]),
        "days": [(r["numerator"], r["denominator"]) for r in out["activation"]["groups"][0]["total"]["rates"]],
        "timing": timing,
    }


def _imported(tmp_path: Path, export: str, yaml: str, *maps: str) -> tuple[Path, dict[str, Any]]:
    db = tmp_path / "aha.duckdb"
    done = aha("import", export, "--db", str(db), "--map", *maps, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "aha.yaml").write_text(yaml)
    return db, json.loads(done.stdout)


# -- the tests ---------------------------------------------------------------------------------------------------


def test_posthog_export_with_identify_links_gives_the_pandas_numbers(tmp_path: Path) -> None:
    posthog_export(tmp_path / "events.jsonl")
    db, summary = _imported(tmp_path, "events.jsonl", POSTHOG_YAML, POSTHOG_MAP)
    raw = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    identifies = [r for r in raw if r["event"] == "$identify"]
    assert (summary["rejected"], summary["events"], summary["identities"]) == (0, len(raw), len(identifies))
    # Each `$identify` links its anonymous id to the identified one, at the event's time.
    links = {r["properties"]["$anon_distinct_id"]: r["distinct_id"] for r in identifies}
    assert {(a, u) for a, u in rows(db, "SELECT anonymous_id, user_id FROM identities")} == set(links.items())
    # `$`-keys are kept literally; the key read into previous_id is not also a property.
    props = rows(db, "SELECT properties FROM events WHERE event = '$identify' LIMIT 1")[0][0]
    assert set(json.loads(str(props))) == {"$browser", "$os", "$lib", "$session_id", "$current_url", "$set"}

    events = pd.DataFrame({
        "distinct_id": [r["distinct_id"] for r in raw], "event": [r["event"] for r in raw],
        "ts": [pd.Timestamp(r["timestamp"]).tz_convert(None) for r in raw],
        "url": [r["properties"].get("$current_url") for r in raw],
        "browser": [r["properties"].get("$browser") for r in raw]})
    want = expected(events, links, None, ("project created", None), ("$pageview", "/insights/"),
                    "subscription started")
    got = measured(report(db, tmp_path / "aha.yaml"))
    assert got == want
    assert want["activation"][0] > 10 and want["funnel"][2] > 0
    # The links matter: without them, activity before identify would be another person's.
    unlinked = expected(events, {}, None, ("project created", None), ("$pageview", "/insights/"),
                        "subscription started")
    assert unlinked["users"] > want["users"] and unlinked["funnel"] != want["funnel"]
    assert want["users"] == 90  # one person per anonymous id, identified or not


@pytest.mark.parametrize(("shape", "maps"), [("jsonl", MIXPANEL_JSON_MAP), ("parquet", MIXPANEL_JSON_MAP),
                                             ("csv", MIXPANEL_CSV_MAP)])
def test_mixpanel_export_nested_or_flat_gives_the_pandas_numbers(tmp_path: Path, shape: str, maps: str) -> None:
    export = f"export.{shape}"
    {"jsonl": mixpanel_json, "parquet": mixpanel_parquet, "csv": mixpanel_csv}[shape](tmp_path / export)
    db, summary = _imported(tmp_path, export, MIXPANEL_YAML, maps)
    raw = mixpanel_events()
    retries = len(raw) - len({e["properties"]["$insert_id"] for e in raw})
    assert retries == 5
    # A retried event is one event ($insert_id is its message id), whatever its processing time.
    assert (summary["rejected"], summary["imported"], summary["duplicates"]) == (0, len(raw) - retries, retries)
    left_out = {"csv": ["mp_processing_time_ms"]}.get(shape, ["/properties/mp_processing_time_ms"])
    assert summary["files"][0]["left_out"] == left_out
    # The columns read into canonical ones and the pipeline's processing time are not properties.
    props = rows(db, "SELECT properties FROM events WHERE message_id = 'ins000x000'")[0][0]
    assert json.loads(str(props)) == {"$browser": "Chrome", "mp_country_code": "DE",
                                      "$current_url": "https://shop.example/"}
    stamp = rows(db, "SELECT timestamp FROM events WHERE message_id = 'ins000x000'")[0][0]
    assert stamp == datetime.fromtimestamp(raw[0]["properties"]["time"], UTC).replace(tzinfo=None)

    frame = pd.DataFrame([{"distinct_id": e["properties"]["distinct_id"], "event": e["event"],
                           "ts": pd.Timestamp(e["properties"]["time"], unit="s"),
                           "id": e["properties"]["$insert_id"], "url": None,
                           "browser": e["properties"].get("$browser")} for e in raw]).drop_duplicates("id")
    want = expected(frame, {}, "Sign Up", ("Create Project", None), ("View Report", None), "Purchase")
    got = measured(report(db, tmp_path / "aha.yaml"))
    assert got == want
    assert want["users"] < 90 and want["activation"][0] > 5  # people without Sign Up are in no cohort


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        ("", "export.jsonl: no columns 'user_id', 'timestamp' (columns: event, properties). Map them with --map "
             "'user_id=/properties/distinct_id,timestamp=/properties/time,message_id=/properties/$insert_id' "
             "(/properties/$insert_id is a usual name for message_id)"),
        ("user_id=/props/distinct_id,timestamp=/properties/time",
         "export.jsonl: --map user_id=/props/distinct_id, but there is no column 'props' (columns: event, "
         "properties). Did you mean --map user_id=/properties/distinct_id?"),
        ("user_id=/properties/distinct_id,timestamp=/properties/tme",
         "export.jsonl: 485 of 485 rows would be rejected (485 × no timestamp), so nothing of it was imported."),
        ("user_id=/properties/distinct_id,timestamp=/properties/time,message_id=/properties/~x",
         "--map message_id=/properties/~x: in a key starting with '/' (a JSON Pointer), '~' must be written '~0'"),
    ],
)
def test_a_wrong_map_is_one_clear_line(tmp_path: Path, maps: str, message: str) -> None:
    mixpanel_json(tmp_path / "export.jsonl")
    done = aha("import", "export.jsonl", "--db", "aha.duckdb", *(("--map", maps) if maps else ()), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: " + message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_hint_for_a_posthog_export_is_the_documented_map(tmp_path: Path) -> None:
    """Imported without --map, a PostHog export is refused with the --map docs/import.md gives for it."""
    posthog_export(tmp_path / "events.jsonl")
    done = aha("import", "events.jsonl", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: events.jsonl: no column 'user_id' (columns: distinct_id, event, properties, timestamp, uuid). "
        f"Map one with --map '{POSTHOG_MAP}' (uuid is a usual name for message_id; /properties/$anon_distinct_id is "
        "a usual name for previous_id)")
