"""Do the signals work? Each signal's account conversion rate vs accounts without it, the lift with its interval, and
the median time from entering the signal to paying (docs/semantics.md, "Accounts": evaluating signals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from aha.analyses.account_level import account_paid_query
from aha.analyses.accounts import members_of
from aha.analyses.state import MilestoneState
from aha.engine import columns as c
from aha.engine.signals import ACCOUNT_ID, USER_ID, entered_of, signals_query
from aha.engine.tracked import tracked
from aha.errors import UserError
from aha.results import ResultMixin, number
from aha.stats.contingency import Comparison, compare
from aha.store import Store, schema


@dataclass(frozen=True, slots=True)
class SignalValidation:
    signal_id: str
    name: str
    population: int  # accounts whose conversion horizon has closed
    a: int  # entered the signal inside the horizon and converted
    b: int  # entered, did not convert
    c: int  # did not enter, converted
    d: int  # did not enter, did not convert
    comparison: Comparison
    median_seconds_to_paid: float | None  # entered → first member payment, among those who paid after entering
    paid_before_signal: int  # converters who paid before entering: the signal may follow payment

    @property
    def entered(self) -> int:
        """Accounts that entered the signal inside the horizon: the "with" rate's denominator."""
        return self.a + self.b

    @property
    def not_entered(self) -> int:
        """Accounts that did not: the "without" rate's denominator."""
        return self.c + self.d


@dataclass(frozen=True, slots=True)
class SignalsResult(ResultMixin):
    kind: ClassVar[str] = "signals"
    as_of: datetime
    conversion: str  # the outcome in words
    signals: tuple[SignalValidation, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"signal": r.signal_id, "population": r.population, "a": r.a, "b": r.b, "c": r.c, "d": r.d,
                 "rate_with": r.comparison.rate_reached, "rate_without": r.comparison.rate_not_reached,
                 "lift": r.comparison.lift, "lift_low": r.comparison.lift_low, "lift_high": r.comparison.lift_high,
                 "p_value": r.comparison.p_value, "median_seconds_to_paid": r.median_seconds_to_paid,
                 "paid_before_signal": r.paid_before_signal} for r in self.signals]


def signals_evaluation_query(entered: ir.Table, paid: ir.Table, n_signals: int, horizon_seconds: int,
                             as_of: datetime) -> ir.Table:
    """One row: per signal i the 2×2 cells `a_i` … `d_i`, `median_i` (seconds, entered → paid) and `before_i`, over
    accounts whose horizon `[t0, t0 + H)` has closed by `as_of` (an open horizon is never counted as no sale)."""
    j = entered.left_join(paid, entered[ACCOUNT_ID] == paid.account_id)
    end = j[c.T0] + ibis.interval(seconds=horizon_seconds)
    j = j.filter(end <= ibis.literal(as_of))
    won = j.paid_at.notnull()
    columns: dict[str, ir.Value] = {}
    for i in range(n_signals):
        at = j[entered_of(i)]
        held = (at.notnull() & (at < end)).fill_null(False)

        def n(cond: ir.BooleanValue) -> ir.IntegerScalar:
            return ibis.coalesce(cond.cast("int64").sum(), 0)

        columns |= {f"a_{i}": n(held & won), f"b_{i}": n(held & ~won), f"c_{i}": n(~held & won),
                    f"d_{i}": n(~held & ~won),
                    f"median_{i}": (j.paid_at.epoch_seconds() - at.epoch_seconds()).cast("float64").median(
                        where=held & won & (j.paid_at >= at)),
                    f"before_{i}": n(held & won & (j.paid_at < at))}
    return j.aggregate(**columns)


def run(store: Store, ms: MilestoneState) -> SignalsResult:
    definitions = ms.definitions
    signals = definitions.signals or []
    if not signals:
        raise UserError("--signals: the definitions have no `signals:`; add them (docs/definitions.md, \"Signals\").")
    if definitions.paid is None:
        raise UserError("--signals compares account conversion: add a `paid:` section to the definitions file.")
    members = members_of(store, ms)
    reach = {m.id: c.reach_of(k) for k, m in enumerate(tracked(definitions)) if m.entity == c.ACCOUNT}
    accounts = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.ACCOUNT)
    entered = signals_query(accounts, members, store.table(schema.ACCOUNTS), signals, reach)
    users = ms.entities.filter(ms.entities[c.ENTITY_TYPE] == c.USER)
    owners = accounts.select(_aid=accounts[c.ENTITY_ID], _t0=accounts[c.T0])
    horizon = int(definitions.paid.within.total_seconds())
    paid = account_paid_query(members.select(USER_ID, ACCOUNT_ID), users, owners,
                              c.reach_of(len(tracked(definitions)) - 1), horizon)
    (row,) = store.records(signals_evaluation_query(entered, paid, len(signals), horizon, ms.as_of))
    out = []
    for i, s in enumerate(signals):
        a, b, c_, d = (int(row[f"{k}_{i}"]) for k in "abcd")
        out.append(SignalValidation(s.id, s.label, a + b + c_ + d, a, b, c_, d, compare(a, b, c_, d),
                                    number(row[f"median_{i}"]), int(row[f"before_{i}"])))
    words = f"any member's {' or '.join(definitions.paid.events)} within {definitions.paid.within.days}d of the " \
            "account's signup"
    return SignalsResult(ms.as_of, words, tuple(out))
