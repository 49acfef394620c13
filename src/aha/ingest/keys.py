"""Who may send (write keys) and who may read (read keys); only a salted hash of each key is ever stored.

A key reads `aha_<kind>_<id>_<secret>`: the id finds the row, the secret is checked against sha256(salt + secret).
A 192-bit random secret cannot be guessed, so a fast hash is enough (a slow KDF guards low-entropy passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import duckdb

from aha.errors import UserError
from aha.store import schema
from aha.store.database import Store

KeyKind = Literal["write", "read"]
KINDS: tuple[str, ...] = ("write", "read")
MAX_NAME_CHARS = 64  # a key's name is the source stored with every event it sends


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    kind: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    kind: str
    salt: str
    hash: str
    revoked: bool


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def create_key(store: Store, name: str, kind: str = "write") -> str:
    """A new key named `name` (the source name stored with its events); returns the only copy of the plain key."""
    if kind not in KINDS:
        raise UserError(f"--kind {kind}: use write or read.")
    if len(name) > MAX_NAME_CHARS:
        raise UserError(f"--name {name[:20]!r}… is {len(name):,} characters; use at most {MAX_NAME_CHARS} "
                        "(e.g. --name web).")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"--name {name!r}: use letters, digits, - and _ (e.g. --name web).")
    key_id, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(24), secrets.token_hex(16)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        store.raw.execute(
            f"INSERT INTO {schema.API_KEYS} VALUES (?, ?, ?, ?, ?, ?, NULL)",
            [name, kind, key_id, salt, _digest(salt, secret), now],
        )
    except duckdb.ConstraintException:
        raise UserError(f"a key named {name!r} exists already; pick another --name (`aha keys list`).") from None
    return f"aha_{kind}_{key_id}_{secret}"


def list_keys(store: Store) -> list[KeyInfo]:
    rows = store.raw.execute(
        f"SELECT name, kind, key_id, created_at, revoked_at FROM {schema.API_KEYS} ORDER BY created_at, name"
    ).fetchall()
    return [KeyInfo(*row) for row in rows]


def revoke_key(store: Store, name: str) -> None:
    known = [k.name for k in list_keys(store)]
    if name not in known:
        raise UserError(f"no key named {name!r}; `aha keys list` shows {', '.join(known) or 'none yet'}.")
    now = datetime.now(UTC).replace(tzinfo=None)
    store.raw.execute(
        f"UPDATE {schema.API_KEYS} SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?", [now, name]
    )


class KeyRing:
    """The keys as loaded at start (or the last `reload`); `check` answers (source name, kind) for a valid key."""

    def __init__(self, store: Store) -> None:
        self._rows: dict[str, _Row] = {}
        self.reload(store)

    def reload(self, store: Store) -> None:
        """Read the keys again (after a key was created or revoked through the running server)."""
        rows = store.raw.execute(
            f"SELECT key_id, name, kind, salt, hash, revoked_at IS NOT NULL FROM {schema.API_KEYS}"
        ).fetchall()
        self._rows = {str(r[0]): _Row(str(r[1]), str(r[2]), str(r[3]), str(r[4]), bool(r[5])) for r in rows}

    def check(self, key: str | None) -> tuple[str, str] | None:
        if not key or not key.startswith("aha_"):
            return None
        parts = key.split("_", 3)
        if len(parts) != 4:
            return None
        _, kind, key_id, secret = parts
        row = self._rows.get(key_id)
        if row is None or row.revoked or row.kind != kind:
            return None
        if not hmac.compare_digest(row.hash, _digest(row.salt, secret)):
            return None
        return row.name, row.kind
