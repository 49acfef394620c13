"""What `aha` prints, through the real console script: the report's headline and what its funnel counts, `--csv` on
every command that prints a table, piped output that is neither cut nor wrapped mid-number, and a `--help` that
names each option's type and starts without the analysis stack.

The data is counted by hand (as of 2026-03-05 12:00, the latest event; funnel first → second → paid):
  u1  signup Jan 1 09:00, Used 10:00, Shared Jan 2, Paid Jan 5       every step, in order
  u2  signup Jan 1 09:00, Shared 10:00, Used 11:00, Paid Jan 10      shares before using: ordered stops at first
  u3  signup Jan 2, Paid Jan 3                                        pays without a milestone
  u4  signup Jan 2, nothing
  u5  signup Mar 1 10:00, Used 11:00                                  young: paid horizon (30d) still open
  u6  Page Viewed Mar 5 12:00, no signup                              in no cohort
Activation (First use within 1d; every 1-day window closed): u1, u2, u5 = 3 of 5.
Conversion (paid within 30d; horizon closed for u1–u4): u1, u2, u3 = 3 of 4.
Funnel (every window closed: u1–u4): signed up 4, first 2 (u1, u2), second 1 (u1), paid 1 (u1);
in any order: second 2 (u1, u2), paid 3 (u1, u2, u3).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aha.results import duration_text
from tests.serving import AHA as AHA_CLI
from tests.surfaces.test_cli_errors import imported, run

YAML = """signup: {event: Signed Up}
paid: {event: Paid, within: 30d}
segments: [plan]
funnel: [first, second]
milestones:
  - {id: first, name: First use, event: Used, within: 1d, level: primary}
  - {id: second, name: First share, event: Shared, within: 3d}
