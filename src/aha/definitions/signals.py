"""`signals:` in aha.yaml: product-qualified-lead signals over accounts (docs/semantics.md, "Accounts"), ordered from
the lowest to the highest (team < department < enterprise).

    signals:
      - id: team
        milestones: [team_integrated]          # account milestones, all reached
      - id: enterprise
        milestones: [department]
        members: 15                            # at least this many signed-up members
        domains: 3                             # at least this many distinct email domains among them
        trait: {plan: [business, enterprise]}  # account traits (group-call traits), the latest known
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from aha.definitions.counts import STRICT, Count, Scalars

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]


class Signal(BaseModel):
    model_config = STRICT

    id: Identifier
    name: str | None = None
    milestones: list[str] = Field(default_factory=list, description="Account milestones that must all be reached.")
    members: Count | None = Field(default=None, description="At least this many signed-up members.")
    domains: Count | None = Field(default=None, description="At least this many distinct members' email domains.")
    trait: dict[str, Scalars] = Field(default_factory=dict,
                                                    description="Account trait → value or list (latest known).")

    @model_validator(mode="after")
    def _some_condition(self) -> Signal:
        if not (self.milestones or self.members or self.domains or self.trait):
            raise ValueError("give at least one condition: `milestones`, `members`, `domains` or `trait`")
        return self

    @property
    def label(self) -> str:
        return self.name or self.id


def check_signals(signals: list[Signal], milestones: dict[str, Any], at: Any) -> None:
    """Ids unique; every milestone named exists and is an account milestone. `at(loc, message)` builds the error."""
    seen: set[str] = set()
    accounts = [m_id for m_id, m in milestones.items() if m.entity == "account"]
    for i, signal in enumerate(signals):
        if signal.id in seen:
            raise at(("signals", i, "id"), f"{signal.id!r} is used twice; signal ids must be unique")
        seen.add(signal.id)
        for j, ref in enumerate(signal.milestones):
            if ref not in milestones:
                raise at(("signals", i, "milestones", j),
                         f"no milestone {ref!r}; known account milestones: {', '.join(accounts) or '(none)'}")
            if milestones[ref].entity != "account":
                raise at(("signals", i, "milestones", j),
                         f"{ref!r} is a user milestone; a signal combines account milestones (count the members "
                         f"who reached it with `members_reached: {{milestone: {ref}, at_least: 2}}`)")
