"""Text timestamps on Spark, read by aha's one rule (store/rows.py `timestamp_sql`, docs/ingest.md "Timestamps at
the edges"), as the DuckDB lake reads them: Spark's own cast read some shapes otherwise (` UTC`, epoch text,
`+0200`) and would read a naive time in the session's zone.

The rule, in Spark SQL, from the trimmed text `t` (NULL when blank):
- digits, with a fraction or not: seconds since 1970 below 1e11, milliseconds below 1e14, microseconds below 1e17,
  nanoseconds below 1e20 (whole ns exactly), NULL above;
- a date and a time followed by an offset: `Z`, ` UTC` (any case), `±hh`, `±hhmm`, `±hh:mm`, converted to UTC;
- a naive date (`2026-01-20`) or date and time (`T` or one space between): read in UTC, the lake's default;
- anything else NULL (`yesterday`, a zone name such as `CET`, a comma fraction, `2026-02-30`, `23:59:60`).
A fraction past microseconds is dropped (not rounded); `24:00:00` is the next day's midnight, as DuckDB's cast reads
it. Each part is extracted by one regular expression and the time made by `try_make_timestamp_ntz`, so a part out of
range is NULL, never an error (ANSI mode) and never carried into the next unit.
"""

from __future__ import annotations

_TIME = "([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.]([0-9]+))?)?"
# on the upper-cased text; DuckDB's zoned cast also takes one-digit months, days and hours, and spaces before the time
OFFSET = f"^(-?[0-9]+)-([0-9]{{1,2}})-([0-9]{{1,2}})(?:T| +){_TIME}(Z| UTC|([+-])([0-9]{{2}}):?([0-9]{{2}})?)$"
NAIVE = "^(-?[0-9]+)-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.]([0-9]+))?)?)?$"
NUMBER = "^-?[0-9]+([.][0-9]+)?$"


def _part(text: str, pattern: str, group: int) -> str:
    return f"try_cast(nullif(regexp_extract({text}, '{pattern}', {group}), '') AS INT)"


def _local(text: str, pattern: str) -> str:
    """The date and time the text writes (groups 1–7 of `pattern`), as a TIMESTAMP_NTZ, NULL when out of range."""
    year, month, day, hour, minute = (_part(text, pattern, g) for g in (1, 2, 3, 4, 5))
    second = f"coalesce({_part(text, pattern, 6)}, 0)"
    fraction = f"regexp_extract({text}, '{pattern}', 7)"
    micros = f"try_cast(rpad(substr({fraction}, 1, 6), 6, '0') AS INT)"  # '' -> '000000'
    seconds = f"CAST(({second} * 1000000 + {micros}) / 1000000.0 AS DECIMAL(8, 6))"  # exact: decimals
    hour0, minute0 = f"coalesce({hour}, 0)", f"coalesce({minute}, 0)"
    midnight_next = f"({hour0} = 24 AND {minute0} = 0 AND {second} = 0 AND {micros} = 0)"  # 24:00:00
    return (f"(CASE WHEN {second} < 60 AND ({hour0} < 24 OR {midnight_next}) THEN timestampadd(HOUR, {hour0}, "
            f"try_make_timestamp_ntz({year}, {month}, {day}, 0, {minute0}, {seconds})) END)")


def _epoch(text: str) -> str:
    number = f"try_cast({text} AS DOUBLE)"

    def at(micros: str) -> str:
        return f"CAST(timestamp_micros(CAST({micros} AS BIGINT)) AS TIMESTAMP_NTZ)"

    whole_ns = (f"(CASE WHEN {text} RLIKE '^-?[0-9]+$' THEN try_cast({text} AS DECIMAL(38, 0)) DIV 1000 "
                f"ELSE round({number} / 1000) END)")
    return (f"(CASE WHEN abs({number}) < 1e11 THEN {at(f'round({number} * 1000000)')} "
            f"WHEN abs({number}) < 1e14 THEN {at(f'round({number} * 1000)')} "
            f"WHEN abs({number}) < 1e17 THEN {at(f'round({number})')} "
            f"WHEN abs({number}) < 1e20 THEN {at(whole_ns)} END)")


def text_time(column: str) -> str:
    """Spark SQL: the TIMESTAMP_NTZ (UTC) a text column's value writes by aha's rule (module docstring), or NULL."""
    t = f"nullif(trim(CAST({column} AS STRING)), '')"
    upper = f"upper({t})"
    sign = f"regexp_extract({upper}, '{OFFSET}', 9)"
    hours, minutes = f"try_cast(regexp_extract({upper}, '{OFFSET}', 10) AS INT)", \
        f"coalesce(try_cast(regexp_extract({upper}, '{OFFSET}', 11) AS INT), 0)"
    offset = f"(CASE WHEN {sign} = '-' THEN -1 ELSE 1 END) * coalesce({hours} * 3600 + {minutes} * 60, 0)"
    return f"""(CASE
        WHEN {t} IS NULL THEN NULL
        WHEN {t} RLIKE '{NUMBER}' THEN {_epoch(t)}
        WHEN {upper} RLIKE '{OFFSET}' THEN timestampadd(SECOND, -({offset}), {_local(upper, OFFSET)})
        WHEN {t} RLIKE '{NAIVE}' THEN {_local(t, NAIVE)}
    END)"""
