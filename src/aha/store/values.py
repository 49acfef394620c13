"""The one rule for numbers aha stores, on every path (docs/ingest.md, "Values"): a number is a finite double.

NaN, Infinity and -Infinity (which Python's JSON writer prints, DuckDB's JSON reader and Parquet's float columns
carry, in any case: `nan`, `-inf`, `INFINITY`), and any number past a double's range (`1e400`, an integer of 400
digits) are refused: by the tracking server when it decodes a body (ingest/bodies.py), by dead-letter replay (the
server's decoder), and by `aha import` row by row (`mark_unstorable_numbers`: the row becomes a dead letter named
like the server's refusal and is counted as rejected). A string is data whatever it spells ("NaN" stays text); the
engine reads a number from text only when it is finite (engine/matchers.py).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import duckdb

DUPLICATE_KEY = "duplicate key {} in one object: send each key once (which one counts is not defined in JSON)"
NOT_JSON = "{} is not valid JSON (send null or a string)"  # NaN, Infinity, -Infinity: the server's words
OUT_OF_RANGE = "a number out of range (larger than 1.8e308)"
_NAMES = {"nan": "NaN", "inf": "Infinity", "infinity": "Infinity"}

# The rows to look at, in SQL over the JSON text DuckDB printed: a value starting NaN/Inf in any case (after `:`, `[`
# or `,`), an exponent of three or more digits, or 209 digits in a row (with an exponent under 100 no shorter
# mantissa reaches 1e309). Strings can hold these too: `unstorable_number` decides, on the few rows found.
CANDIDATE = r"(^|[:\[,])\s*-?([nN][aA][nN]|[iI][nN][fF])|[0-9.][eE]\+?0*[1-9][0-9]{2}|[0-9]{209}"
# JSON text token by token: a string (skipped), a NaN/Infinity spelling, or a number.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|(-?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?))'
                     r"|(-?[0-9][0-9.eE+-]*)")


def number_refusal(text: str) -> str | None:
    """Why the JSON number (or NaN/Infinity spelling) `text` cannot be stored, else None."""
    lowered = text.lower()
    sign = "-" if lowered.startswith("-") else ""
    name = _NAMES.get(lowered.lstrip("-"))
    if name is not None:
        return NOT_JSON.format(sign + name if name == "Infinity" else name)
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None  # not a number: not this rule's
    return None if math.isfinite(value) else OUT_OF_RANGE


def unstorable_number(json_text: str) -> str | None:
    """The refusal of the first number in `json_text` (outside strings) that is not a finite double, else None."""
    for match in _TOKENS.finditer(json_text):
        token = match.group(1) or match.group(2)
        if token is not None:
            reason = number_refusal(token)
            if reason is not None:
                return reason
    return None


def mark_unstorable_numbers(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Reject the accepted rows of the importer's parsed `table` whose properties or traits hold a number that is
    not a finite double (field `properties` or `traits`, the refusal as reason); returns how many.

    A regular expression finds the few texts that may (in SQL); each is then read token by token here. Exported
    events repeat their properties (548 texts in the 1M events of `aha sample`): where the first rows say so, the
    expression runs once per distinct text (0.05 s of CPU against 0.25 s per 1M rows), else once per row (grouping
    a million different texts would double its cost)."""
    rejected = 0
    for field in ("properties", "traits"):
        text = f"CAST({field} AS VARCHAR)"
        rows, distinct = (int(n) for n in con.execute(
            f"SELECT count(*), count(DISTINCT t) FROM (SELECT {text} AS t FROM {table} WHERE _ok LIMIT 8192)"
        ).fetchall()[0])
        if distinct == 0:
            continue  # no accepted row has this field (events have no traits)
        texts = f"(SELECT {text} AS t FROM {table} WHERE _ok GROUP BY t)" if distinct * 4 < rows else (
            f"(SELECT {text} AS t FROM {table} WHERE _ok)")
        found = con.execute(f"SELECT DISTINCT t FROM {texts} WHERE regexp_matches(t, $p)", {"p": CANDIDATE})
        bad = [(t, reason) for (t,) in found.fetchall() if (reason := unstorable_number(str(t))) is not None]
        if not bad:
            continue
        rejected += int(con.execute(
            f"""UPDATE {table} p SET _ok = FALSE, _first = FALSE, _field = $field, _reason = b.reason
                FROM (SELECT unnest($texts) AS t, unnest($reasons) AS reason) b
                WHERE p._ok AND {text} = b.t""",
            {"field": field, "texts": [b[0] for b in bad], "reasons": [b[1] for b in bad]},
        ).fetchall()[0][0])
    return rejected


