"""Which milestones does an analysis leave out, and why, in words the output can carry?

Validation, retention curves and paths compare users (reached vs not, converters vs not); an account milestone is
reached per account, at the account's own signup, so it has no per-user reached / not reached to compare. Rather
than drop it without a word, each of those results carries a note naming it; the report's time to value measures it.
"""

from __future__ import annotations

from aha.definitions import Definitions
from aha.engine import columns as c


def account_milestones(definitions: Definitions, analysis: str) -> tuple[str, ...]:
    """One note per account milestone: `analysis` names what compares users ("validation compares users")."""
    return tuple(
        f"account milestone {m.id!r} ({m.label}) is left out: {analysis}, and it is reached per account, not per "
        "user; `aha report` shows its time to value"
        for m in definitions.milestones if m.entity == c.ACCOUNT
    )
