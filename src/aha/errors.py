"""The base of every user mistake aha reports: surfaces print these as one line (CLI) or a 4xx (API), never a traceback.

Bugs in aha are not user mistakes: they raise anything else and keep their traceback.
"""


class UserError(Exception):
    """A mistake the user can fix; the message names the problem and the fix."""
