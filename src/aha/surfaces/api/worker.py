"""Worker processes of `aha serve --workers N`: more processes accept HTTP on the same listening socket.

The process that owns the store (the one `aha serve` started) accepts connections too and serves every route. Each
worker (`Workers` starts N − 1 of them) accepts on the same socket and answers the tracking routes itself: it
decodes, validates and encodes the calls, and hands the spool lines to the owner over a socket pair
(`aha.ingest.channel`), answering 200 only after the owner says they are durable. Any other request (the read API,
the dashboard, /health, OpenAPI) is passed to the owner over loopback and its answer passed back unchanged.

Lifetimes: workers run in their own session (a Ctrl-C reaches the owner, which stops them first, before it drains
its writer). A worker that dies is started again; what it had handed over is the owner's, and whatever it had not
was never acknowledged. When the owner dies, the pair closes: each worker answers what it holds 503 and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from aha.ingest import channel

log = logging.getLogger("aha.ingest")

READY_SECONDS = 60.0  # a worker that has not said it is ready by then is left to come up on its own
STOP_SECONDS = 15.0  # a worker's graceful stop (uvicorn's 10 s for open requests) before it is killed
QUICK_END_SECONDS = 10.0  # a worker that ends sooner after its start is restarted after a growing delay
MAX_RESTART_DELAY = 30.0
MAX_PROXIED_BODY = 2 << 20  # the owner's own limits are lower (1 MB read bodies): past this, 413 here
HOP_HEADERS = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade", b"te",
               b"proxy-connection"}
ANSWER_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "date", "server"}


def default_workers() -> int:
    """Accepting processes (the owner counts as one): one per core but one, at most 8; on two cores or fewer, one.

    The owner's writer (Arrow columns, DuckDB's threads) and its spool need most of a core of their own at full
    load, so on two cores a second accepting process only moves work between processes (docs/benchmarks.md,
    "Worker processes"); each core past the second adds one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 8)


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The public socket, bound before any process serves it, inherited by the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class Workers:
    """The owner's side: starts N − 1 worker processes on `listen`, serves their channels, restarts one that dies."""

    def __init__(self, count: int, listen: socket.socket, owner_url: str, body_seconds: float,
                 header_seconds: float, connections: int, access_log: str = "errors") -> None:
        self.count = count
        self.listen = listen
        self.owner_url = owner_url
        self.args = ["--body-seconds", str(body_seconds), "--header-seconds", str(header_seconds),
                     "--connections", str(connections), "--access-log", access_log]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.started = 0  # worker processes started, restarts included
        self.calls = 0  # records the workers handed over and this process spooled
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def health(self) -> dict[str, Any]:
        alive = [p.pid for p in self.processes.values() if p.poll() is None]
        return {"processes": len(alive), "pids": alive, "started": self.started, "calls": self.calls}

    async def start(self, check: Callable[[], channel.Check], submit: channel.Submit) -> None:
        def counted(data: bytes, count: int, done: Callable[[str | None], None]) -> bool:
            accepted = submit(data, count, done)
            if accepted:
                self.calls += count
            return accepted

        ready = [asyncio.Event() for _ in range(self.count - 1)]
        for slot, event in enumerate(ready):
            self._tasks.append(asyncio.create_task(self._keep(slot, check, counted, event)))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READY_SECONDS):
                await asyncio.gather(*(event.wait() for event in ready))

    async def _keep(self, slot: int, check: Callable[[], channel.Check], submit: channel.Submit,
                    ready: asyncio.Event) -> None:
        quick_ends = 0  # a worker that ends soon after its start (it cannot start): wait longer each time
        while not self._stopping:
            began = time.monotonic()
            ours, theirs = socket.socketpair()
            process = subprocess.Popen(
                [sys.executable, "-m", "aha.surfaces.api.worker", "--listen-fd", str(self.listen.fileno()),
                 "--channel-fd", str(theirs.fileno()), "--owner-url", self.owner_url, *self.args],
                pass_fds=(self.listen.fileno(), theirs.fileno()), start_new_session=True)
            theirs.close()
            self.processes[slot] = process
            self.started += 1
            reader, writer = await asyncio.open_connection(sock=ours)
            await channel.serve(reader, writer, check, submit, ready.set)  # until the worker closes its end
            if self._stopping:
                return
            code = await asyncio.to_thread(process.wait)
            quick_ends = quick_ends + 1 if time.monotonic() - began < QUICK_END_SECONDS else 0
            delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** quick_ends)
            log.warning("worker process %d ended (exit %s); starting another in %g s", process.pid, code, delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Stop every worker (each finishes its open requests) before the owner drains its writer."""
        self._stopping = True
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.to_thread(process.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def worker_app(link_socket: socket.socket, owner_url: str, body_seconds: float) -> Any:
    """The worker's ASGI app: the tracking routes over the channel, everything else passed to the owner."""
    from aha.surfaces.api.limits import BodyDeadline, StrangerLetters
    from aha.surfaces.api.tracking import (
        ChannelSink,
        add_error_handlers,
        add_tracking_routes,
        error_body,
        error_response,
    )

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader, writer = await asyncio.open_connection(sock=link_socket)
        link = channel.Channel(reader, writer)
        sink.link = link
        answers = asyncio.create_task(link.run())
        state["owner"] = httpx.AsyncClient(base_url=owner_url, timeout=httpx.Timeout(None, connect=5.0))
        gc.freeze()
        await link.ask(channel.READY, b"")

        async def owner_gone() -> None:
            await link.closed.wait()
            log.warning("the store's process is gone: this worker stops")
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn stops accepting at once, answers what it holds

        watch = asyncio.create_task(owner_gone())
        try:
            yield
        finally:
            watch.cancel()
            writer.close()
            answers.cancel()
            await state["owner"].aclose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(BodyDeadline, seconds=body_seconds, answer=error_body)
    sink = ChannelSink(None)  # type: ignore[arg-type]  # the link is made on start-up, in the serving loop
    add_error_handlers(app)
    add_tracking_routes(app, sink, StrangerLetters())

    async def proxy(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PROXIED_BODY:
                return error_response(413, "body", f"body exceeds {MAX_PROXIED_BODY} bytes")
        target = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string") or b""
        url = target.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.lower() not in HOP_HEADERS]
        owner: httpx.AsyncClient = state["owner"]
        try:
            answer = await owner.send(owner.build_request(request.method, url, headers=headers,
                                                          content=bytes(body)), stream=True)
        except httpx.HTTPError:
            return error_response(503, "request", "the server is restarting; retry later", {"Retry-After": "5"})
        kept = {k: v for k, v in answer.headers.multi_items() if k.lower() not in ANSWER_HOP_HEADERS}
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=kept,
                                 background=BackgroundTask(answer.aclose))

    app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
                  include_in_schema=False)(proxy)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aha-serve-worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--owner-url", required=True)
    parser.add_argument("--body-seconds", type=float, required=True)
    parser.add_argument("--header-seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--access-log", default="errors", choices=("all", "errors", "off"))
    args = parser.parse_args(argv)
    from aha.surfaces.api.limits import serve

    listen = socket.socket(fileno=args.listen_fd)
    link = socket.socket(fileno=args.channel_fd)
    serve(worker_app(link, args.owner_url, args.body_seconds), sockets=[listen],
          header_seconds=args.header_seconds, connections=args.connections, access_log=args.access_log)


if __name__ == "__main__":
    main()
