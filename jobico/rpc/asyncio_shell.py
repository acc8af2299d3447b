"""asyncio shell: the RPC client for the Textual TUI and the CLI (no server on asyncio).

The same public names as ``trio_shell`` (``connect``, ``Client.call``,
``Client.stream``, one-shot ``call``) over the same sans-IO core. A background
task reads the socket; outgoing messages produced in the same event-loop turn
are joined and written once, at the end of the turn (batched writes). Writes
are synchronous ``transport.write`` calls, so a cancelled caller can never leave
half a message on the wire, and ``Cancel`` needs no shield.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jobico.rpc.calls import Calls
from jobico.rpc.errors import ConnectFailed, RpcError
from jobico.rpc.protocol import socket_address
from jobico.rpc.waiters import CallWaiter, StreamWaiter, Waiter

log = logging.getLogger("jobico.rpc")

RECEIVE_SIZE = 256 * 1024


async def connect(path: str | Path, *, timeout: float = 5.0) -> Client:
    """Open a connection to the server at ``path``.

    **Errors:** ``ConnectFailed`` when no socket is there, nothing listens, or it
    does not accept within ``timeout`` seconds; ``UserError`` for a path too long.
    """
    address = socket_address(path)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(address, limit=RECEIVE_SIZE)
    except TimeoutError:
        raise ConnectFailed(f"{address}: not accepting connections after {timeout} s") from None
    except OSError as exc:
        raise ConnectFailed(f"{address}: {exc.strerror or exc}") from None
    return Client(reader, writer, address)


async def call(path: str | Path, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
    """One call on a fresh connection (for the CLI); errors as ``connect`` and ``Client.call``."""
    async with await connect(path, timeout=timeout or math.inf) as client:
        return await client.call(method, params, timeout=timeout)


class Client:
    """A connection to one RPC server, usable from any task of its event loop."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        self.address = address
        self._writer = writer
        self._calls = Calls(address)
        self._outgoing: list[bytes] = []
        self._reader_task = asyncio.get_running_loop().create_task(self._run(reader))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; open calls and streams fail with ``ConnectionLost``."""
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        """Call ``method`` and return its result.

        **Cancellation:** the request is cancelled on the server too.
        **Errors:** ``CallTimeout`` after ``timeout`` seconds (None = wait forever);
        ``RemoteError`` (also ``NotFound``, ``UserError``... when the server's error
        is one); ``ConnectionLost``; ``LocalProtocolError`` for unencodable params.
        """
        waiter = CallWaiter(asyncio.Event)
        try:
            async with asyncio.timeout(timeout):
                request_id = await self._open(method, params, waiter)
                try:
                    await waiter.wait()
                finally:
                    self._put(self._calls.abandon(request_id, waiter))
        except TimeoutError:
            raise self._calls.timed_out(method, timeout) from None
        return waiter.outcome()

    @contextlib.asynccontextmanager
    async def stream(self, method: str, params: Any = None) -> AsyncIterator[AsyncIterator[Any]]:
        """Open the stream ``method``; the block receives an async iterator of its items.

        **Cancellation:** leaving the block early, or being cancelled, cancels the
        stream on the server.
        **Errors:** iterating raises ``RemoteError`` for an error from the server
        and ``ConnectionLost``; opening raises ``ConnectionLost``.
        """
        waiter = StreamWaiter(asyncio.Event)
        request_id = await self._open(method, params, waiter, stream=True)
        try:
            yield waiter
        finally:
            self._put(self._calls.abandon(request_id, waiter))

    async def _open(self, method: str, params: Any, waiter: Waiter, stream: bool = False) -> int:
        if self._calls.lost is None:
            with contextlib.suppress(ConnectionError):  # the reader task reports it
                await self._writer.drain()  # back-pressure while the server is not reading
        request_id, data = self._calls.open(method, params, waiter, stream=stream)
        self._put(data)
        return request_id

    def _put(self, data: bytes) -> None:
        if not data:
            return
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(data)

    def _flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        if self._calls.lost is None:
            self._writer.write(data)

    async def _run(self, reader: asyncio.StreamReader) -> None:
        reason = "connection closed"
        try:
            while self._calls.received(await reader.read(RECEIVE_SIZE)):
                pass
            reason = "server closed the connection"
        except (OSError, RpcError) as exc:
            reason = str(exc)
        except Exception:  # a bug here must fail the calls, not vanish with the task
            log.exception("RPC client for %s failed", self.address)
            reason = "internal error in the RPC client"
        finally:
            self._calls.close(reason)
            self._writer.close()
