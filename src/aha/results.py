"""The one serialiser for result objects: the CLI's `--json`, the HTTP API and the report all use it.

Results are frozen dataclasses of plain values. JSON adds `kind` and `schema_version`, writes datetimes as ISO 8601
with `Z`, dates as ISO dates, timedeltas as seconds, and turns NaN and infinity into null (never invalid JSON).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

RESULT_SCHEMA_VERSION = 1


class ResultMixin:
    """What every top-level result offers in a notebook: `.to_dict()`, `.to_frame()` and a rich HTML display."""

    __slots__ = ()
    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        out = to_jsonable(self, self.kind)
        assert isinstance(out, dict)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows for `to_frame()`; each result type says what one row is."""
        raise NotImplementedError

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows())

    def _repr_html_(self) -> str:
        title = f"<b>aha {self.kind}</b>"
        return title + self.to_frame().to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4g}")


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its denominator and 95% Wilson interval; `value` is None when the denominator is 0."""

    numerator: int
    denominator: int
    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Rate:
        from aha.stats.intervals import wilson

        ci = wilson(numerator, denominator)
        if ci is None:
            return cls(numerator, denominator, None, None, None)
        return cls(numerator, denominator, numerator / denominator, ci[0], ci[1])


def to_jsonable(value: Any, kind: str | None = None) -> Any:
    out = _convert(value)
    if kind is not None and isinstance(out, dict):
        return {"kind": kind, "schema_version": RESULT_SCHEMA_VERSION, **out}
    return out


def _convert(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _convert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _convert(value.item())
    return value
