"""trio shell: serve and call the RPC protocol over Unix sockets.

The protocol itself lives in ``protocol.py``, the client's bookkeeping in
``calls.py`` and the table of what a server answers in ``dispatch.py``; this
module only moves bytes (via ``_trio_io``), sleeps and keeps time.

A ``Client``'s reader and writer run in a trio *system task*
(``trio.lowlevel.spawn_system_task``), so a caller writes only
``async with await connect(path) as client:`` (or ``connect`` ... ``aclose``),
and one client may be shared by every task of the run (a component keeps one
per peer). The system task never raises: when the connection ends it fails
every open call and stream with ``ConnectionLost`` and closes the socket.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import stat
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import trio

from jobico.errors import JobicoError, UserError
from jobico.rpc._trio_io import PEER_CLOSED, Outbox, pump
from jobico.rpc.calls import Calls
from jobico.rpc.dispatch import Methods
from jobico.rpc.errors import ConnectFailed, ConnectionLost, describe
from jobico.rpc.events import Error, Event, Reply, Request, StreamEnd, StreamItem
from jobico.rpc.protocol import Connection, Role, socket_address
from jobico.rpc.waiters import CallWaiter, StreamWaiter, Waiter

log = logging.getLogger("jobico.rpc")


# --- server --------------------------------------------------------------------


async def serve(
    path: str | Path,
    methods: Methods,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the ``methods`` table on a Unix socket at ``path`` (mode 0600) until cancelled.

    A stale socket file at ``path`` is replaced; ``task_status.started()`` is
    called once connections are accepted. Each connection answers many
    requests concurrently.
    **Cancellation:** stops accepting, cancels every running handler and removes
    the socket file.
    **Errors:** ``UserError`` when ``path`` is too long or is not a socket; ``OSError``
    from bind (e.g. the folder does not exist).
    """
    address = socket_address(path)
    _remove_stale_socket(address)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        await sock.bind(address)
        os.chmod(address, 0o600)  # before listen(): no one can connect in between
        inode = os.stat(address).st_ino
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    try:
        async with trio.open_nursery() as nursery:
            serve_one = functools.partial(_serve_connection, methods)
            await nursery.start(trio.serve_listeners, serve_one, [trio.SocketListener(sock)])
            task_status.started()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(address).st_ino == inode:
                os.unlink(address)


def _remove_stale_socket(address: str) -> None:
    try:
        mode = os.lstat(address).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise UserError(f"{address}: exists and is not a socket; refusing to replace it")
    os.unlink(address)


async def _serve_connection(methods: Methods, stream: trio.SocketStream) -> None:
    conn = Connection(Role.SERVER)
    outbox = Outbox(stream)
    scopes: dict[int, trio.CancelScope] = {}
    async with stream, trio.open_nursery() as nursery:

        def on_event(event: Event) -> None:
            if isinstance(event, Request):
                scopes[event.id] = trio.CancelScope()
                nursery.start_soon(_answer, methods, conn, outbox, event, scopes)
            elif (scope := scopes.get(event.id)) is not None:  # Cancel
                scope.cancel()

        reason = await pump(stream, conn, outbox, on_event)
        if reason != PEER_CLOSED:
            log.warning("RPC connection ended: %s", reason)
        nursery.cancel_scope.cancel()  # the client is gone: nobody wants the answers


async def _answer(
    methods: Methods,
    conn: Connection,
    outbox: Outbox,
    request: Request,
    scopes: dict[int, trio.CancelScope],
) -> None:
    """Run one request and queue its answer; a client ``Cancel`` stops it silently."""
    with scopes[request.id]:
        try:
            if request.stream:
                await _send_items(methods.find_stream(request.method)(request.params), conn, outbox, request)
                answer: Event = StreamEnd(request.id)
            else:
                answer = Reply(request.id, await methods.find_call(request.method)(request.params))
            data = conn.send(answer)
        except JobicoError as exc:
            data = conn.send(Error(request.id, *_error_fields(exc)))
        except Exception as exc:
            log.exception("RPC %r failed", request.method)
            message = f"{request.method}: {type(exc).__name__}: {exc}"
            data = conn.send(Error(request.id, "InternalError", message))
        outbox.put(data)
    del scopes[request.id]


def _error_fields(exc: JobicoError) -> tuple[str, str, tuple[str, ...]]:
    type_name, bases = describe(exc)
    return type_name, str(exc), bases


