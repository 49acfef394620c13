"""Steps of paying are flagged and kept out of the shortlist (docs/semantics.md, "Prerequisites of paying"); events
can be excluded from discovery, or cleared of the flag, in the definitions file."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from aha.analyses import prerequisites
from aha.definitions import parse
from aha.project import Project
from aha.store import open_store
from tests.journeys import write_events

YAML = """
signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
retention: {day: 20, bracket: 1d}
milestones:
  - {id: lever, event: Lever, within: 3d, level: primary}
"""
AS_OF = datetime(2026, 3, 1)


def journeys() -> list[tuple[str, str, str]]:
    """300 users signing up Jan 1–10. c0–c59 convert on day 2 at 12:00, each doing `Checkout` 3 minutes before
    paying; 40 of them did `Lever` on day 0. Of n0–n239 (no payment), 40 did `Lever` and 12 did `Checkout` (an
    abandoned checkout). Everyone browses on day 20. By hand: Checkout first done by 60 of 60 converters in the hour
    before paying (a step of paying); Lever by 40 of 60 converters, on day 0, none late (not a prerequisite)."""
    rows = []
    for i in range(300):
        convert = i < 60
        user = f"c{i}" if convert else f"n{i - 60}"
        t0 = datetime(2026, 1, 1 + i % 10, 9)
        rows.append((user, "Signed Up", t0))
        if (convert and i < 40) or (not convert and i - 60 < 40):
            rows.append((user, "Lever", t0 + timedelta(hours=2)))
        if convert:
            paid = t0 + timedelta(days=2, hours=3)
            rows += [(user, "Checkout", paid - timedelta(minutes=3)), (user, "Paid", paid)]
        elif 100 <= i - 60 < 112:
            rows.append((user, "Checkout", t0 + timedelta(days=1)))
        rows.append((user, "Browse", t0 + timedelta(days=20, hours=1)))  # everyone still around after any window
    return [(u, e, t.isoformat(timespec="minutes")) for u, e, t in rows]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("prerequisites") / "aha.duckdb")
    write_events(store, journeys())
    return store


def test_the_conversion_landmark_alone_keeps_checkout_out(store):
    """Converters here pay on day 2, inside the 3-day window: the conversion landmark leaves them out of the
    comparison (their outcome was decided inside the window), so Checkout is no significant candidate at all."""
    found = Project(store, parse(YAML)).discover(outcome="conversion", as_of=AS_OF, window=3)
    assert not any(k.event == "Checkout" and k.significant for k in found.candidates)
    assert [p.event for p in found.prerequisites] == ["Checkout"]  # flagged from the converters all the same


def test_a_checkout_step_is_flagged_and_not_shortlisted(store):
    """Without the landmark, every eligible user is compared: Checkout ranks, and is flagged as a step of paying."""
    project = Project(store, parse(YAML))
    found = project.discover(outcome="conversion", as_of=AS_OF, window=3, landmark=False)
    (step,) = found.prerequisites
    assert step.event == "Checkout"
    assert (step.just_before.numerator, step.just_before.denominator) == (60, 60)
    assert (step.late.numerator, step.did_before.numerator) == (60, 60)
    assert step.reason == "a step of paying: 100% of 60 converters first did it in the 60 minutes before paying"
    assert "Lever" not in {p.event for p in found.prerequisites}  # 40 of 60 converters, on day 0: not late
    assert any(k.event == "Checkout" and k.significant for k in found.candidates)  # still ranked, only marked
    scored = project.score(outcome="conversion", as_of=AS_OF, discovery=found)
    by_event = {s.event: s for s in scored.scores}
    assert by_event["Checkout"].prerequisite == step.reason and not by_event["Checkout"].shortlisted
    assert "Checkout" not in scored.shortlist and "Lever" in scored.shortlist
    assert any(n.startswith("not shortlisted, Checkout: a step of paying") for n in scored.notes)


def test_the_definitions_file_excludes_or_clears(store):
    excluded = Project(store, parse(YAML + "discovery: {exclude: [Checkout]}\n"))
    found = excluded.discover(outcome="conversion", as_of=AS_OF, window=3, landmark=False)
    assert "Checkout" in found.excluded_events and found.prerequisites == ()
    assert all(k.event != "Checkout" for k in found.candidates)
    cleared = Project(store, parse(YAML + "discovery: {not_prerequisite: [Checkout]}\n"))
    scored = cleared.score(outcome="conversion", as_of=AS_OF, landmark=False)
    assert "Checkout" in scored.shortlist


def test_validate_checks_the_discovery_names(store):
    from aha.analyses import checks

    definitions = parse(YAML + "discovery: {exclude: [Checkout, Chekout]}\n")
    result = checks.run(definitions, "aha.yaml", store)
    assert [(f.path, f.message) for f in result.findings if f.level == "warning"] == [
        ("discovery.exclude[1]", "no event 'Chekout' in the data. Did you mean 'Checkout'?")]


def test_the_state_does_not_depend_on_discovery_settings():
    from aha.definitions import content_hash

    assert content_hash(parse(YAML)) == content_hash(parse(YAML + "discovery: {exclude: [Checkout]}\n"))


def row(event: str, before: int, late: int, near: int) -> dict[str, object]:
    return {"event": event, "did_before": before, "late": late, "just_before": near}


@pytest.mark.parametrize(("rows", "converters", "keep", "flagged"), [
    pytest.param([row("Card", 60, 50, 50)], 100, (), ["Card"], id="half_first_in_the_hour_is_a_step"),
    pytest.param([row("Card", 60, 60, 49)], 100, (), [], id="just_under_half_is_not"),
    pytest.param([row("Setup", 95, 50, 0)], 100, (), ["Setup"], id="95pct_before_and_late_is_necessary"),
    pytest.param([row("Setup", 94, 90, 0)], 100, (), [], id="94pct_is_not"),
    pytest.param([row("Output", 100, 49, 0)], 100, (), [], id="everyone_but_early_is_a_habit"),
    pytest.param([row("Card", 29, 29, 29)], 29, (), [], id="too_few_converters"),
    pytest.param([row("Card", 30, 30, 30)], 30, ("Card",), [], id="not_prerequisite_clears"),
])
def test_rule_thresholds(rows, converters, keep, flagged):
    assert [p.event for p in prerequisites.summarise(rows, converters, keep)] == flagged


def test_the_necessary_reason():
    (p,) = prerequisites.summarise([row("Setup", 97, 60, 3)], 100)
    assert p.reason == ("almost nobody pays without it, and it comes late: 97% of 100 converters did it before "
                        "paying, 60% first nearer paying than signup")


def test_the_cli_shows_the_reason(store, tmp_path):
    """`aha score` and `aha discover` through the console script: the step is marked † with its reason."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    store.close()
    (tmp_path / "aha.yaml").write_text(YAML)
    aha_bin = shutil.which("aha", path=str(Path(sys.executable).parent))
    assert aha_bin
    outputs = []
    for command in ("score", "discover"):
        done = subprocess.run([aha_bin, command, "--outcome", "conversion", "--no-landmark", "--db", str(store.path),
                               "--as-of", "2026-03-01T00:00:00"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append(" ".join(done.stdout.split()))
    score, discover = outputs
    assert "not shortlisted, Checkout: a step of paying: 100% of 60 converters first did it in the 60 minutes" in score
    assert "shortlist: Lever" in score and "† │ Checkout ≥ 1" in score
    assert "Checkout ≥ 1 in" in discover and "† prerequisite of paying" in discover
