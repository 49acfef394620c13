"""The discovery file `<db>.server.json`: how other `aha` processes find a server that holds the database.

DuckDB lets no other process open a file that a writer holds, not even read-only. So `aha serve` announces itself
next to the database (url, pid, started_at and a local token), and the CLI sends its questions there instead of
opening the file. The file is created with mode 0600: the token in it is as powerful as the database file itself
(only the user who could open the file can read it), which gives local users zero setup.

A file is stale when its pid is not alive, or when nothing answers `/health` at its url within a few seconds; a
stale file is ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HEALTH_WAIT_SECONDS = 3.0
LOCAL_TOKEN_PREFIX = "aha_local_"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    pid: int
    started_at: str
    token: str
    db: str


def info_path(db: str | Path) -> Path:
    return Path(f"{db}.server.json")


def new_token() -> str:
    return LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32)


def connect_url(host: str, port: int) -> str:
    """The url a local client uses: a wildcard bind is reached over loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write(db: str | Path, url: str, token: str) -> ServerInfo:
    """Announce this process as the server of `db` (atomically, owner-only)."""
    info = ServerInfo(url=url, pid=os.getpid(), started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      token=token, db=str(Path(db).resolve()))
    path = info_path(db)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"url": info.url, "pid": info.pid, "started_at": info.started_at, "token": info.token,
                   "db": info.db}, f)
    os.replace(tmp, path)
    return info


def remove(db: str | Path, pid: int | None = None) -> None:
    """Remove the file (only if it is `pid`'s, when given: a newer server may have replaced it)."""
    path = info_path(db)
    if pid is not None:
        current = read(db)
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read(db: str | Path) -> ServerInfo | None:
    try:
        data = json.loads(info_path(db).read_text(encoding="utf-8"))
        return ServerInfo(url=str(data["url"]), pid=int(data["pid"]), started_at=str(data.get("started_at", "")),
                          token=str(data.get("token", "")), db=str(data.get("db", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return ServerInfo(url="", pid=0, started_at="", token="", db="")  # unreadable or torn: stale


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(url: str, wait: float = HEALTH_WAIT_SECONDS) -> bool:
    import httpx

    deadline = time.monotonic() + wait
    while True:
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def find_live(db: str | Path, wait: float = HEALTH_WAIT_SECONDS) -> ServerInfo | None:
    """The running server of `db`, or None; a stale file is removed on the way."""
    info = read(db)
    if info is None:
        return None
    if info.pid != os.getpid() and pid_alive(info.pid) and info.url and answers(info.url, wait):
        return info
    remove(db, info.pid if info.pid else None)
    return None
