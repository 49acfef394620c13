"""The base of every user mistake aha reports: surfaces print these as one line (CLI) or a 4xx (API), never a traceback.

Bugs in aha are not user mistakes: they raise anything else and keep their traceback.
"""


class UserError(Exception):
    """A mistake the user can fix; the message names the problem and the fix."""


class UserNote(UserWarning):
    """Something the user should know about an answer that is still given (the CLI prints it as one yellow line
    on stderr; in Python it is an ordinary warning)."""
