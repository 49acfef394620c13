"""The `aha` console script. Each command lives in its own module and registers itself on `app`.

User mistakes (`aha.errors.UserError`) print one red line naming the problem and the fix and exit with code 2.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import typer
from typer.core import TyperGroup

from aha.errors import UserError
from aha.surfaces.cli.notes import err_console, show_warning


class _Commands(TyperGroup):
    """`aha --help` lists each command with its whole first paragraph, wrapped, never cut off with "..."."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, " ".join((command.help or "").split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=_Commands,
    name="aha",
    help="Activation milestone tracking: which early actions make new signups stay and pay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: it costs no rich/markdown imports, and it does not truncate when piped
)


def _register() -> None:
    from aha.surfaces.cli import commands

    for module in commands.MODULES:
        module.register(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"aha {version('aha')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print aha's version."),
) -> None:
    """Activation milestone tracking: which early actions make new signups stay and pay."""


def main() -> None:
    """Typer handles usage errors itself (exit 2 with a usage line); aha's own user errors are caught here."""
    _register()
    warnings.showwarning = show_warning
    from aha.surfaces.cli import progress

    try:
        with progress.shown(sys.argv[1:]):
            app()
    except UserError as exc:
        from rich.text import Text

        err_console().print(Text.assemble(("error:", "bold red"), " ", str(exc)))  # `[red]x` in a value is text
        sys.exit(2)
    except Exception as exc:  # a full disk, a refused write, DuckDB out of memory: one line; anything else raises
        from aha.surfaces.cli.failures import explained

        line = explained(exc)
        if line is None:
            raise
        from rich.text import Text

        err_console().print(Text.assemble(("error:", "bold red"), " ", line))
        sys.exit(1)


if __name__ == "__main__":
    main()
