"""JSON lines (flat objects and Segment-spec calls) turned into the importer's uniform rows, in SQL.

Each physical line is one row. A line with a `type` key is a Segment call (track/page/screen/identify/alias/group);
a line without one is a flat record whose keys are columns (so `--map` applies). Lines that are not JSON, or not an
object, or name an unknown Segment type, keep their line number and become dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aha.store import metadata
from aha.store.formats import STAGE, quote_literal
from aha.store.mapping import split_source
from aha.store.rows import nested_members

SEGMENT_TYPES = ("track", "page", "screen", "identify", "alias", "group")

REASON_NOT_JSON = "line is not valid JSON"
REASON_NOT_OBJECT = "JSON line is not an object"
REASON_UNKNOWN_TYPE = "unknown Segment type (expected track, page, screen, identify, alias or group)"
REASON_PROPERTIES = "properties is not a JSON object"
REASON_TRAITS = "traits is not a JSON object"
REASON_LONG_ID = ("a numeric id must fit 64 bits, and one written with a fraction or an exponent (1e20) be at most "
                  "2^53 (9007199254740992): send a longer id as a string")  # = ingest.payloads.REASON_LONG_ID
REASON_ID = "an id must be a string or a whole number, not true/false, an object, a list or a fraction"
SEGMENT_IDS = ("userId", "anonymousId", "previousId", "groupId")


def _path(key: str) -> str:
    """A member name read literally, or a JSON Pointer (a --map source starting with `/`, aha.store.mapping)."""
    if key.startswith("/"):
        return quote_literal(key)
    return quote_literal('$."' + key.replace('"', '\\"') + '"')


def _text(doc: str, key: str) -> str:
    return f"nullif(trim(json_extract_string({doc}, {_path(key)})), '')"


def _id_text(doc: str, key: str) -> str:
    """An id as text; a whole number written as a double (`1e3`, `7.0`) as its digits (`1000`), as the server
    makes it (Python's int of the float), so one user is not two (`1000` and `1000.0`)."""
    return (f"(CASE WHEN json_type({doc}, {_path(key)}) = 'DOUBLE' THEN printf('%.0f', "
            f"try_cast(json_extract_string({doc}, {_path(key)}) AS DOUBLE)) ELSE {_text(doc, key)} END)")


def _json(doc: str, key: str) -> str:
    return f"json_extract({doc}, {_path(key)})"


def _is_object_or_null(expr: str) -> str:
    return f"({expr} IS NULL OR json_type({expr}) IN ('OBJECT', 'NULL'))"


def _object(expr: str) -> str:
    return f"(CASE WHEN {expr} IS NOT NULL AND json_type({expr}) = 'OBJECT' THEN {expr} ELSE CAST('{{}}' AS JSON) END)"


def _bad_id(expr: str) -> str:
    """A JSON id value that is not a string nor a whole number."""
    return (f"(json_type({expr}) IN ('BOOLEAN', 'OBJECT', 'ARRAY') OR (json_type({expr}) = 'DOUBLE' "
            f"AND try_cast(json_extract_string({expr}, '$') AS DOUBLE) <> "
            f"floor(try_cast(json_extract_string({expr}, '$') AS DOUBLE))))")


def _long_id(expr: str) -> str:
    """A JSON number id that names no exact user (ingest.payloads.exact_numeric_id, the server's rule): DuckDB reads
    an integer within 64 bits as BIGINT/UBIGINT, and any other number (`1e20`, an integer past 64 bits, `1e400`) as
    a double, exact only up to 2^53."""
    return (f"(json_type({expr}) = 'DOUBLE' AND NOT coalesce(abs(try_cast(json_extract_string({expr}, '$') "
            f"AS DOUBLE)) <= {1 << 53}, FALSE))")


def nested_object_sql(kind: str, mapping: Mapping[str, str]) -> str:
    """SQL over STAGE: a flat JSON line's nested properties (or traits) object (NULL for Segment calls)."""
    nested = "properties" if kind == "events" else "traits"
    doc = "(CASE WHEN json_valid(_raw) THEN (CASE WHEN json_type(_raw) = 'OBJECT' THEN CAST(_raw AS JSON) END) END)"
    return f"(CASE WHEN {_json(doc, 'type')} IS NULL THEN {_json(doc, mapping.get(nested, nested))} END)"


def json_rows_sql(kind: str, mapping: Mapping[str, str], canonical: tuple[str, ...], drop: Sequence[str] = ()) -> str:
    """SELECT producing the uniform row columns (see importer.ROW_COLUMNS) from STAGE(_line, _raw) of a JSONL file.

    `kind` is "events" or "users": what a flat line (no `type`) holds. `mapping` maps canonical -> source key.
    """
    src = {c: mapping.get(c, c) for c in canonical}
    nested = "properties" if kind == "events" else "traits"
    # Keys that are canonical columns, and pipeline metadata (aha.store.metadata), are removed from the flat object;
    # the rest become properties (or traits).
    top = {c: column for c, (column, inner) in ((c, split_source(v)) for c, v in src.items()) if inner is None}
    removed = ", ".join(f"{quote_literal(column)}, NULL" for column in top.values())
    base = metadata.without_pipeline_keys(f"json_merge_patch(doc, json_object({removed}))", "doc",
                                          set(top.values()))
    rest = f"json_merge_patch({base}, {nested_members(_object(_json('doc', src[nested])), src, nested, drop)})"
    flat_kind = "'event'" if kind == "events" else "'user'"
    flat_bad_nested = f"NOT {_is_object_or_null(_json('doc', src[nested]))}"
    nested_reason = REASON_PROPERTIES if kind == "events" else REASON_TRAITS
    types = ", ".join(quote_literal(t) for t in SEGMENT_TYPES)

    def flat(c: str) -> str:
        if c not in src:
            return "CAST(NULL AS VARCHAR)"
        return _id_text("doc", src[c]) if c in ("user_id", "anonymous_id", "account_id", "previous_id") else (
            _text("doc", src[c]))

    # An id that is true/false, an object, a list or a fraction is refused, as the server refuses it (Segment
    # does): read as text it would be a user named `true` gathering every such call.
    flat_ids = [src[c] for c in ("user_id", "anonymous_id", "account_id", "previous_id") if c in src]
    bad_ids = [(f"seg IS NULL AND {_bad_id(_json('doc', key))}", key) for key in flat_ids] + [
        (f"seg IS NOT NULL AND {_bad_id(_json('doc', key))}", key) for key in SEGMENT_IDS]
    long_ids = [(f"seg IS NULL AND {_long_id(_json('doc', key))}", key) for key in flat_ids] + [
        (f"seg IS NOT NULL AND {_long_id(_json('doc', key))}", key) for key in SEGMENT_IDS]
    id_field = " ".join(f"WHEN doc IS NOT NULL AND {cond} THEN {quote_literal(key)}"
                        for cond, key in (*bad_ids, *long_ids))
    id_reason = " ".join(f"WHEN doc IS NOT NULL AND {cond} THEN {quote_literal(reason)}" for reason, ids in (
        (REASON_ID, bad_ids), (REASON_LONG_ID, long_ids)) for cond, _ in ids)

    return f"""
    WITH lines AS (
        SELECT _line, _raw,
            CASE WHEN json_valid(_raw) THEN (CASE WHEN json_type(_raw) = 'OBJECT' THEN CAST(_raw AS JSON) END) END
                AS doc,
            json_valid(_raw) AS valid
        FROM {STAGE}
        WHERE _raw IS NOT NULL AND trim(_raw) <> ''
    ), typed AS (
        SELECT *,
            CASE WHEN {_json("doc", "type")} IS NOT NULL THEN coalesce(lower({_text("doc", "type")}), '') END AS seg
        FROM lines
    )
    SELECT
        _line,
        CASE WHEN doc IS NULL THEN 'invalid'
             WHEN seg IS NULL THEN {flat_kind}
             WHEN seg IN ('track', 'page', 'screen') THEN 'event'
             WHEN seg IN ('identify', 'alias', 'group') THEN seg
             ELSE 'invalid' END AS _kind,
        CASE WHEN seg IS NULL THEN {flat("message_id")} ELSE {_text("doc", "messageId")} END AS message_id,
        CASE WHEN seg IS NULL THEN {flat("event")}
             WHEN seg = 'track' THEN {_text("doc", "event")}
             WHEN seg = 'page' THEN 'Page Viewed'
             WHEN seg = 'screen' THEN 'Screen Viewed' END AS event,
        CASE WHEN seg IS NULL THEN {flat("user_id")} ELSE {_id_text("doc", "userId")} END AS user_id,
        CASE WHEN seg IS NULL THEN {flat("anonymous_id")} ELSE {_id_text("doc", "anonymousId")} END AS anonymous_id,
        CASE WHEN seg IS NULL THEN {flat("account_id")}
             WHEN seg = 'group' THEN {_id_text("doc", "groupId")}
             -- the server's rule: a string or an integer, else no account (true, an object: not an account "true")
             WHEN json_type(doc, '$.context.groupId') IN ('VARCHAR', 'BIGINT', 'UBIGINT')
                THEN nullif(trim(json_extract_string(doc, '$.context.groupId')), '') END AS account_id,
        CASE WHEN seg IS NULL THEN {flat("previous_id")}
             WHEN seg = 'alias' THEN {_id_text("doc", "previousId")} END AS previous_id,
        CASE WHEN seg IS NULL THEN {flat("timestamp")}
             ELSE coalesce({_text("doc", "timestamp")}, {_text("doc", "originalTimestamp")}) END AS ts_text,
        CAST(NULL AS TIMESTAMP) AS ts_native,
        CASE WHEN doc IS NULL THEN NULL
             WHEN seg IS NULL AND {flat_kind} = 'event' THEN {rest}
             WHEN seg IN ('page', 'screen') AND {_json("doc", "name")} IS NOT NULL
                THEN json_merge_patch({_object(_json("doc", "properties"))},
                                      json_object('name', {_json("doc", "name")}))
             WHEN seg IN ('track', 'page', 'screen') THEN {_object(_json("doc", "properties"))}
             END AS properties,
        CASE WHEN doc IS NULL THEN NULL
             WHEN seg IS NULL AND {flat_kind} = 'user' THEN {rest}
             WHEN seg = 'identify'
                THEN {_object(f"coalesce({_json('doc', 'traits')}, json_extract(doc, '$.context.traits'))")}
             WHEN seg = 'group' THEN {_object(_json("doc", "traits"))}
             END AS traits,
        CASE WHEN doc IS NOT NULL AND seg IS NULL AND {flat_bad_nested} THEN {quote_literal(src[nested])}
             WHEN doc IS NOT NULL AND seg IN ('track', 'page', 'screen')
                AND NOT {_is_object_or_null(_json("doc", "properties"))} THEN 'properties'
             WHEN doc IS NOT NULL AND seg IN ('identify', 'group')
                AND NOT {_is_object_or_null(_json("doc", "traits"))} THEN 'traits'
             WHEN doc IS NOT NULL AND seg IS NOT NULL AND seg NOT IN ({types}) THEN 'type'
             {id_field}
             WHEN doc IS NULL THEN 'line' END AS _field,
        CASE WHEN doc IS NOT NULL AND seg IS NULL AND {flat_bad_nested} THEN {quote_literal(nested_reason)}
             WHEN doc IS NOT NULL AND seg IN ('track', 'page', 'screen')
                AND NOT {_is_object_or_null(_json("doc", "properties"))} THEN {quote_literal(REASON_PROPERTIES)}
             WHEN doc IS NOT NULL AND seg IN ('identify', 'group')
                AND NOT {_is_object_or_null(_json("doc", "traits"))} THEN {quote_literal(REASON_TRAITS)}
             WHEN doc IS NOT NULL AND seg IS NOT NULL AND seg NOT IN ({types}) THEN {quote_literal(REASON_UNKNOWN_TYPE)}
             {id_reason}
             WHEN doc IS NULL AND valid THEN {quote_literal(REASON_NOT_OBJECT)}
             WHEN doc IS NULL THEN {quote_literal(REASON_NOT_JSON)} END AS _reason,
        _raw
    FROM typed
    """
