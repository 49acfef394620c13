"""The real server in a subprocess (datasette's ds_localhost_http_server, on a free port): start, poll, stop."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from aha.store import open_store

LOCAL = "http://127.0.0.1"  # base_url of a TestClient on the dashboard: it answers loopback names only
AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha") or "aha"


def aha(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def sample_db(folder: Path, users: int = 50) -> Path:
    """A small sample store `aha.duckdb` with its aha.yaml in `folder`, made by the console script."""
    db = folder / "aha.duckdb"
    done = aha("sample", "--users", str(users), "--db", str(db), cwd=folder)
    assert done.returncode == 0, done.stderr
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_key(db: Path, name: str = "web", kind: str = "write") -> str:
    done = aha("keys", "create", "--name", name, "--kind", kind, "--db", str(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Server:
    db: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()  # more `aha serve` options
    nofile: int | None = None  # a file-descriptor limit (soft and hard) for the server process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = (self.db.parent / "server.log").open("ab")
        self.process = subprocess.Popen(
            [AHA, "serve", "--db", str(self.db), "--port", str(self.port), *self.args], stdout=log, stderr=log,
            cwd=self.db.parent, preexec_fn=self._limit if self.nofile is not None else None,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.db.parent / "server.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.process.kill()  # never left running: orphans slowed every later start on a loaded machine
        self.process.wait()
        raise AssertionError("server did not answer /health within 60 s")

    def _limit(self) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown drains the writer and closes the store."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


@contextlib.contextmanager
def running(db: Path, *args: str) -> Iterator[Server]:
    server = Server(db, free_port(), args=args).start()
    try:
        yield server
    finally:
        server.stop()


def health(server: Server) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(server.url + "/health", timeout=10).json()
    return answer


def settled(server: Server) -> dict[str, object]:
    """/health once every acknowledged call is stored (in_flight back at zero); fails after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        state = health(server)
        if state["in_flight"] == 0 or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    store = open_store(db, read_only=True)
    try:
        return store.raw.execute(sql).fetchall()
    finally:
        store.close()


def report(db: Path, config: Path) -> dict[str, object]:
    done = aha("report", "--json", "--db", str(db), "--config", str(config), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def dashboard_page(db: Path, config: Path, path: str, status: int = 200) -> str:
    """The HTML `aha dashboard` answers for `path` on a loopback client, its status checked."""
    from fastapi.testclient import TestClient

    from aha.surfaces.web.local import create_dashboard

    with TestClient(create_dashboard(db, config), base_url=LOCAL) as client:
        got = client.get(path)
    assert got.status_code == status, got.text
    return got.text