STREAM_SLICE = 64  # stream items sent between forced checkpoints


async def _send_items(
    items: AsyncGenerator[Any, None], conn: Connection, outbox: Outbox, request: Request
) -> None:
    async with contextlib.aclosing(items):
        sent = 0
        async for item in items:
            await outbox.wait_writable()
            outbox.put(conn.send(StreamItem(request.id, item)))
            sent += 1
            if sent % STREAM_SLICE == 0:  # a generator that never awaits must not starve others
                await trio.lowlevel.checkpoint()


# --- client --------------------------------------------------------------------


async def connect(path: str | Path, *, timeout: float = 5.0) -> Client:
    """Open a connection to the server at ``path``.

    **Errors:** ``ConnectFailed`` when no socket is there, nothing listens, or it
    does not accept within ``timeout`` seconds; ``UserError`` for a path too long.
    """
    address = socket_address(path)
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_unix_socket(address)
    except trio.TooSlowError:
        raise ConnectFailed(f"{address}: not accepting connections after {timeout} s") from None
    except OSError as exc:
        raise ConnectFailed(f"{address}: {exc.strerror or exc}") from None
    return Client(stream, address)


async def call(path: str | Path, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
    """One call on a fresh connection (for the CLI); errors as ``connect`` and ``Client.call``."""
    async with await connect(path, timeout=timeout or math.inf) as client:
        return await client.call(method, params, timeout=timeout)


class Client:
    """A connection to one RPC server; see the module docstring."""

    def __init__(self, stream: trio.SocketStream, address: str) -> None:
        self.address = address
        self._stream = stream
        self._calls = Calls(address)
        self._outbox = Outbox(stream)
        self._scope = trio.CancelScope()
        self._finished = trio.Event()
        trio.lowlevel.spawn_system_task(self._run, name=f"rpc client {address}")

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; open calls and streams fail with ``ConnectionLost``."""
        self._scope.cancel()
        await self._finished.wait()

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        """Call ``method`` and return its result.

        **Cancellation:** the request is cancelled on the server too.
        **Errors:** ``CallTimeout`` after ``timeout`` seconds (None = wait forever);
        ``RemoteError`` (also ``NotFound``, ``UserError``... when the server's error
        is one) ; ``ConnectionLost``; ``LocalProtocolError`` for params msgpack
        cannot encode.
        """
        waiter = CallWaiter(trio.Event)
        try:
            with trio.fail_after(math.inf if timeout is None else timeout):
                request_id = await self._open(method, params, waiter)
                try:
                    await waiter.wait()
                finally:
                    self._outbox.put(self._calls.abandon(request_id, waiter))
        except trio.TooSlowError:
            raise self._calls.timed_out(method, timeout) from None
        return waiter.outcome()

    @contextlib.asynccontextmanager
    async def stream(self, method: str, params: Any = None) -> AsyncIterator[AsyncIterator[Any]]:
        """Open the stream ``method``; the block receives an async iterator of its items.

        **Cancellation:** leaving the block early, or being cancelled, cancels the
        stream on the server (its generator is closed).
        **Errors:** iterating raises ``RemoteError`` for an error from the server
        and ``ConnectionLost``; opening raises ``ConnectionLost``.
        """
        waiter = StreamWaiter(trio.Event)
        request_id = await self._open(method, params, waiter, stream=True)
        try:
            yield waiter
        finally:
            self._outbox.put(self._calls.abandon(request_id, waiter))  # synchronous: cancel-safe

    async def _open(self, method: str, params: Any, waiter: Waiter, stream: bool = False) -> int:
        try:
            await self._outbox.wait_writable()
        except ConnectionLost as exc:
            raise ConnectionLost(f"{self.address}: {exc}") from None
        request_id, data = self._calls.open(method, params, waiter, stream=stream)
        self._outbox.put(data)
        return request_id

    async def _run(self) -> None:
        reason = "connection closed"
        try:
            with self._scope:
                reason = await pump(self._stream, self._calls.connection, self._outbox, self._calls.deliver)
        except Exception:  # a bug here must not crash the whole trio run
            log.exception("RPC client for %s failed", self.address)
            reason = "internal error in the RPC client"
        finally:
            self._outbox.close(reason)
            self._calls.close(reason)
            await trio.aclose_forcefully(self._stream)
            self._finished.set()
