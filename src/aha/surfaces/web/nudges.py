"""`/nudges`: every rule of the definitions with its outbox (firings by status, the latest ones) and its impact
(nudged vs held out on the milestone it aims at, with the interval), read fresh on every view.

Rules record firings and deliveries without a new data version (the server runs them every minute), so neither the
outbox nor the impact is taken from the page cache: each view reads them on the reader thread. Nothing is computed
here beyond choosing what to show; every number is a field of `ImpactResult` or `InterventionsResult`.
"""

from __future__ import annotations

from collections.abc import Callable
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
    return [view(definitions, rule, lambda rule_id: project.impact(rule_id, as_of=as_of),
                 lambda rule_id: project.interventions(rule_id, limit=LATEST)) for rule in definitions.rules]


def view(definitions: Any, rule: Any, impact: Callable[[str], ImpactResult],
         outbox: Callable[[str], InterventionsResult]) -> RuleView:
    """One rule's view from its impact and outbox (`Project.impact`, `Project.interventions(limit=LATEST)`, here or
    through the server holding the file: `aha report --html` asks that way); an impact that cannot be measured (a
    UserError, e.g. a signal rule without `paid:`) is shown as its reason. The outbox is read first: a store that
    keeps none (Spark) raises its UserError before the impact's milestone state is built."""
    firings = outbox(rule.id)
    measured, problem = None, None
    try:
        measured = impact(rule.id)
    except UserError as exc:
        problem = str(exc)
    return RuleView(rule.id, why(definitions, rule), rule.then.channel, rule.holdout, rule.when.unit, measured,
                    problem, firings)


def context(rules: list[RuleView]) -> dict[str, Any]:
    return {"rules": rules}
