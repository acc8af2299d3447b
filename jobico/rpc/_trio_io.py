"""Byte moving shared by the trio server and client: one reader, one writer per connection.

Outgoing messages are handed synchronously to an ``Outbox``. When nothing is
queued they are written at once with a non-blocking ``send`` on a duplicate of
the socket's descriptor (no task switch: on a loaded 2-core machine each trio
scheduling round costs ~10-50 us, the bulk of a round trip). Whatever does not
fit is queued, and a single writer task sends everything that piled up in one
``send_all``, so messages ready together leave in one batch. Because senders
never await, a cancelled sender cannot leave half a message on the wire
(cleanup sends such as ``Cancel`` need no shield), and a caller's timeout still
fires while a peer is not reading. The writer task *is* the send lock.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import trio

from jobico.rpc.errors import ConnectionLost, RpcError
from jobico.rpc.events import Event
from jobico.rpc.protocol import CLOSED, Connection, Signal

RECEIVE_SIZE = 64 * 1024
"""Bytes asked of the socket per read."""

PEER_CLOSED = "peer closed the connection"
"""The reason ``pump`` returns for an orderly end."""

HIGH_WATER = 64 * 1024
"""Queued outgoing bytes above which senders wait (back-pressure on a slow peer).

Small, so that a fast stream cannot queue more than a moment's worth of items
that a client would have to read through after cancelling it.
"""


@contextlib.contextmanager
def transport_errors() -> Iterator[None]:
    """Map trio's and the OS's transport exceptions to ``ConnectionLost``, in one place."""
    try:
        yield
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise ConnectionLost(f"connection lost: {exc or type(exc).__name__}") from exc


class Outbox:
    """Outgoing bytes of one connection; see the module docstring."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._direct = socket.fromfd(stream.socket.fileno(), stream.socket.family, socket.SOCK_STREAM)
        self._direct.setblocking(False)
        self._chunks: list[bytes | memoryview] = []
        self._size = 0
        self._writing = False
        self._lost: str | None = None
        self._wake = trio.lowlevel.ParkingLot()
        self._drained = trio.lowlevel.ParkingLot()

    def put(self, data: bytes) -> None:
        """Send or queue ``data`` (never blocks; dropped once the connection is lost)."""
        if not data or self._lost is not None:
            return
        rest: bytes | memoryview = data
        if not self._chunks and not self._writing:
            try:
                sent = self._direct.send(data)
            except OSError:  # would block, or broken: the writer task finds out which
                sent = 0
            if sent == len(data):
                return
            rest = memoryview(data)[sent:]
        self._chunks.append(rest)
        self._size += len(rest)
        self._wake.unpark()

    async def wait_writable(self) -> None:
        """Wait until the queue is below ``HIGH_WATER``.

        **Cancellation:** safe, nothing is queued yet.
        **Errors:** ``ConnectionLost`` once the connection is gone.
        """
        while self._size > HIGH_WATER and self._lost is None:
            await self._drained.park()
        if self._lost is not None:
            raise ConnectionLost(self._lost)

    def close(self, reason: str) -> None:
        """Drop what is queued and fail every later ``wait_writable`` with ``reason``."""
        self._lost = reason
        self._chunks.clear()
        self._size = 0
        self._drained.unpark_all()
        self._direct.close()

    async def run(self) -> None:
        """Write queued bytes until cancelled.

        **Errors:** ``ConnectionLost`` when the socket breaks.
        """
        while True:
            while not self._chunks:
                await self._wake.park()
            chunks, self._chunks, self._size = self._chunks, [], 0
            self._drained.unpark_all()
            self._writing = True
            with transport_errors():
                await self._stream.send_all(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self._writing = False


async def pump(
    stream: trio.SocketStream, conn: Connection, outbox: Outbox, on_event: Callable[[Event], None]
) -> str:
    """Read events into ``on_event`` and write ``outbox`` until the connection ends.

    Returns why it ended (peer closed, transport broke, protocol error); the
    outbox is closed with that reason.
    **Cancellation:** stops reading and writing; the outbox is closed.
    """
    reason = PEER_CLOSED

    async def write(scope: trio.CancelScope) -> None:
        nonlocal reason
        try:
            await outbox.run()
        except ConnectionLost as exc:
            reason = str(exc)
            scope.cancel()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write, nursery.cancel_scope)
            try:
                await _receive(stream, conn, on_event)
            except RpcError as exc:
                reason = str(exc)
            nursery.cancel_scope.cancel()
    finally:
        outbox.close(reason)
    return reason


async def _receive(stream: trio.abc.Stream, conn: Connection, on_event: Callable[[Event], None]) -> None:
    """Feed ``conn`` from ``stream`` and hand over each event until the peer closes.

    **Errors:** ``ConnectionLost`` (transport), ``RemoteProtocolError`` (bad bytes).
    """
    while True:
        with transport_errors():
            data = await stream.receive_some(RECEIVE_SIZE)
        conn.receive_data(data)
        while not isinstance(event := conn.next_event(), Signal):
            on_event(event)
        if event is CLOSED:
            return