def duplicate_key(name: str) -> str:
    """The refusal of an object naming `name` twice, in the server's words (shown with JSON escapes, cut to 80)."""
    shown = json.dumps(name)
    return DUPLICATE_KEY.format(shown if len(shown) <= 80 else shown[:77] + '..."')


class _Repeated(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def first_repeated(pairs: list[tuple[str, Any]], obj: dict[str, Any]) -> str | None:
    """The first name `pairs` (an object's members in order; `obj`, them as a dict) holds twice, else None."""
    if len(obj) == len(pairs):
        return None
    seen: set[str] = set()
    return next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    name = first_repeated(pairs, obj)
    if name is not None:
        raise _Repeated(name)
    return obj


def repeated_key(json_text: str) -> str | None:
    """The first member name an object of `json_text` repeats (at any depth), else None (also for text that is
    not JSON: not this rule's)."""
    try:
        json.loads(json_text, object_pairs_hook=_unique)
    except _Repeated as repeated:
        return repeated.name
    except (ValueError, RecursionError):
        return None
    return None


def _reject(con: duckdb.DuckDBPyConnection, table: str, field: str, expr: str, bad: list[tuple[str, str]],
            lines: str | None = None) -> int:
    """Reject the accepted rows of `table` whose `expr` is one of the texts of `bad` (field `field`); `expr` may
    name `s`, the row's line in the staged table `lines`."""
    if not bad:
        return 0
    join = "" if lines is None else f", {lines} s"
    on = "" if lines is None else "AND s._line = p._line"
    return int(con.execute(
        f"""UPDATE {table} p SET _ok = FALSE, _first = FALSE, _field = $field, _reason = b.reason
            FROM (SELECT unnest($texts) AS t, unnest($reasons) AS reason) b{join}
            WHERE p._ok {on} AND {expr} = b.t""",
        {"field": field, "texts": [b[0] for b in bad], "reasons": [b[1] for b in bad]},
    ).fetchall()[0][0])


# Text that may repeat a member name below its top level: an object inside an object or a list. The top level
# itself is checked exactly in SQL (its names, against the distinct ones).
_NESTED_OBJECT = r"[:\[,]\s*\{"


def _texts(con: duckdb.DuckDBPyConnection, table: str, text: str) -> str:
    """The accepted rows' `text`s of `table` to look at: once per distinct text where the first rows say exports
    repeat them (548 property texts in the 1M events of `aha sample`), else once per row."""
    rows, distinct = (int(n) for n in con.execute(
        f"SELECT count(*), count(DISTINCT t) FROM (SELECT {text} AS t FROM {table} WHERE _ok LIMIT 8192)"
    ).fetchall()[0])
    if distinct * 4 < rows:
        return f"(SELECT {text} AS t FROM {table} WHERE _ok GROUP BY t)"
    return f"(SELECT {text} AS t FROM {table} WHERE _ok)"


def mark_duplicate_keys(con: duckdb.DuckDBPyConnection, table: str, lines: str | None = None) -> int:
    """Reject the accepted rows of the importer's parsed `table` whose properties or traits repeat a member name at
    any depth (field `properties` or `traits`), or, for JSON lines (`lines`: the staged table of raw lines), whose
    line repeats one at its top level or in `context` (field `line`): the server refuses such a body
    (ingest/bodies.py), and DuckDB would read the first where the server's decoder kept the last. Returns how many.

    SQL finds the texts whose top level repeats a name (exact: its names against the distinct ones) or that nest
    an object; each found is then read here, once per distinct text. Lines are all different: only their top level
    (one more parse of each, beside the dozen reads of its members) and, in the few naming a `groupId`, their
    `context` are looked at; their properties and traits are the parsed rows' own."""
    rejected = 0
    for field in ("properties", "traits"):
        text = f"CAST({field} AS VARCHAR)"
        found = con.execute(
            f"""SELECT DISTINCT t FROM (SELECT t, json_keys(t) AS k FROM {_texts(con, table, text)}
                                        WHERE t IS NOT NULL)
                WHERE len(k) <> list_unique(k) OR regexp_matches(t, $p)""",
            {"p": _NESTED_OBJECT})
        bad = [(t, duplicate_key(name)) for (t,) in found.fetchall() if (name := repeated_key(str(t))) is not None]
        rejected += _reject(con, table, field, text, bad)
    if lines is not None:
        context = "json_keys(s._raw, '$.context')"
        found = con.execute(
            f"""SELECT DISTINCT _raw FROM (
                    SELECT s._raw, json_keys(s._raw) AS k FROM {table} p JOIN {lines} s ON s._line = p._line
                    WHERE p._ok)
                WHERE len(k) <> list_unique(k)
                   OR (contains(_raw, '"groupId"') AND len({context.replace("s._raw", "_raw")})
                       <> list_unique({context.replace("s._raw", "_raw")}))""")
        bad = [(t, duplicate_key(name)) for (t,) in found.fetchall() if (name := repeated_key(str(t))) is not None]
        rejected += _reject(con, table, "line", "s._raw", bad, lines)
    return rejected


NUL_REASON = "contains NUL (\\u0000)"  # the server's words (ingest/bodies.py)
# A NUL in JSON text DuckDB printed is the escape \u0000 after an even run of backslashes (`\\u0000` is text).
_NUL_ESCAPE = r"(^|[^\\])(\\\\)*\\u0000"


def mark_nul(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Reject the accepted rows of the importer's parsed `table` with a NUL in an id, the event name or any key or
    string of properties or traits, as the server refuses the call (a NUL cuts C strings short where the text goes
    next: a CSV export, a terminal, a browser). Returns how many."""
    texts = ["event", "user_id", "anonymous_id", "account_id", "previous_id", "message_id"]
    nested = ["properties", "traits"]
    conds = [(c, f"contains({c}, chr(0))") for c in texts] + [
        (c, f"(contains(CAST({c} AS VARCHAR), '\\u0000') AND regexp_matches(CAST({c} AS VARCHAR), $nul))")
        for c in nested]
    field = " ".join(f"WHEN {cond} THEN '{c}'" for c, cond in conds)
    return int(con.execute(
        f"""UPDATE {table} SET _ok = FALSE, _first = FALSE, _field = CASE {field} END, _reason = $reason
            WHERE _ok AND ({' OR '.join(cond for _, cond in conds)})""",
        {"nul": _NUL_ESCAPE, "reason": NUL_REASON},
    ).fetchall()[0][0])


# GA4's BigQuery export keeps event and user parameters as a list of {key, value: {string_value, int_value,
# float_value, double_value}} (only one set); as JSON that list cannot be read by a property key.
_KEY_VALUE_LIST = re.compile(r'STRUCT\("?key"? VARCHAR, "?value"? STRUCT\((.*)\)\)\[\]')


def key_value_object(ref: str, column_type: str) -> str | None:
    """SQL making a Parquet column of GA4's key/value list an object `{key: value}` (the first set `*_value`, else
    null), or None when the column has another type. `event_params.page_location` is then the pointer
    `/event_params/page_location` in `where`, `scope` and `--segment`."""
    shape = _KEY_VALUE_LIST.fullmatch(column_type)
    if shape is None:
        return None
    fields = re.findall(r'"?([A-Za-z0-9_]*_value)"? ', shape[1] + " ")
    if not fields:
        return None
    value = "coalesce(" + ", ".join(f"to_json(x.value.{f})" for f in fields) + ", 'null')"
    kept = f"list_filter({ref}, lambda x: x.key IS NOT NULL)"
    pairs = f"list_transform({kept}, lambda x: to_json(x.key) || ':' || {value})"
    return f"CAST('{{' || array_to_string({pairs}, ',') || '}}' AS JSON)"
