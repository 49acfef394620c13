"""`/nudges`: every rule of the definitions with its outbox (firings by status, the latest ones) and its impact
(nudged vs held out on the milestone it aims at, with the interval), read fresh on every view.

Rules record firings and deliveries without a new data version (the server runs them every minute), so neither the
outbox nor the impact is taken from the page cache: each view reads them on the reader thread. Nothing is computed
here beyond choosing what to show; every number is a field of `ImpactResult` or `InterventionsResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aha.errors import UserError
from aha.guidance.impact import ImpactResult
from aha.guidance.rules import InterventionsResult, why
from aha.store.database import Store

LATEST = 10  # firings listed per rule (the CLI's `aha interventions --rule ID` lists more)


@dataclass(frozen=True)
class RuleView:
    id: str
    trigger: str  # the `when:` in words
    channel: str  # webhook, email or in_app
    holdout: float
    unit: str  # user, or account for a signal rule
    impact: ImpactResult | None  # None when it cannot be measured yet (`problem` says why)
    problem: str | None
    outbox: InterventionsResult


def read(store: Store, definitions: Any, as_of: str | None) -> list[RuleView]:
    """The rules' views, on the store's reader (one call: one transaction)."""
    from aha.project import Project

    project = Project(store, definitions, None)
    views = []
    for rule in definitions.rules:
        impact, problem = None, None
        try:
            impact = project.impact(rule.id, as_of=as_of)
        except UserError as exc:
            problem = str(exc)
        views.append(RuleView(rule.id, why(definitions, rule), rule.then.channel, rule.holdout, rule.when.unit, impact,
                              problem, project.interventions(rule.id, limit=LATEST)))
    return views


def context(rules: list[RuleView]) -> dict[str, Any]:
    return {"rules": rules}
