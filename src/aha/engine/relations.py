"""Small relational helpers the engine needs more than once."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir


def union_all(tables: Sequence[ir.Table]) -> ir.Table:
    """UNION ALL that ignores nullability differences (ibis refuses `!string` vs `string` in set operations)."""
    first = tables[0]
    schema = {name: dtype.copy(nullable=True) for name, dtype in first.schema().items()}
    cast = [t.select(*[t[name].cast(dtype).name(name) for name, dtype in schema.items()]) for t in tables]
    return ibis.union(*cast) if len(cast) > 1 else cast[0]
