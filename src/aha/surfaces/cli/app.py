"""The `aha` console script. Each command lives in its own module and registers itself on `app`.

User mistakes (`aha.errors.UserError`) print one red line naming the problem and the fix and exit with code 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from aha.errors import UserError

app = typer.Typer(
    name="aha",
    help="Activation milestone tracking: which early actions make new signups stay and pay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _register() -> None:
    from aha.surfaces.cli import commands

    for module in commands.MODULES:
        module.register(app)


def main() -> None:
    """Typer handles usage errors itself (exit 2 with a usage line); aha's own user errors are caught here."""
    _register()
    try:
        app()
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", markup=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
