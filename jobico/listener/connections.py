"""What one client connection may hold of a listener process: time and a slot (SPEC §3).

hypercorn's ``read_timeout`` is per read, so a client sending one byte every 9 s
used to hold its connection forever, and nothing capped connections. Here:

- the head of a request must arrive within ``head_timeout_s`` of the connection
  opening or of the previous response (hypercorn's ``keep_alive_timeout``, whose
  timer runs until a whole head is parsed); the connection is closed otherwise;
- its body must be complete ``body_timeout_s`` after the head (``Deadline`` on the
  app's ``receive``): the app answers 408 and the connection is closed;
- so a whole request arrives within ``request_timeout_s`` (config
  ``listener.request_timeout_s``, default 20 s) or is cut off;
- a process holds at most ``max_connections`` open connections (config
  ``listener.max_connections``, default 512): one more gets a 503 and is closed at
  ``accept``, before hypercorn or the app spend anything on it (``CappedSocket``).
  With ``listener.workers = N`` the cap is per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobico.config import ListenerConfig
from jobico.listener import asgi
from jobico.listener.asgi import Message, Receive, Scope, Send

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_REQUEST_TIMEOUT_S = 20.0
# hypercorn's own keep-alive default; the head's share of the request timeout at most.
HEAD_TIMEOUT_S = 5.0

_BUSY_BODY = json.dumps({"error": "unavailable",
                         "detail": "too many connections to this listener"}).encode()
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nretry-after: 1\r\nconnection: close\r\n\r\n%s"
        % (len(_BUSY_BODY), _BUSY_BODY))


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    @classmethod
    def of(cls, listener: ListenerConfig) -> ConnectionLimits:
        """The limits of a ``[listener]`` config section."""
        return cls(listener.max_connections, float(listener.request_timeout_s))

    @property
    def head_timeout_s(self) -> float:
        return min(HEAD_TIMEOUT_S, self.request_timeout_s / 2)

    @property
    def body_timeout_s(self) -> float:
        return self.request_timeout_s - self.head_timeout_s


class Deadline:
    """The app, with each request's body due ``seconds`` after its head.

    A ``receive`` past the deadline raises ``asgi.TooSlow`` in the app (408).
    """

    def __init__(self, app: Any, seconds: float, total_s: float) -> None:
        self.app, self.seconds, self.total_s = app, seconds, total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds

        async def receive_in_time() -> Message:
            try:
                async with asyncio.timeout_at(deadline):
                    return await receive()
            except TimeoutError:
                raise asgi.TooSlow(f"the request did not arrive whole within {self.total_s:g} s "
                                   "(listener.request_timeout_s)") from None

        await self.app(scope, receive_in_time, send)


class CappedSocket(socket.socket):
    """A listening socket whose ``accept`` refuses connections past ``limit`` open ones.

    asyncio calls ``accept`` until it raises ``BlockingIOError``. A connection over
    the cap gets ``BUSY`` and is closed right here. Open means accepted and not yet
    closed: asyncio closes the very socket object returned here (``fileno() == -1``
    then), so the count needs no hook into hypercorn.
    """

    def __init__(self, sock: socket.socket, limit: int, on_refused: Callable[[], None]) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.limit = limit
        self._open: list[socket.socket] = []
        self._on_refused = on_refused

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            conn, address = super().accept()
            if len(self._open) >= self.limit:
                self._open = [c for c in self._open if c.fileno() != -1]
            if len(self._open) < self.limit:
                self._open.append(conn)
                return conn, address
            _refuse(conn)
            self._on_refused()


def _refuse(conn: socket.socket) -> None:
    """Answer ``BUSY`` without blocking and close; what the client sent first is read, so the
    close is a FIN after the answer rather than a reset that could discard it."""
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(BUSY)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(65536)
    conn.close()
