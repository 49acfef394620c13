"""The `aha` console script's entry point. A repeated `aha report` whose answer the file keeps is printed from here,
before Typer, pydantic or the definitions' models are imported: Typer 0.29 builds a pydantic adapter for every
option of the command it runs, and with the command modules that is about half a second of a one-second process
on a slow core (issue 14: a report of a built state answers in under a second as a whole process).

Only these command lines take this path: `report`, then `--db PATH` (`--db=PATH`), `--config PATH` (`-c PATH`,
`--config=PATH`), `--json` or `--csv`, each at most once, in any order. Everything else — another command or
option, a value that starts with `-`, a file held by `aha serve`, the cache off, definitions not yet parsed under
this code (`result_cache.known_definitions_hash`), no kept answer, an unreadable file — goes to the Typer app
(aha.surfaces.cli.app) unchanged, which computes or reports the error exactly as before. The answer printed is the
one `aha report` itself reads back (surfaces/cli/remote.py `_kept`), with the same notes, rendered by the same code.
"""

from __future__ import annotations

import sys
from pathlib import Path

DB = "aha.duckdb"  # the defaults of --db and --config (options.DB, options.CONFIG)
CONFIG = "aha.yaml"
_VALUED = {"--db": "--db", "--config": "--config", "-c": "--config"}
_FLAGS = ("--json", "--csv")


def main() -> None:
    if not answered(sys.argv[1:]):
        from aha.surfaces.cli.app import main as typer_main

        typer_main()


def arguments(argv: list[str]) -> dict[str, str | bool] | None:
    """The options of a plain `aha report` command line, or None when it is not one of the forms above."""
    if not argv or argv[0] != "report":
        return None
    given: dict[str, str | bool] = {}
    rest = iter(argv[1:])
    for token in rest:
        found: str | bool
        name, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in _FLAGS and not equals:
            option, found = name, True
        elif name in _VALUED:
            option, found = _VALUED[name], value if equals else next(rest, "")
        else:
            return None
        if option in given or found == "" or (isinstance(found, str) and found.startswith("-")):
            return None
        given[option] = found
    if given.get("--json") and given.get("--csv"):
        return None  # the app's error
    return given


def answered(argv: list[str]) -> bool:
    """Print the kept answer of a plain `aha report` and return True; False: the Typer app must run the command."""
    given = arguments(argv)
    if given is None:
        return False
    from aha.analyses import result_cache

    db, config = Path(str(given.get("--db", DB))), Path(str(given.get("--config", CONFIG)))
    if not result_cache.enabled() or Path(f"{db}.server.json").exists() or not db.is_file():
        return False
    digest = result_cache.known_definitions_hash(config)
    kept = result_cache.read(db, digest, "report", {}) if digest is not None else None
    if kept is None:
        return False
    from aha.analyses.report_results import ReportResult
    from aha.results import from_jsonable
    from aha.surfaces.cli import notes, output

    result = from_jsonable(ReportResult, kept.body)
    for note in kept.notes:
        notes.show(note)
    if not output.machine(result, "report", bool(given.get("--json")), bool(given.get("--csv"))):
        from aha.surfaces.cli import render

        render.report(output.console(), result)
    return True


if __name__ == "__main__":
    main()
