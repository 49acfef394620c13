"""Rich's console that never writes a user's characters that act on the terminal (aha.surfaces.visible).

Every console the CLI prints with is this one. Text handed to Rich as a string (table cells, printed lines) is made
visible before Rich measures it, so tables stay aligned; every other segment (a `Text` built by hand, a progress
line) is made visible as it is written, so nothing reaches the terminal raw: an event name holding `ESC[2J` cannot
clear the screen, one holding U+202E cannot reorder the rest of its line, `\\r` cannot overwrite it.

Markup is off: every string is printed as written, so a user's text is never read as Rich markup (an event named
`[bold red]signup[/]` is shown as those characters, `[link=https://evil.example]x[/link]` is no hyperlink, and a
stray `[/]` is no MarkupError). aha's own styling is a style given beside the text (`Text.assemble`,
`Table(style=…)`), never markup written into a string, so a name can be put anywhere without escaping.

Emoji codes are off: Rich replaces `:x:`, `:+1:` and hundreds of other names in any string it prints, so a segment
value `:x: pro` was shown as `❌ pro` and an event `Reacted :+1:` as `Reacted 👍`. aha's own text uses none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import console as rich_console
from rich.segment import Segment
from rich.text import Text

from aha.surfaces.visible import HIDDEN_IN_TEXT, visible


class Console(rich_console.Console):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("markup", False)
        super().__init__(*args, **kwargs)

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Text:
        return super().render_str(visible(text, lines=True), *args, **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            Segment(visible(s.text, lines=True), s.style, s.control)
            if not s.control and HIDDEN_IN_TEXT.search(s.text) else s for s in buffer)
