"""The one serialiser for result objects: the CLI's `--json`, the HTTP API and the report all use it.

Results are frozen dataclasses of plain values. JSON adds `kind` and `schema_version`, writes datetimes as ISO 8601
with `Z`, dates as ISO dates, timedeltas as seconds, and turns NaN and infinity into null (never invalid JSON).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar, Union, cast

RESULT_SCHEMA_VERSION = 1
T = TypeVar("T")


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


def duration_text(seconds: float | None) -> str:
    """A duration as people write it: `45s`, `30m`, `5.5m`, `2.8h`, `7d`, `1.5d`; whole units without a decimal,
    days from 24 hours up (`7d`, never `168h`); `—` for None."""
    if seconds is None:
        return "—"
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            value = s / size
            text = f"{value:.0f}{unit}" if abs(value - round(value)) < 0.05 else f"{value:.1f}{unit}"
            break
    else:
        text = f"{s:.0f}s"
    return ("-" if seconds < 0 else "") + text


def number(value: Any) -> float | None:
    """A database value as a float, or None for SQL NULL and NaN (pandas' stand-in for NULL): never NaN in results."""
    if value is None:
        return None
    f = float(value)
    return None if f != f else f


def to_jsonable(value: Any, kind: str | None = None, exact: bool = False) -> Any:
    """`exact`: datetimes to the microsecond and floats as they are (NaN and infinity kept, for `json.dumps`'s
    `NaN`/`Infinity`), so that `from_jsonable` gives back an equal object (the kept answers of
    aha.analyses.result_cache); otherwise the public JSON described above."""
    out = _convert(value, exact)
    if kind is not None and isinstance(out, dict):
        return {"kind": kind, "schema_version": RESULT_SCHEMA_VERSION, **out}
    return out


@functools.cache
def _field_names(cls: Any) -> tuple[str, ...] | None:
    """A dataclass's field names (None: not a dataclass), once per class: `dataclasses.fields` per value was most of
    a checklist answer's cost on the server."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def _convert(value: Any, exact: bool = False) -> Any:
    kind: Any = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: _convert(getattr(value, name), exact) for name in names}
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds" if exact else "seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float):
        return value if exact or math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _convert(v, exact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v, exact) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _convert(value.item(), exact)
    return value


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a result object from `to_jsonable`'s output (the CLI renders what a running server answered).

    Driven by the dataclass type hints: nested dataclasses, tuples, lists, dicts, Optional/unions, Literal, datetime
    (ISO 8601, `Z`: back to naive UTC), date, timedelta (seconds); a null where a float is due is NaN again.
    `kind` and `schema_version` are ignored.
    """
    return cast(T, _rebuild(cls, data))


def _rebuild(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            return None if type(None) in args else (math.nan if float in args else None)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _rebuild(arg, value)
            except (TypeError, ValueError):
                continue
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_rebuild(args[0], v) for v in value)
        return tuple(_rebuild(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_rebuild(arg, v) for v in value]
    if origin is dict:
        key_type, value_type = typing.get_args(tp) or (Any, Any)
        return {_rebuild(key_type, k): _rebuild(value_type, v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{tp.__name__}: expected an object, got {type(value).__name__}")
        hints = _hints(tp)
        return tp(**{f.name: _rebuild(hints[f.name], value.get(f.name)) for f in dataclasses.fields(tp)
                     if f.init and f.name in value})
    if value is None:
        return math.nan if tp is float else None
    if tp is datetime:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed.replace(tzinfo=None) if parsed.tzinfo is None else (
            parsed - (parsed.utcoffset() or timedelta(0))).replace(tzinfo=None)
    if tp is date:
        return date.fromisoformat(str(value))
    if tp is timedelta:
        return timedelta(seconds=float(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise TypeError(f"expected {tp.__name__}, got {value!r}")
        return value
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
