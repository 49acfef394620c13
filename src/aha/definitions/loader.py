"""Read a definitions file and turn every pydantic or YAML failure into a `DefinitionError` a user can act on."""

from __future__ import annotations

import difflib
import hashlib
import json
import reprlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aha.definitions.errors import DefinitionError, DefinitionErrors, format_path
from aha.definitions.models import Definitions

ANNOTATIONS = {"name", "guidance", "controllability", "clarity"}
# A definitions file is a few KB; these bounds keep a hostile one (a server's read key can send one) from costing
# more than a few milliseconds: YAML aliases can make a 1 KB text stand for billions of values.
MAX_DEFINITIONS_BYTES = 64 * 1024  # the template is 4 KB; 64 KB holds hundreds of milestones
REWORD_BYTES = 16 * 1024  # a syntax error in a file up to this size is worded by the Python parser (see `_load`)
MAX_TRANSLATED = 100  # schema errors turned into messages (each may look for a close key): the rest are counted
MAX_EXPANDED_NODES = 100_000  # values after every alias is expanded; the template has about 200
MAX_DEPTH = 32  # nesting of lists and mappings; the template nests 5 deep, and deeper input would recurse in Python
MAX_SHOWN_CHARS = 80  # a user's value quoted in a message is cut to this length


def load(path: str | Path) -> Definitions:
    """Load and validate a definitions file; raise `DefinitionError` naming the file, the path and the fix."""
    path = Path(path)
    if not path.exists():
        raise DefinitionError(
            str(path), "no such file.", "Run `aha init` to write a commented one, or pass --config PATH.", ""
        )
    if path.is_dir():
        raise DefinitionError(str(path), "is a directory, not a definitions file.",
                              f"Pass the file in it, e.g. --config {path / 'aha.yaml'}.", "")
    try:
        with path.open("rb") as f:  # bounded: `--config /dev/zero` or a 2 GB file was read whole first
            data = f.read(MAX_DEFINITIONS_BYTES + 1)
    except OSError as exc:
        raise DefinitionError(str(path), f"cannot be read ({exc.strerror}).", "Check the path and its permissions.",
                              "") from None
    if len(data) > MAX_DEFINITIONS_BYTES:
        size = path.stat().st_size if path.is_file() else 0
        shown = f"{size:,} bytes" if size > MAX_DEFINITIONS_BYTES else f"over {MAX_DEFINITIONS_BYTES:,} bytes"
        raise DefinitionError("(file)", f"is {shown}; definitions may be at most {MAX_DEFINITIONS_BYTES:,}.",
                              "A definitions file is a few KB: check that this is the right file.", str(path))
    return parse(_decode(data, str(path)), source=str(path))


def _decode(data: bytes, source: str) -> str:
    """The file's text: UTF-8 (a byte-order mark allowed), or UTF-16 with its byte-order mark (Windows Notepad's
    "Unicode"); any other encoding is one message naming the first byte that is not UTF-8 and its line, never a
    traceback (a file saved as Windows-1252 or Latin-1 by an older editor: `Créé` as the byte 0xe9)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: the UTF-8 message below
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DefinitionError("(file)", f"line {line}: byte {data[exc.start]:#04x} is not UTF-8, so the file was saved "
                              "in another encoding (Windows-1252 or Latin-1, as older editors do).",
                              "Save it as UTF-8 and run again.", source) from None


def parse(text: str, source: str = "aha.yaml") -> Definitions:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_DEFINITIONS_BYTES:
        raise DefinitionError("(file)", f"is {size:,} bytes; definitions may be at most {MAX_DEFINITIONS_BYTES:,}.",
                              "A definitions file is a few KB: check that this is the right file.", source)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: the read API's JSON can carry "\ud800", UTF-8 cannot
        raise DefinitionError("(file)", f"holds a lone surrogate ({text[exc.start]!r} at character {exc.start:,}), "
                              "which is not valid Unicode.", "Send the definitions as the file's UTF-8 text.",
                              source) from None
    try:
        data = _load(text)
    except RecursionError:  # nesting too deep for the parser itself, before `_check_expansion` could see it
        raise DefinitionError("(file)", f"refused: values nested deeper than {MAX_DEPTH} levels.",
                              "Write nested lists and mappings out flat.", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(YAML)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, _AliasesRefused):
            fix = "Write nested lists and mappings out flat." if "nested" in problem else \
                "Write the values out instead of nesting aliases."
            raise DefinitionError(where, f"refused: {problem}.", fix, source) from None
        raise DefinitionError(where, f"not valid YAML: {problem}.",
                              "Check indentation and that values with ':' are quoted.", source) from None
    if not isinstance(data, dict):
        raise DefinitionError("(top level)", "expected a mapping of keys such as signup, paid, milestones.",
                              "Run `aha init` to see the format.", source)
    return from_dict(data, source)


def _load(text: str) -> Any:
    """libyaml when PyYAML has it (about 5x faster: every command reads the file), the Python parser otherwise. A
    syntax error in a file of a usual size is worded as the Python parser words it (the documented messages); not
    for a larger file or one nested past libyaml's limit, which the Python scanner reads in quadratic time."""
    if _FastLoader is None:
        return yaml.load(text, Loader=_StrictLoader)
    try:
        return yaml.load(text, Loader=_FastLoader)
    except _AliasesRefused:
        raise
    except yaml.YAMLError as fast:
        if len(text) > REWORD_BYTES or "nesting depth" in str(getattr(fast, "problem", "")):
            raise
        try:
            yaml.load(text, Loader=_StrictLoader)
        except yaml.YAMLError:
            raise
        except RecursionError:
            raise fast from None
        raise fast from None


