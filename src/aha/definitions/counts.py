"""Numbers in a definitions file: counts bounded, floats finite (docs/semantics.md, "Numbers in definitions").

A count past what int64 holds (`count: 10000000000000000000000`) was accepted and failed the report with a
traceback from the expression builder; a float written `.inf` or `.nan` (a threshold, a filter's bound, a holdout)
was accepted and then compared in SQL, where DuckDB orders NaN above every number.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

MAX_COUNT = 1_000_000_000  # events, members or domains: more is a typo, and past 2^63 no engine can compare it
Count = Annotated[int, Field(ge=1, le=MAX_COUNT, strict=True)]  # strict: `count: yes` (YAML's true) is not 1
# Every definitions model: unknown keys are errors, values are frozen, a float must be finite.
STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def finite(value: Any) -> Any:
    """A non-finite float refused in one message (in a union, pydantic would list one error per member)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number; write a number, or quote it (\"{value}\") to mean the text")
    return value


def one_of(value: Any) -> Any:
    """A value, or a list of them of which the property must equal one: never an empty list, which matches nothing
    (`scope: {plan: []}` made a rule nudge nobody and a milestone count nobody, and `aha validate` said ok)."""
    if isinstance(value, list) and not value:
        raise ValueError("an empty list matches nothing: give one value or more, or remove the key")
    return finite(value)


# A value compared with a property or trait: `where: {plan: pro}`, `{in: [...]}`, `scope`, a signal's `trait`.
Scalar = Annotated[str | int | float | bool, BeforeValidator(finite)]
Scalars = Annotated[Scalar | list[Scalar], BeforeValidator(one_of)]  # a value or a list of them (one of)
