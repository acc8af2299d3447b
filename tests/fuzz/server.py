"""One real hypercorn webhook in a background thread, shared by a whole fuzz module.

Hypothesis calls a test body hundreds of times; starting a server per example
would dominate the run, and pytest-trio cannot share an async fixture across
tests. So the server (the listener tests' app with its in-memory catalog and
enqueuer) runs in its own trio loop on a thread, and the fuzz tests speak raw
HTTP/1.1 to it over blocking sockets, which also lets them send what no HTTP
client would.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from jobico.listener.app import ListenerApp
from jobico.listener.server import bind, serve_app
from tests.listener.conftest import make_app

# Statuses the webhook may answer by design (SPEC §3, plus 405 and 429); 503 only when the
# queue is down, which these servers never are, and hypercorn's own 400/431 for bad HTTP.
DESIGNED = frozenset({202, 400, 401, 404, 405, 413, 415, 422, 429, 431})


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    head: bytes
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """A webhook on ``127.0.0.1:port`` until ``stop``; ``app`` is inspectable."""

    def __init__(self, app: ListenerApp) -> None:
        self.app = app
        sock = bind("127.0.0.1", 0, reuse_port=False)
        self.port: int = sock.getsockname()[1]
        self._sock = sock
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self.crashed: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fuzz-webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError(f"webhook did not start: {self.crashed!r}")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported by ``alive``: a crash is what we look for
            self.crashed = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_app, self.app, self._sock, logging.getLogger("fuzz"))
                self._ready.set()

    def alive(self) -> bool:
        return self._thread.is_alive() and self.crashed is None

    def stop(self) -> None:
        if self._token is not None and self._scope is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)

    # -- raw HTTP ---------------------------------------------------------------------------
    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def send_raw(self, data: bytes, timeout: float = 10.0) -> Reply:
        return send_raw(self.port, data, timeout)

    def post(self, target: bytes | str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return post(self.port, target, body, headers)


def send_raw(port: int, data: bytes, timeout: float = 10.0) -> Reply:
    """Send ``data`` as is on a fresh connection; the first reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        return read_reply(conn)


def post(port: int, target: bytes | str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    """A POST whose target and headers go out byte for byte (``Connection: close``)."""
    head = {"host": "x", "content-type": "application/json", "content-length": str(len(body)),
            "connection": "close", **(headers or {})}
    target = target.encode("latin-1") if isinstance(target, str) else target
    lines = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in head.items())
    return send_raw(port, b"POST " + target + b" HTTP/1.1\r\n" + lines + b"\r\n" + body)


def read_reply(conn: socket.socket) -> Reply:
    """Read one whole response (by ``Content-Length``, else until the server closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without a reply: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while length is None or len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    status = int(head.split(b" ", 2)[1])
    return Reply(status, head, body)


@contextmanager
def running(app: ListenerApp | None = None) -> Iterator[Server]:
    server = Server(app or make_app())
    server.start()
    try:
        yield server
    finally:
        server.stop()
