"""The HTML report's action half (`aha report --html`): each rule's impact and outbox as `/nudges` shows them, and the
top accounts with each signal against account conversion as `/accounts` shows them.

Nothing is computed here: the rules' views are `aha.surfaces.web.nudges.view` of `Project.impact` and
`Project.interventions`, the accounts `Project.accounts` and `Project.evaluate_signals`, asked through callables so
that the command can ask the server holding the file (or open it) as for every other part of the report. The
templates are the dashboard's macros (templates/actions.html): one wording, one set of numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aha.analyses.accounts import AccountsResult
from aha.analyses.signals_eval import SignalsResult
from aha.errors import UserError
from aha.guidance.impact import ImpactResult
from aha.guidance.rules import InterventionsResult
from aha.surfaces.web import nudges
from aha.surfaces.web.nudges import RuleView

TOP_ACCOUNTS = 20  # accounts listed in the report (all are ranked; the section says "top 20 of N")


@dataclass(frozen=True)
class Actions:
    rules: list[RuleView]  # empty: no rules in the definitions (no section, unless `rules_problem`)
    rules_problem: str | None  # why the rules' outbox cannot be read here (a store that keeps none: Spark)
    accounts: AccountsResult | None  # None: accounts not configured (no section, unless `accounts_problem`)
    accounts_problem: str | None  # why the accounts cannot be listed here
    signals: SignalsResult | None  # None: no signals, or they cannot be evaluated (`signals_problem` says why)
    signals_problem: str | None
    unfiltered: bool  # the report has a segment or a signup range, which these sections do not follow

    @property
    def fired(self) -> bool:
        """Whether the file holds any firing of these rules (without one, the section is one line)."""
        return any(r.outbox.total for r in self.rules)

    def sections(self) -> tuple[tuple[str, str], ...]:
        """The report's navigation entries for the sections shown."""
        nudges = self.rules or self.rules_problem
        accounts = self.accounts or self.accounts_problem
        return ((("nudges", "Nudges"),) if nudges else ()) + ((("accounts", "Accounts"),) if accounts else ())


def accounts_configured(definitions: Any) -> bool:
    """Accounts are part of the definitions: an `accounts:` section, `signals:`, or an account milestone."""
    return bool(definitions.accounts is not None or definitions.signals
                or any(m.entity == "account" for m in definitions.milestones))


def gather(definitions: Any, impact: Callable[[str], ImpactResult], outbox: Callable[[str], InterventionsResult],
           accounts: Callable[[int], AccountsResult], signals: Callable[[], SignalsResult],
           unfiltered: bool = False) -> Actions:
    """`impact(rule_id)`, `outbox(rule_id)` (the latest nudges.LATEST), `accounts(top)` and `signals()` are the
    `Project` methods of the same names as of the report's time; each is asked only when its section is shown."""
    rules, rules_problem = [], None
    try:
        rules = [nudges.view(definitions, rule, impact, outbox) for rule in definitions.rules]
    except UserError as exc:  # the outbox is not kept here (Spark): the section says so in one line
        rules_problem = str(exc)
    listed, listed_problem, evaluated, problem = None, None, None, None
    if accounts_configured(definitions):
        try:
            listed = accounts(TOP_ACCOUNTS)
        except UserError as exc:
            listed_problem = str(exc)
        if not definitions.signals:
            problem = "No signals in the definitions: add `signals:` to aha.yaml (docs/definitions.md, \"Signals\")."
        elif listed is not None:
            try:
                evaluated = signals()
            except UserError as exc:
                problem = str(exc)
    return Actions(rules, rules_problem, listed, listed_problem, evaluated, problem, unfiltered)
