"""What users send, shown so it cannot pass for something else (docs/semantics.md, "Names shown").

Event names, property keys and values, user ids and traits are stored as sent; every surface that shows one (the
CLI's Rich output, the HTML report and dashboard, the charts) passes it through `visible` first. Characters that
would act on the screen instead of being shown are written as their escape, `\\u202e`: C0 and C1 control characters
(ESC starts the ANSI sequences that recolour, move the cursor or clear a terminal; CR and BS overwrite; `\\x9b` is a
one-byte CSI), DEL, the bidirectional formatting characters (U+202E turns `txt.exe` into `exe.txt` on screen), the
line and paragraph separators, and the invisible zero-width space, word joiner and byte-order mark (`Sign\\u200bUp`
would pass for `SignUp`). Zero-width joiners (emoji sequences) and every printable character, RTL scripts
included, are shown as they are.
"""

from __future__ import annotations

import re

_HIDDEN = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069"
           "\ufeff")
HIDDEN = re.compile(f"[\t\n{_HIDDEN}]")  # one name on one line: a tab or newline is shown escaped too
HIDDEN_IN_TEXT = re.compile(f"[{_HIDDEN}]")  # text of several lines (a console's, a page's): tab and newline kept


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str, lines: bool = False) -> str:
    """`text` with every character that acts on the screen written as `\\uXXXX`; `lines=True` keeps tab and
    newline (for text whose own lines are meant)."""
    return (HIDDEN_IN_TEXT if lines else HIDDEN).sub(_escape, text)
