"""When `aha serve` holds the database, commands ask it over HTTP instead of opening the file.

DuckDB lets no other process open a file a writer holds (not even read-only), so each command first looks for a live
`<db>.server.json` (`aha.ingest.running`). If there is one, the command sends the definitions file's text and its
options to the server's read API and rebuilds the result object from the JSON (`aha.results.from_jsonable`), so the
same Rich tables are printed as when it runs locally. Without a live server it opens the database itself.

Credentials: the server's local token from the discovery file (readable only by its owner), or `AHA_READ_KEY` when
set (a read key from `aha keys create --kind read`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar, cast

from aha.errors import UserError

T = TypeVar("T")
READ_KEY_ENV = "AHA_READ_KEY"
TIMEOUT_SECONDS = 600.0


def server_of(db: Path) -> Any:
    """The live server holding `db` (an `aha.ingest.running.ServerInfo`), or None; cheap when there is none."""
    from aha.ingest import running

    if not running.info_path(db).exists():
        return None
    return running.find_live(db)


def post(db: Path, path: str, body: dict[str, Any] | None = None) -> Any | None:
    """POST to the server holding `db` and return its JSON answer; None when no server runs (work locally)."""
    info = server_of(db)
    if info is None:
        return None
    import httpx

    key = os.environ.get(READ_KEY_ENV) or info.token
    try:
        response = httpx.post(info.url + path, json=body or {}, headers={"Authorization": f"Bearer {key}"},
                              timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise UserError(f"{db} is held by `aha serve` (pid {info.pid}, {info.url}), which did not answer: {exc}. "
                        "Check the server, or stop it and run the command again.") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200:
        return data
    reason = data.get("reason") if isinstance(data, dict) else response.text[:200]
    if response.status_code in (401, 403):
        raise UserError(f"the server holding {db} ({info.url}) refused the key: {reason}. "
                        f"Unset {READ_KEY_ENV} to use the server's local token, or set it to a read key.")
    if response.status_code >= 500:
        raise UserError(f"the server holding {db} ({info.url}) failed ({response.status_code}); see its log.")
    raise UserError(str(reason))


def ask(cls: type[T], db: Path, config: Path | None, analysis: str, **options: Any) -> T | None:
    """The server's answer to one analysis as a `cls` object, or None when no server runs."""
    if not _served(db):
        return None
    body: dict[str, Any] = {"options": options}
    if config is not None:
        from aha.definitions import load

        load(config)  # the file's own mistakes are reported here, exactly as without a server
        body |= {"definitions": config.read_text(encoding="utf-8"), "source": str(config)}
    data = post(db, f"/v1/query/{analysis}", body)
    if data is None:
        return None
    from aha.results import from_jsonable

    return from_jsonable(cls, data)


def analysis(cls: type[T], db: Path, config: Path, name: str, **options: Any) -> T:
    """Run `Project.<name>(**options)`: on the server holding `db` if one runs, else on the opened file."""
    served = ask(cls, db, config, name, **options)
    if served is not None:
        return served
    kept = _kept(cls, db, config, name, options)
    if kept is not None:
        return kept
    import aha
    from aha.surfaces.cli.output import working

    with working(f"computing the {name.replace('_', ' ')}"):
        return cast(T, getattr(aha.open(str(db), str(config)), name)(**options))


def _kept(cls: type[T], db: Path, config: Path, name: str, options: dict[str, Any]) -> T | None:
    """The answer the file keeps for this question (aha.analyses.result_cache), read without opening the store: a
    repeated command then imports neither Ibis nor SQLGlot. None when there is none (then compute)."""
    from aha.analyses import result_cache

    if name not in result_cache.DEFAULTS or not result_cache.enabled():
        return None
    import warnings

    from aha.errors import UserNote
    from aha.results import from_jsonable

    kept = result_cache.read(db, result_cache.file_definitions_hash(config), name, options)
    if kept is None:
        return None
    for note in kept.notes:
        warnings.warn(UserNote(note), stacklevel=2)
    return from_jsonable(cls, kept.body)


def refuse_while_serving(db: Path, what: str, instead: str) -> None:
    """A one-line user error for commands that must write the file themselves while a server holds it."""
    info = server_of(db) if _served(db) else None
    if info is not None:
        raise UserError(f"{what}: {db} is held by `aha serve` (pid {info.pid}, {info.url}). "
                        f"Stop the server first, or {instead}.")


def _served(db: Path) -> bool:
    return Path(f"{db}.server.json").exists()
