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
from functools import partial
from typing import Any

import trio

from jobico.listener.app import ListenerApp
from jobico.listener.connections import ConnectionLimits
from jobico.listener.server import bind, serve_app
from tests.listener.conftest import make_app

# Statuses the webhook may answer by design (SPEC §3, plus 405, 408, 409, 429 and 505); 503
# only when the queue is down, which these servers never are, and hypercorn's own 400/431.
DESIGNED = frozenset({202, 400, 401, 404, 405, 408, 409, 413, 415, 422, 429, 431, 505})
# The ``error`` of the app's answer for each status (SPEC §3's shape).
ERRORS = {400: "bad_request", 401: "signature", 404: "not_found", 405: "method_not_allowed",
          408: "timeout", 409: "idempotency_conflict", 413: "too_large",
          415: "unsupported_media_type", 422: "schema", 429: "rate_limited",
          503: "unavailable", 505: "http_version_not_supported"}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    head: bytes
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def expect(reply: Reply, status: int, *, by: str = "app", items: int = 1) -> Reply:
    """``reply`` is exactly ``status``, with the body its author gives it.

    ``by="app"``: a 202 carries ``items`` event ids, an error the SPEC §3 document with
    the ``error`` of ``ERRORS``. ``by="http"``: hypercorn (h11) refused the bytes before
    the app saw a request: an empty body.
    """
    assert reply.status == status, (reply.status, status, reply.body[:300])
    if by == "http":
        assert reply.body == b"", reply.body[:300]
    elif status == 202:
        ids = reply.json()["ids"]
        assert len(ids) == items and all(len(i) == 16 for i in ids), reply.body[:300]
    else:
        doc = reply.json()
        assert doc["error"] == ERRORS[status] and doc["detail"], doc
        assert set(doc) <= {"error", "detail", "more"}, doc
    return reply


class Server:
    """A webhook on ``127.0.0.1:port`` until ``stop``; ``app`` is inspectable."""

    def __init__(self, app: ListenerApp, limits: ConnectionLimits = ConnectionLimits()) -> None:
        self.app = app
        self.limits = limits
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
                await nursery.start(partial(serve_app, self.app, self._sock,
                                            logging.getLogger("fuzz"), limits=self.limits))
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
def running(app: ListenerApp | None = None,
            limits: ConnectionLimits = ConnectionLimits()) -> Iterator[Server]:
    server = Server(app or make_app(), limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()
