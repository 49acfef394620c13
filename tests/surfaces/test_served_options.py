"""Every question the CLI sends to a running server (`remote.analysis`/`remote.ask`) is one the server's read API
accepts, with every option the command passes: a command that works on a file must work the same while `aha serve`
holds it. The CLI's calls are read from its source, so a new command or option is checked without a test of its own;
one real server then answers the account commands, which once answered "no analysis 'accounts'"."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from aha.project import Project
from aha.surfaces.api.options import OPTIONS
from aha.surfaces.cli import remote

CLI = Path(remote.__file__).parent


def _calls() -> list[tuple[str, int, str, set[str], bool]]:
    """(file, line, analysis, keyword options, has **options) of every remote.analysis / remote.ask call."""
    found = []
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("analysis", "ask") and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "remote"):
                continue
            names = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            assert names, f"{path.name}:{node.lineno}: the analysis is not a literal name"
            keywords = {k.arg for k in node.keywords if k.arg is not None}
            spread = any(k.arg is None for k in node.keywords)
            found.append((path.name, node.lineno, str(names[-1].value), keywords, spread))
    return found


CALLS = _calls()


def test_the_cli_asks_the_server_many_questions() -> None:
    assert len(CALLS) >= 19  # a sanity floor: the walk finds the calls it is meant to check
    assert {"report", "accounts", "account", "evaluate_signals", "revalidate"} <= {c[2] for c in CALLS}


@pytest.mark.parametrize(("where", "line", "analysis", "keywords", "spread"), CALLS,
                         ids=[f"{c[0]}:{c[1]}:{c[2]}" for c in CALLS])
def test_the_server_accepts_what_the_cli_sends(where: str, line: int, analysis: str, keywords: set[str],
                                               spread: bool) -> None:
    assert analysis in OPTIONS, f"{where}:{line}: the server has no analysis {analysis!r}"
    fields = set(OPTIONS[analysis].model_fields)
    assert keywords <= fields, f"{where}:{line}: the server refuses {sorted(keywords - fields)} for {analysis}"
    if spread:  # `**signups`: the signup range
        assert {"signups_from", "signups_to"} <= fields, f"{where}:{line}: {analysis} takes no signup range"


@pytest.mark.parametrize("analysis", sorted(set(OPTIONS) - {"keys", "dead-letters", "notes", "validate"}))
def test_every_served_option_is_the_projects(analysis: str) -> None:
    """The server passes its options to `Project.<analysis>` by name: each must be one of the method's parameters."""
    parameters = set(inspect.signature(getattr(Project, analysis)).parameters) - {"self"}
    assert set(OPTIONS[analysis].model_fields) <= parameters


def test_account_commands_answer_the_same_while_a_server_holds_the_file(tmp_path: Path) -> None:
    import json

    from tests.serving import aha, running

    done = aha("sample", "--b2b", "--users", "300", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commands = [("report", "--level", "account", "--json"), ("evaluate", "--level", "account", "--json"),
                ("evaluate", "--level", "account", "--by-month", "--json"), ("accounts", "--top", "5", "--json"),
                ("evaluate", "--signals", "--json")]

    def answers() -> list[dict[str, object]]:
        out = []
        for command in commands:
            shown = aha(*command, cwd=tmp_path)
            assert shown.returncode == 0, f"{command}: {shown.stderr}"
            out.append(json.loads(shown.stdout))
        return out

    alone = answers()
    listed = alone[3]["accounts"]
    assert isinstance(listed, list) and len(listed) == 5
    with running(tmp_path / "aha.duckdb"):
        served = answers()
        detail = aha("accounts", str(listed[0]["account_id"]), "--json", cwd=tmp_path)
        assert detail.returncode == 0, detail.stderr
        assert json.loads(detail.stdout)["summary"]["account_id"] == listed[0]["account_id"]
    assert served == alone