"""
EVENTS = """user_id,event,timestamp,plan
u1,Signed Up,2026-01-01T09:00:00Z,pro
u1,Used,2026-01-01T10:00:00Z,
u1,Shared,2026-01-02T09:00:00Z,
u1,Paid,2026-01-05T09:00:00Z,
u2,Signed Up,2026-01-01T09:00:00Z,free
u2,Shared,2026-01-01T10:00:00Z,
u2,Used,2026-01-01T11:00:00Z,
u2,Paid,2026-01-10T09:00:00Z,
u3,Signed Up,2026-01-02T09:00:00Z,free
u3,Paid,2026-01-03T09:00:00Z,
u4,Signed Up,2026-01-02T09:00:00Z,pro
u5,Signed Up,2026-03-01T10:00:00Z,pro
u5,Used,2026-03-01T11:00:00Z,
u6,Page Viewed,2026-03-05T12:00:00Z,
"""
TABLE_COMMANDS = ["report", "evaluate", "retention", "discover", "score", "paths"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported(tmp_path_factory.mktemp("output"), YAML, EVENTS)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_report_leads_with_users_activation_and_conversion(folder: Path) -> None:
    from statsmodels.stats.proportion import proportion_confint  # the reference for the intervals

    done = run("report", "--csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = _csv(done.stdout)
    head = {r["measure"]: r for r in rows if r["section"] == "headline"}
    assert rows[0]["section"] == "headline"
    assert head["users"]["value"] == "5"
    for measure, (k, n) in {"activation": (3, 5), "conversion": (3, 4)}.items():
        low, high = proportion_confint(k, n, method="wilson")
        got = head[measure]
        assert (int(got["numerator"]), int(got["denominator"])) == (k, n)
        assert float(got["value"]) == pytest.approx(k / n)
        assert (float(got["low"]), float(got["high"])) == (pytest.approx(low), pytest.approx(high))
    funnel = {r["step"]: r for r in rows if r["section"] == "funnel"}
    assert {s: int(r["entities"]) for s, r in funnel.items()} == {"signup": 4, "first": 2, "second": 1, "_paid": 1}


def test_report_says_what_the_funnel_counts_beside_the_headline(folder: Path) -> None:
    done = run("report", cwd=folder)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.index("Headline") < text.index("Overview") < text.index("Funnel (ordered)")
    flat = " ".join(text.split())
    assert "activation: First use within 1d │ 60.0% (23.1%–88.2%) │ 3 of 5 whose window has closed" in flat
    assert "conversion: paid within 30d │ 75.0% (30.1%–95.4%) │ 3 of 4 whose horizon has closed" in flat
    assert ("ordered: a step counts only users who reached every step above it first, each within its own window "
            "from signup; reached in any order: First share 2 (50.0%), Paid 3 (75.0%)") in flat
    assert "so a later day can read lower than an earlier one" in flat  # beside the activation table
    assert "\"not by half\": fewer than half are estimated to reach it" in flat  # the Kaplan–Meier column's word


def test_piped_tables_are_neither_cut_nor_wrapped(folder: Path) -> None:
    """Piped (as here), a row stays on one line whatever its width: each funnel row holds all its numbers."""
    done = run("report", "--segment", "plan", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ ")]
    first_use = [line for line in rows if line.startswith("│ First use ")]
    # Segments side by side: one table, one row per step, a column per plan (free: u2, u3; pro: u1, u4; mature only).
    assert " ".join(first_use[0].split()) == "│ First use │ 1 (50.0%) │ 1 (50.0%) │"
    assert done.stdout.count("Funnel (ordered) by plan") == 1


@pytest.mark.parametrize("command", TABLE_COMMANDS)
def test_every_table_command_offers_csv_and_json(folder: Path, command: str) -> None:
    done = run(command, "--help", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "--csv" in done.stdout and "--json" in done.stdout


@pytest.mark.parametrize("args", [["retention"], ["discover"], ["score"], ["paths"], ["evaluate", "--by-month"]])
def test_every_table_command_writes_csv(folder: Path, args: list[str]) -> None:
    """Each one's rows as CSV (none for `score` here: five users give no significant candidate, and no blank line)."""
    done = run(*args, "--csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = _csv(done.stdout)
    if args == ["score"]:
        assert done.stdout == ""
        return
    assert rows and all(set(row) == set(rows[0]) for row in rows)


def test_evaluate_csv_is_the_result_rows(folder: Path) -> None:
    done = run("evaluate", "--csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    as_json = run("evaluate", "--json", cwd=folder)
    rows = _csv(done.stdout)
    expected = [row for g in json.loads(as_json.stdout)["groups"] for row in g["rows"]]
    assert [(r["milestone"], r["outcome"]) for r in rows] == [(r["milestone_id"], r["outcome"]) for r in expected]


def test_json_and_csv_together_is_one_clear_error(folder: Path) -> None:
    done = run("report", "--json", "--csv", cwd=folder)
    assert done.returncode == 2 and done.stderr.strip() == "error: --json and --csv: choose one of them."


def test_help_lists_whole_command_summaries_and_option_types(folder: Path) -> None:
    top = run("--help", cwd=folder)
    assert top.returncode == 0 and "..." not in top.stdout.split("Commands:")[1]
    assert "Print the activation report: funnel, time to value, activation by cohort." in " ".join(top.stdout.split())
    report = run("report", "--help", cwd=folder).stdout
    assert "<bool>" not in report
    assert "--as-of <date|time>" in report and "--segment <trait>" in report and "--db <path>" in report


def test_help_starts_without_the_analysis_stack() -> None:
    """`aha --help` must not import rich, ibis, duckdb, pandas, numpy, scipy or statsmodels (seconds of imports)."""
    code = ("import sys; sys.argv = ['aha', '--help']\n"
            "from aha.surfaces.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ('rich', 'ibis', 'duckdb', 'pandas', 'numpy', 'scipy', 'statsmodels', 'pydantic')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (45, "45s"), (330, "5.5m"), (1800, "30m"), (10_080, "2.8h"), (86_400, "1d"), (7 * 86_400, "7d"),
    (168 * 3600, "7d"), (1.5 * 86_400, "1.5d"), (-90, "-1.5m")])
def test_durations_read_as_written(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def _rendered(folder: Path, width: int) -> str:
    from rich.console import Console

    import aha
    from aha.surfaces.cli import render

    project = aha.open(str(folder / "aha.duckdb"), str(folder / "aha.yaml"))
    try:
        out = io.StringIO()
        render.report(Console(file=out, width=width, color_system=None), project.report())
    finally:
        project.close()
    return out.getvalue()


def test_a_narrow_terminal_gets_the_compact_tables_with_every_number_whole(folder: Path) -> None:
    """At 200 columns the funnel shows each step's interval; at 60 the compact form leaves it to --json / --csv and
    the activation cells drop an n equal to the cohort's signups. No number is cut ("…") or broken over lines."""
    wide, narrow = _rendered(folder, 200), _rendered(folder, 60)
    assert "50.0% (15.0%–85.0%)" in wide and "50.0% (15.0%–85.0%)" not in narrow
    assert "…" not in wide and "…" not in narrow
    funnel = narrow[narrow.index("Funnel (ordered)"):narrow.index("Time to milestone")]
    first_use = [" ".join(line.split()) for line in funnel.splitlines() if line.startswith("│ First use ")]
    assert first_use[0] == "│ First use │ 2 │ 50.0% │ 50.0% │ 2 │ 1.5h │"  # the funnel row, whole on one line
    # Day 1 is over all 5 signups (n left out); days 7–30 over the 4 observed that long (u5 signed up Mar 1).
    assert "│ all │ 5 │ 60.0% │ 50.0% n=4 │ 50.0% n=4 │ 50.0% n=4 │" in " ".join(narrow.split())


def test_least_width_counts_numbers_whole_and_names_by_their_longest_word() -> None:
    from rich.table import Table

    from aha.surfaces.cli.render import column, least_width

    t = Table()
    column(t, "step", numeric=False)  # min width 10 ("Collaboration" is 13)
    column(t, "from previous")  # "35.1% (34.3%–35.9%)" is 19
    t.add_row("Collaboration activated", "35.1% (34.3%–35.9%)")
    assert least_width(t) == (13 + 2) + (19 + 2) + 3


def _stderr_on_a_terminal(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """Run the console script with stderr on a pseudo-terminal (stdout piped); return what the terminal showed."""
    import os
    import pty

    main, terminal = pty.openpty()
    try:
        done = subprocess.run([AHA_CLI, *args], cwd=folder, stdout=subprocess.PIPE, stderr=terminal, timeout=120,
                              env={**os.environ, "TERM": "xterm", "AHA_RESULT_CACHE": "off"}, check=False)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    return done, shown.decode("utf-8", "replace")


def test_a_long_computation_shows_a_spinner_on_a_terminal_and_nothing_in_a_pipe(folder: Path) -> None:
    """A cold report over 100M events takes half a minute: on a terminal, stderr says what runs and for how long
    (then erases it); piped or captured, nothing is added to either stream, so `--json` stays clean."""
    done, shown = _stderr_on_a_terminal(folder, "report", "--json")
    assert done.returncode == 0, shown
    assert "computing the report" in shown and "0:00:0" in shown  # the elapsed time column
    assert json.loads(done.stdout)["kind"] == "report"
    piped = subprocess.run([AHA_CLI, "report", "--json"], cwd=folder, capture_output=True, text=True, timeout=120,
                           check=False)
    assert piped.returncode == 0 and "computing" not in piped.stderr and "computing" not in piped.stdout
