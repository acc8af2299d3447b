"""The listener's link to the queue: asyncio RPC, with concurrent single items coalesced.

Runs on the HTTP thread's asyncio loop (see ``server.serve_app``). A single-item
request costs the queue one ``enqueue`` RPC and one group-commit wake-up, as much as
a batch of a hundred; so single-item requests without an ``Idempotency-Key`` for the
same (tenant, event) that arrive in the same loop turn, or while that event's
previous ``enqueue`` is in flight, go to the queue as one call. Each request still
gets its own ids (the queue returns one id per item, in order) and its 202 still
waits until its item is on disk. A request with a key goes alone: the queue
deduplicates per call, so a key must name exactly one request's items, and binds
the key to the ``digest`` of that request's body (a different body is ``Conflict``).
Senders' keys live in the queue's "sender" scope, apart from the platform's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jobico.errors import Conflict, JobicoError, Unavailable
from jobico.queue import api as queue_api
from jobico.rpc.errors import ConnectionLost

log = logging.getLogger("jobico.listener")

Connect = Callable[[str, float], Awaitable[Any]]

ENQUEUE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 1.0
RECONNECT_PAUSE_S = 0.5
# The queue's idempotency namespace for keys that senders chose (CONTRACTS: enqueue).
SENDER_SCOPE = "sender"
# One coalesced call carries at most this much; the rest waits for the next call.
MAX_COALESCED_ITEMS = 512
MAX_COALESCED_BYTES = 4 * 2**20


@dataclass
class _Waiting:
    """The single-item requests of one (tenant, event) waiting for the next call."""

    items: list[bytes] = field(default_factory=list)
    futures: list[asyncio.Future[str]] = field(default_factory=list)


class QueueEnqueuer:
    """``enqueue`` over one persistent RPC client to the queue, reconnected on demand.

    While the queue is unreachable every call fails fast with ``Unavailable`` (503):
    at most one connection attempt per ``RECONNECT_PAUSE_S``.
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._client: Any = None
        self._lock: asyncio.Lock | None = None
        self._next_try = 0.0
        self._waiting: dict[tuple[str, str], _Waiting] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self.calls = 0  # enqueue RPCs sent, for status and the tests

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def enqueue(
        self, tenant: str, event: str, items: list[bytes], key: str | None,
        digest: str | None = None,
    ) -> list[str]:
        """The event ids, once the queue has the items on disk.

        ``digest``: hex sha256 of the request body, which ``key`` is bound to.
        Errors: ``Conflict`` when ``key`` was used for another body; ``Unavailable``
        (queue down, full, tenant over its depth limit, or failing: any other error
        from the queue is logged and becomes ``Unavailable``); for a coalesced item,
        the error of the call that carried it.
        Cancellation: the items may or may not be queued; a retry with the same
        ``Idempotency-Key`` settles it.
        """
        if key is not None or len(items) != 1:
            return await self._call(tenant, event, items, key, digest)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get((tenant, event))
        if waiting is None:
            waiting = self._waiting[tenant, event] = _Waiting()
            sender = asyncio.create_task(self._send_waiting(tenant, event))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        waiting.items.append(items[0])
        waiting.futures.append(future)
        return [await future]

    async def _send_waiting(self, tenant: str, event: str) -> None:
        """Send what waits for (tenant, event), call after call, until nothing does.

        Starts on the loop turn after the first item came, so that turn's items join it.
        """
        waiting = self._waiting[tenant, event]
        try:
            while waiting.items:
                items, futures = _take(waiting)
                try:
                    ids = await self._call(tenant, event, items, None, None)
                except Exception as exc:
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # the loop is closing: nobody gets an answer
                    for future in futures:
                        future.cancel()
                    raise
                for future, event_id in zip(futures, ids, strict=True):
                    if not future.done():  # a request cancelled meanwhile
                        future.set_result(event_id)
        finally:
            del self._waiting[tenant, event]
            for future in waiting.futures:
                future.cancel()

    async def _get(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                now = asyncio.get_running_loop().time()
                if now < self._next_try:
                    raise Unavailable("queue unreachable; retrying shortly")
                self._next_try = now + RECONNECT_PAUSE_S
                self._client = await self._connect("queue", CONNECT_TIMEOUT_S)
            return self._client

    async def _call(self, tenant: str, event: str, items: list[bytes], key: str | None,
                    digest: str | None) -> list[str]:
        client = await self._get()
        request = queue_api.Enqueue(tenant, event, tuple(items), key, digest, SENDER_SCOPE)
        self.calls += 1
        try:
            result = await queue_api.enqueue(client, request, timeout=ENQUEUE_TIMEOUT_S)
        except ConnectionLost:
            await self.aclose(client)
            raise
        except (Unavailable, Conflict):
            raise
        except JobicoError as exc:  # the queue failed on valid items: retryable for the sender
            log.error("queue enqueue failed: %s", exc)
            raise Unavailable(f"queue error: {exc}") from None
        return result.ids

    async def aclose(self, client: Any = None) -> None:
        """Drop the connection (only if it is still ``client``, when given)."""
        current = self._client
        if current is not None and (client is None or client is current):
            self._client = None
            await current.aclose()


def _take(waiting: _Waiting) -> tuple[list[bytes], list[asyncio.Future[str]]]:
    """The first waiting items, up to one call's worth (at least one), removed from ``waiting``."""
    count, size = 0, 0
    for item in waiting.items:
        if count and (count == MAX_COALESCED_ITEMS or size + len(item) > MAX_COALESCED_BYTES):
            break
        count, size = count + 1, size + len(item)
    items, futures = waiting.items[:count], waiting.futures[:count]
    del waiting.items[:count], waiting.futures[:count]
    return items, futures
