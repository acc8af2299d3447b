"""The client side of one connection, without I/O: both shells' ``Client`` keep one.

``Calls`` owns the protocol ``Connection`` and the waiter of every open request.
A shell only moves bytes and sleeps: it sends what ``open`` and ``abandon``
return, feeds what it reads to ``received`` (or hands events to ``deliver``), and
calls ``close`` once when the connection ends, which fails every open request.
What a shell does differently (how a task sleeps, how a timeout fires, how
writes wait for a slow peer) stays in the shell; the rules stay here.
"""

from __future__ import annotations

from typing import Any

from jobico.rpc.errors import CallTimeout, ConnectionLost
from jobico.rpc.events import Cancel, Error, Event, Reply, StreamEnd, StreamItem
from jobico.rpc.protocol import CLOSED, Connection, Role, Signal
from jobico.rpc.waiters import Waiter


class Calls:
    """Open calls and streams of one client connection; see the module docstring."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.connection = Connection(Role.CLIENT)
        self.lost: str | None = None  # why the connection ended, once it has
        self._waiting: dict[int, Waiter] = {}

    def open(self, method: str, params: Any, waiter: Waiter, *, stream: bool = False) -> tuple[int, bytes]:
        """A new request answered to ``waiter``: its id and the bytes to send.

        **Errors:** ``ConnectionLost`` once the connection has ended;
        ``LocalProtocolError`` for params msgpack cannot encode (nothing is opened).
        """
        if self.lost is not None:
            raise self.lost_error()
        request = self.connection.request(method, params, stream=stream)
        data = self.connection.send(request)
        self._waiting[request.id] = waiter
        return request.id, data

    def abandon(self, request_id: int, waiter: Waiter) -> bytes:
        """Forget a request (answered, timed out, left early): the ``Cancel`` to send, if any."""
        if self._waiting.get(request_id) is not waiter:
            return b""  # answered already, or the connection ended
        del self._waiting[request_id]
        return self.connection.send(Cancel(request_id))

    def deliver(self, event: Event) -> None:
        """Hand an answer from the server to its waiter (the core checked it is one)."""
        if isinstance(event, StreamItem):
            self._waiting[event.id].deliver(event)
        elif isinstance(event, Reply | Error | StreamEnd):
            self._waiting.pop(event.id).deliver(event)

    def received(self, data: bytes) -> bool:
        """Feed bytes read from the socket (``b""``: closed); False once the server has closed.

        **Errors:** ``RemoteProtocolError`` for bytes that are not valid messages.
        """
        self.connection.receive_data(data)
        while True:
            event = self.connection.next_event()
            if isinstance(event, Signal):
                return event is not CLOSED
            self.deliver(event)

    def close(self, reason: str) -> None:
        """The connection ended: every open call and stream fails with ``ConnectionLost``."""
        self.lost = reason
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter.fail(self.lost_error())

    def lost_error(self) -> ConnectionLost:
        return ConnectionLost(f"{self.address}: {self.lost}")

    def timed_out(self, method: str, timeout: float | None) -> CallTimeout:
        return CallTimeout(f"{method!r} on {self.address}: no reply in {timeout} s")