class _Bounded:
    """A loader that refuses duplicate keys (PyYAML keeps the last one silently, hiding a user's first value) and
    documents whose aliases expand beyond MAX_EXPANDED_NODES values ("billion laughs")."""

    get_single_node: Any
    construct_document: Any

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


class _AliasesRefused(yaml.composer.ComposerError):
    """Aliases that expand too far, or into themselves; values nested too deep."""


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases would expand beyond MAX_EXPANDED_NODES values, or refer to themselves.

    PyYAML builds an alias as a reference to the anchored object, so loading stays cheap; but everything that walks
    the loaded value (validation, `repr`, JSON) visits every expansion, exponentially many for nested anchors.
    The composed nodes form a graph whose shared nodes are the aliases: the expanded size of a node is one plus
    that of its children, counted once per node (memoised), which is linear in the text.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            heights[key] = 1 + max((heights[id(c)] for c in _children(node)), default=0)
            if heights[key] > MAX_DEPTH:
                raise _AliasesRefused(None, None, f"values nested deeper than {MAX_DEPTH} levels", node.start_mark)
            if sizes[key] > MAX_EXPANDED_NODES:
                raise _AliasesRefused(
                    None, None, f"aliases expand to more than {MAX_EXPANDED_NODES:,} values", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _AliasesRefused(None, None, "an alias refers to a value that contains it",
                                              node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


class _StrictLoader(_Bounded, yaml.SafeLoader):
    pass


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastStrictLoader(_Bounded, yaml.CSafeLoader):
        pass

    _FastStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
    _FastLoader = _FastStrictLoader


def from_dict(data: dict[str, Any], source: str = "aha.yaml") -> Definitions:
    try:
        return Definitions.model_validate(data)
    except ValidationError as exc:
        found = exc.errors()
        errors = [_translate(err, data, source) for err in found[:MAX_TRANSLATED]]
        # "unknown key 'evnt'. Did you mean 'event'?" already says what "event is required" would.
        suggested = {e.path.rsplit(".", 1)[0] + "." + e.hint.split("'")[1] for e in errors
                     if e.hint.startswith("Did you mean")}
        errors = [e for e in errors if not (e.message == "is required." and e.path in suggested)]
        unique = list({e.render(): e for e in errors}.values())
        more = max(len(found) - MAX_TRANSLATED, 0)
        raise (unique[0] if len(unique) == 1 and not more else DefinitionErrors(unique, more)) from None


# Words other tools use for aha's keys: an unknown key close to one of these suggests the aha key.
KEY_SYNONYMS = {"window": "within", "threshold": "count", "filter": "where", "filters": "where",
                "properties": "where", "events": "event", "type": "level", "segment": "scope"}


def _suggest_key(key: str, allowed: list[str]) -> str | None:
    """The allowed key a typo or another tool's word most likely means; None rather than a far-fetched guess
    ("colour" is not "count")."""
    names = {name: name for name in allowed} | {w: k for w, k in KEY_SYNONYMS.items() if k in allowed}
    close = difflib.get_close_matches(key.lower(), list(names), n=1, cutoff=0.6)
    return names[close[0]] if close else None


def _translate(err: Any, data: dict[str, Any], source: str) -> DefinitionError:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    ctx_error = (err.get("ctx") or {}).get("error")
    loc = loc + list(getattr(ctx_error, "loc", ()))
    kind = err["type"]
    value = _value_at(data, loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        hint = f"Allowed here: {', '.join(sorted(allowed))}."
        if suggestion := _suggest_key(key, allowed):
            hint = f"Did you mean {suggestion!r}?"
        return DefinitionError(format_path(loc), f"unknown key {key!r}.", hint, source)
    if kind == "missing":
        return DefinitionError(format_path(loc), "is required.", "", source)
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return DefinitionError(format_path(loc), f"{shown(value)} is not allowed; use {expected}.", "", source)
    if kind == "string_type" and (isinstance(value, bool) or _value_at(data, loc, _ABSENT) is None):
        return DefinitionError(format_path(loc), _yaml_words(value), "", source)
    if kind == "string_pattern_mismatch" and (words := PATTERN_WORDS.get(str((err.get("ctx") or {}).get("pattern")))):
        return DefinitionError(format_path(loc), f"{shown(value)} {words}.", "", source)
    message = str(ctx_error) if ctx_error is not None else err["msg"]
    message = message.removeprefix("Value error, ")
    message = _cut(message, 4 * MAX_SHOWN_CHARS)  # a validator's message may quote the value
    if kind not in ("value_error", "assertion_error") and value is not None:
        message = f"{shown(value)}: {message}"
    return DefinitionError(format_path(loc), message[0].lower() + message[1:] + ("" if message.endswith(".") else "."),
                           "", source)


# A pattern's regular expression is no message: what each of the file's patterns means, and how to write it.
PATTERN_WORDS = {
    r"^[A-Za-z][A-Za-z0-9_]*$": "is not an id: start it with a letter, then letters, digits or _ (such as "
                                "data_connected)",
    r"^([01]\d|2[0-3]):[0-5]\d$": 'is not a time of day: write it as "HH:MM" from 00:00 to 23:59, such as "22:00"',
    r"^https?://": "is not a web address: start it with https:// or http://",
}


def _yaml_words(value: bool | None) -> str:
    """Text was meant where YAML 1.1 read a plain word as something else: `id: yes` is the truth value true."""
    if value is None:
        return ("has no value: write one (YAML reads an empty value, null and ~ as nothing; for that text itself, put "
                'it in quotes, such as "null").')
    return (f"YAML read this unquoted value as {str(value).lower()}, not as text (YAML 1.1 reads yes, no, on, off, "
            'true and false as truth values, and null or ~ as nothing). Put the text in quotes, such as "yes".')


def shown(value: Any) -> str:
    """`repr(value)` cut to MAX_SHOWN_CHARS, built without rendering the whole value (which may be huge)."""
    return _cut(_REPR.repr(value), MAX_SHOWN_CHARS)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_SHOWN_CHARS
_REPR.maxlevel = 2


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# pydantic names union members in `loc` ("str", "list[str]", "Condition"); they mean nothing to a YAML author.
_UNION_TAGS = {"str", "int", "float", "bool", "list[str]", "Condition", "function-before[parse_duration(), timedelta]",
               "list[union[str,int,float,bool]]", "timedelta"}


_ABSENT = object()  # `_value_at`'s answer for a path the data does not hold (None is a value: YAML's null)


def _value_at(data: Any, loc: list[Any], absent: Any = None) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return absent
    return data


def _allowed_keys(loc: list[Any]) -> list[str]:
    """The keys the model at `loc` accepts, for "did you mean" on an unknown key."""
    from aha.definitions import models

    model: type[BaseModel] = models.Definitions
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            break
        inner = _model_in(field.annotation)
        if inner is None:
            break
        model = inner
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def content_hash(definitions: Definitions) -> str:
    """A hash of what changes numbers (not names or guidance text), so a wording edit keeps cached state."""
    return _hash(_semantic(definitions))


def milestone_hash(definitions: Definitions, milestone_id: str) -> str:
    """Per-milestone hash: includes the signup rule, since reach times are measured from t0."""
    m = definitions.milestone(milestone_id)
    # A composite's or a members_reached milestone's numbers change with the milestones it is made of.
    parts = [definitions.milestone(p) for p in (m.all_of or [])]
    if m.members_reached is not None:
        parts.append(definitions.milestone(m.members_reached.milestone))
    payload = {"signup": definitions.signup.model_dump(mode="json"),
               "milestone": _strip(m.model_dump(mode="json", by_alias=True)),
               "parts": [_strip(p.model_dump(mode="json", by_alias=True)) for p in parts]}
    return _hash(payload)


def paid_hash(definitions: Definitions) -> str:
    payload = {"signup": definitions.signup.model_dump(mode="json"),
               "paid": definitions.paid.model_dump(mode="json") if definitions.paid else None}
    return _hash(payload)


def _semantic(definitions: Definitions) -> dict[str, Any]:
    data = definitions.model_dump(mode="json", by_alias=True)
    data["milestones"] = [_strip(m) for m in data["milestones"]]
    data = {k: v for k, v in data.items() if not (k in LATER_KEYS and v is None)}
    data.pop("discovery", None)  # which candidates discovery offers changes no stored state
    return data


# Keys added after hashes were first stored: left out while unset, so a file without them keeps its hash (and state).
LATER_KEYS = ("members_reached", "accounts", "signals")


def _strip(milestone: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in milestone.items() if k not in ANNOTATIONS and not (k in LATER_KEYS and v is None)}


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    """JSON Schema for editors (YAML language servers read it through a `# yaml-language-server: $schema=` line)."""
    schema = Definitions.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aha definitions"
    return schema
