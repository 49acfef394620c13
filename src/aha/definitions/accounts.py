"""The account parts of the definitions file (SEMANTICS.md, "Accounts"): where accounts come from, and account
milestones reached by members."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aha.definitions.counts import STRICT, Count
from aha.definitions.durations import Duration

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = STRICT


class MembersReached(_Strict):
    """An account milestone reached when enough members reached a user milestone (SEMANTICS.md, "Accounts")."""

    milestone: Identifier = Field(description="The user milestone members must reach.")
    at_least: Count = Field(default=1, description="How many members (or distinct email domains).")
    distinct: Literal["email_domain"] | None = Field(
        default=None, description="Count distinct email domains of those members (their `email` trait) instead.")
    within: Duration | None = Field(
        default=None, description="All of them reached it within this span of each other (a sliding window).")


class Accounts(_Strict):
    """Where accounts come from (SEMANTICS.md, "Accounts")."""

    from_: Literal["group", "email_domain"] = Field(
        default="group", alias="from",
        description="`group`: group calls and events' account_id; `email_domain`: the domain of users' `email` "
                    "trait (free-mail and disposable domains never form an account).")

    model_config = ConfigDict(**STRICT, populate_by_name=True)


def check_members_reached(i: int, rule: MembersReached, by_id: Mapping[str, Any], at: Any) -> None:
    """A members_reached milestone counts members who reached a *user* milestone: an unknown id or an account
    milestone (members do not reach those, accounts do) is an error at `members_reached.milestone`, built by
    `at(loc, message)`."""
    loc = ("milestones", i, "members_reached", "milestone")
    users = [m.id for m in by_id.values() if m.entity == "user"]
    target = by_id.get(rule.milestone)
    if target is None:
        close = difflib.get_close_matches(rule.milestone, users, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise at(loc, f"no milestone {rule.milestone!r}{hint}; known user milestones: {', '.join(users)}")
    if target.entity != "user":
        raise at(loc, f"{rule.milestone!r} is an account milestone; members reach user milestones: "
                  f"{', '.join(users)}")
