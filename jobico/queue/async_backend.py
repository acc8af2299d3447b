"""The async face the queue service talks to, and ``AsyncAdapter``, which gives it to sync backends.

The ``redis`` backend waits on the network, so its calls are coroutines; the
``file`` and ``memory`` backends answer from memory at once. Rather than two
services, the service awaits every backend call, and ``AsyncAdapter`` wraps a
sync backend so that awaiting it costs one coroutine step. ``open`` (recover,
then close) reads and writes files, so it runs in a worker thread. ``pending``
and ``flush`` stay sync: the group-commit flusher calls them from its thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import trio

from jobico.queue.api import (
    Applied,
    DeadLetter,
    Delivery,
    EnqueueResult,
    Renewed,
    Settled,
    Settlement,
    TenantStats,
)
from jobico.queue.backend import Backend, Packages


class AsyncBackend(Protocol):
    """``backend.Backend`` with awaitable calls (the same contract, method by method)."""

    def open(self) -> AbstractAsyncContextManager[object]:
        """Load durable state (or connect) on entry; flush and release on exit."""
    async def enqueue(
        self,
        tenant: str,
        event: str,
        items: Sequence[bytes],
        key: str | None,
        *,
        digest: str | None = None,
        scope: str = "sender",
    ) -> EnqueueResult: ...
    async def lease(
        self,
        worker: str,
        max_items: int,
        lease_ms: int,
        *,
        held: Mapping[str, int] | None = None,
        per_tenant: int | None = None,
    ) -> list[Delivery]: ...
    async def renew(self, worker: str, ids: Sequence[str], lease_ms: int) -> Renewed: ...
    async def settle(self, worker: str, results: Sequence[Settlement]) -> Settled: ...
    async def set_packages(self, packages: Packages) -> None: ...
    async def expire(self) -> int: ...
    async def release(self, worker: str) -> int: ...
    async def compact(self) -> int: ...
    async def dead(self, tenant: str | None) -> list[DeadLetter]: ...
    async def replay(self, ids: Sequence[str] | None, tenant: str | None) -> Applied: ...
    async def purge(self, ids: Sequence[str] | None, tenant: str | None) -> Applied: ...
    async def stats(self) -> dict[str, TenantStats]: ...
    async def pause(self, tenant: str) -> None: ...
    async def resume(self, tenant: str) -> None: ...
    def pending(self) -> bool: ...
    def flush(self, max_records: int, max_bytes: int) -> int: ...


class AsyncAdapter:
    """A sync ``Backend`` (file, memory) behind the ``AsyncBackend`` face."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    @asynccontextmanager
    async def open(self) -> AsyncIterator[AsyncAdapter]:
        """Recover in a worker thread; on exit, flush and close there too (shielded: it must finish).

        Errors: ``OSError`` when the queue folder cannot be read.
        """
        await trio.to_thread.run_sync(self._b.recover)
        try:
            yield self
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._b.close)

    async def enqueue(
        self,
        tenant: str,
        event: str,
        items: Sequence[bytes],
        key: str | None,
        *,
        digest: str | None = None,
        scope: str = "sender",
    ) -> EnqueueResult:
        return self._b.enqueue(tenant, event, items, key, digest=digest, scope=scope)

    async def lease(
        self,
        worker: str,
        max_items: int,
        lease_ms: int,
        *,
        held: Mapping[str, int] | None = None,
        per_tenant: int | None = None,
    ) -> list[Delivery]:
        return self._b.lease(worker, max_items, lease_ms, held=held, per_tenant=per_tenant)

    async def renew(self, worker: str, ids: Sequence[str], lease_ms: int) -> Renewed:
        return self._b.renew(worker, ids, lease_ms)

    async def settle(self, worker: str, results: Sequence[Settlement]) -> Settled:
        return self._b.settle(worker, results)

    async def set_packages(self, packages: Packages) -> None:
        self._b.set_packages(packages)

    async def expire(self) -> int:
        return self._b.expire()

    async def release(self, worker: str) -> int:
        return self._b.release(worker)

    async def compact(self) -> int:
        return self._b.compact()

    async def dead(self, tenant: str | None) -> list[DeadLetter]:
        return self._b.dead(tenant)

    async def replay(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        return self._b.replay(ids, tenant)

    async def purge(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        return self._b.purge(ids, tenant)

    async def stats(self) -> dict[str, TenantStats]:
        return self._b.stats()

    async def pause(self, tenant: str) -> None:
        self._b.pause(tenant)

    async def resume(self, tenant: str) -> None:
        self._b.resume(tenant)

    def pending(self) -> bool:
        return self._b.pending()

    def flush(self, max_records: int, max_bytes: int) -> int:
        return self._b.flush(max_records, max_bytes)
