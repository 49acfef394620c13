"""What `--db` (and `aha.open`) names: a DuckDB file, a Parquet location read in place, or Spark.

    aha.duckdb | duckdb:///data/aha.duckdb           a DuckDB file (the default; aha imports into it)
    parquet:///data/events/[?map=user_id=distinct_id]  Parquet files read in place (a directory, a file or a glob;
                                                     parquet:events/ is relative to the working directory)
    spark:local[2]?parquet=/data/events/             Spark in local mode over a Parquet location
    spark://host:7077?table=analytics.events         a Spark cluster's master, over a table of its catalog

Typer hands `--db` over as a `Path`, which folds `//` into `/`: `parquet:/data/events` and `spark:/host:7077` are
read as the URLs they came from. Every mistake is one line naming `--db` and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl

from aha.errors import UserError

Kind = Literal["duckdb", "parquet", "spark"]
SCHEMES: tuple[Kind, ...] = ("duckdb", "parquet", "spark")
SHAPES = ("a DuckDB file (aha.duckdb), parquet:///path/to/events/, spark:local[2]?parquet=/path/to/events/ or "
          "spark://HOST:PORT?table=NAME")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class Location:
    """A parsed `--db`. `path`: the DuckDB file or the Parquet location; `master`, `table`: Spark's; `mapping`:
    canonical column → source column (`map=`); `conf`: `spark.*` settings passed to the Spark session."""

    kind: Kind
    text: str
    path: str = ""
    master: str = ""
    table: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.kind == "duckdb"


def parse(db: str | Path) -> Location:
    """The location `db` names; a plain path (or one without a known scheme) is a DuckDB file."""
    text = str(db)
    match = _URL.fullmatch(text)
    scheme = match.group(1).lower() if match else ""
    if not match or (scheme not in SCHEMES and not match.group(2).startswith("/")):
        return Location("duckdb", text, path=_duckdb_file(text, text))  # `my:file.duckdb` is a file name, not a URL
    if scheme not in SCHEMES:
        raise UserError(f"--db {text}: {scheme}: is not a backend aha opens. Give {SHAPES} "
                        "(docs/engine.md says what was tried for other engines).")
    rest, _, query = match.group(2).partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if scheme == "duckdb":
        return Location("duckdb", text, path=_duckdb_file(text, _unslash(rest)))
    mapping = _mapping(text, params.pop("map", ""))
    if scheme == "parquet":
        if params:
            raise UserError(f"--db {text}: unknown option {next(iter(params))}=; a Parquet location takes map= only.")
        path = _unslash(rest)
        if not path:
            raise UserError(f"--db {text}: no Parquet location. Write parquet:///path/to/events/.")
        return Location("parquet", text, path=path, mapping=mapping)
    master = "spark://" + rest.lstrip("/") if rest.startswith("/") else rest
    conf = {k: v for k, v in params.items() if k.startswith("spark.")}
    source = {k: v for k, v in params.items() if not k.startswith("spark.")}
    unknown = set(source) - {"parquet", "table"}
    if unknown:
        raise UserError(f"--db {text}: unknown option {sorted(unknown)[0]}=; Spark takes parquet= or table=, map= "
                        "and spark.* settings.")
    if not master or len(source) != 1 or not next(iter(source.values())):
        raise UserError(f"--db {text}: Spark needs a master and one source of events, e.g. "
                        "spark:local[2]?parquet=/path/to/events/ or spark://HOST:7077?table=analytics.events.")
    return Location("spark", text, path=source.get("parquet", ""), master=master, table=source.get("table", ""),
                    mapping=mapping, conf=conf)


def require_file(db: str | Path, command: str) -> None:
    """Refuse, in one line, a command that writes events (import, sample, serve) on a location aha reads in place."""
    location = parse(db)
    if not location.is_file:
        raise UserError(f"{command} --db {location.text}: aha reads a {location.kind} location in place and never "
                        "writes events into it. Give a DuckDB file, e.g. --db aha.duckdb.")


def _duckdb_file(text: str, path: str) -> str:
    """`path` if DuckDB opens it as a file. DuckDB gives some names another meaning: `:memory:` (and `:memory:NAME`)
    is a database that vanishes with the command, so an import into it "succeeded" and kept nothing; `md:` and
    `motherduck:` make DuckDB download its MotherDuck extension and connect to that cloud service (sending the
    events there, with a token from the environment). Neither is a file: refused, naming the way to such a file."""
    if path.startswith(":memory:"):
        raise UserError(f"--db {text}: an in-memory database keeps nothing once the command ends. Give a DuckDB "
                        "file, e.g. --db aha.duckdb.")
    if path.lower().startswith(("md:", "motherduck:")):
        raise UserError(f"--db {text}: DuckDB reads md: as its MotherDuck cloud service, which aha does not open. "
                        "Give a DuckDB file, e.g. --db aha.duckdb (for a file so named, its full path: "
                        f"--db {Path(path).absolute()}).")
    return path


def _unslash(rest: str) -> str:
    """`///data/x` (a URL with an empty host) and `/data/x` (the same after Path folded it) are /data/x, and so is
    `//data/x` (a shell's Path folds it the same way, so it cannot mean a relative path); `x` is the relative x."""
    return "/" + rest.lstrip("/") if rest.startswith("/") else rest


def _mapping(text: str, value: str) -> dict[str, str]:
    """`map=user_id=distinct_id,event=event_name` → {canonical: source column}, as `aha import --map` takes it."""
    from aha.store.mapping import EVENT_COLUMNS

    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        target, sep, column = part.partition("=")
        if not sep or not column:
            raise UserError(f"--db {text}: map={part}: write CANONICAL=COLUMN, e.g. map=user_id=distinct_id.")
        if target not in EVENT_COLUMNS:
            raise UserError(f"--db {text}: map={part}: {target!r} is not a canonical column; map one of "
                            f"{', '.join(EVENT_COLUMNS)}.")
        out[target] = column
    return out
