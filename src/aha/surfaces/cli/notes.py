"""How the command line shows aha's notes: `aha.errors.UserNote` warnings as one yellow line on stderr, each message
once per process; other warnings as Python shows them. Imports neither Typer nor Rich until there is a note."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from aha.errors import UserNote

if TYPE_CHECKING:
    from aha.surfaces.cli.shown_console import Console


def err_console() -> Console:
    """stderr for notes and errors; rich is imported only when there is something to say (not for `--help`)."""
    from aha.surfaces.cli.shown_console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def show(text: str) -> None:
    """One note, once per process whichever call site gave it."""
    if text not in _shown:
        _shown.add(text)
        from rich.text import Text

        err_console().print(Text.assemble(("note:", "bold yellow"), " ", text))


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
                 line: str | None = None) -> None:
    """`warnings.showwarning` for the command line: notes by `show`, other warnings as Python shows them."""
    if issubclass(category, UserNote):
        show(str(message))
    else:
        _python_show(message, category, filename, lineno, file, line)  # type: ignore[arg-type]


_python_show = warnings.showwarning
_shown: set[str] = set()
