"""Long-lived links to sibling components that survive their restarts.

The queue and the recorder may be briefly away (a restart, a slow fsync). The
executor must never drop an outcome because of that, so reporting calls go
through ``call_until_done`` (or an api call on ``peer.retrying``): it reconnects
and retries with capped exponential backoff until the call succeeds. Every call
made that way must be idempotent on the other side (enqueue keys, record ids,
settling an id twice).

Following a stream the same way is ``jobico.rpc.follow``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from jobico.errors import Unavailable
from jobico.rpc.errors import ConnectFailed, ConnectionLost
from jobico.rpc.trio_shell import Client

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0


def backoff_s(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures (1-based)."""
    return min(FIRST_BACKOFF_S * 2.0 ** min(max(failures - 1, 0), 10), MAX_BACKOFF_S)


class Peer:
    """Calls to one component, connecting lazily and again after the link breaks.

    A ``Caller`` (``jobico.rpc.api``): ``await queue_api.lease(peer, ...)`` works.
    """

    def __init__(self, name: str, connect: Callable[[str], Awaitable[Client]], log: logging.Logger) -> None:
        self.name = name
        self.retrying = Retrying(self)
        self._connect = connect
        self._log = log
        self._client: Client | None = None
        self._lock = trio.Lock()

    async def _get(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await self._connect(self.name)
            return self._client

    async def _drop(self, client: Client) -> None:
        if self._client is client:
            self._client = None
        with trio.CancelScope(shield=True):
            await client.aclose()

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        """One call; the connection is dropped (and remade next time) if it broke.

        **Cancellation:** cancels the request on the server too.
        **Errors:** ``Unavailable`` (``ConnectFailed``, ``ConnectionLost``,
        ``CallTimeout``, or the peer's own ``Unavailable``) and any ``RemoteError``.
        """
        client = await self._get()
        try:
            return await client.call(method, params, timeout=timeout)
        except (ConnectionLost, ConnectFailed):
            await self._drop(client)
            raise

    async def call_until_done(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        """``call``, retried with backoff for as long as the peer is unavailable.

        **Cancellation:** the only way to stop it while the peer is down.
        **Errors:** only those that are not ``Unavailable`` (a ``UserError``
        from the peer will not improve by retrying).
        """
        failures = 0
        while True:
            try:
                return await self.call(method, params, timeout=timeout)
            except Unavailable as exc:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    self._log.warning("%s.%s unavailable (%s); retrying", self.name, method, exc)
                await trio.sleep(backoff_s(failures))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._drop(self._client)


class Retrying:
    """A peer as a ``Caller`` whose every call is ``call_until_done``.

    For api calls that must not be lost: ``await recorder_api.append(peer.retrying, ...)``.
    """

    __slots__ = ("_peer",)

    def __init__(self, peer: Peer) -> None:
        self._peer = peer

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        return await self._peer.call_until_done(method, params, timeout=timeout)
