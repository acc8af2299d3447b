"""The queue component: the RPC face of a backend, with its flusher and lease sweeper.

Its contract is ``jobico.queue.api``, answered as ``methods`` lists. ``enqueue``,
``replay`` and ``purge`` return only once their records are durable
(``commit.GroupCommit``), so the listener's 202 means "fsync'd". ``settle`` does not wait for its fsync
(the next group commit carries it): an ack lost in a crash only means one more
delivery, which at-least-once allows and the recorder deduplicates, and
waiting would cap lease + ack throughput at one batch per fsync per executor.
Leases and renewals are journaled the same way, unwaited (``leases.py``).
``lease`` may wait: with ``wait_ms`` it returns as soon as work arrives, rather
than making the executor poll.

The service follows ctl's catalog, as the executor does, to learn which
package each event belongs to and each package's ``max_concurrency``.
"""

from __future__ import annotations

import functools
from typing import Any

import trio

from jobico.component import Context
from jobico.config import Config
from jobico.ctl import api as ctl_api
from jobico.errors import ConfigError, Unavailable
from jobico.queue import api
from jobico.queue.async_backend import AsyncAdapter, AsyncBackend
from jobico.queue.backend import Limits, LimitsFor, Packages
from jobico.queue.commit import GroupCommit
from jobico.queue.file_backend import FileBackend
from jobico.queue.memory import MemoryBackend
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

SWEEP_S = 0.25
MAX_LEASE_WAIT_MS = 30_000


def limits_from(config: Config) -> LimitsFor:
    """Per-tenant limits: the queue-wide ones, lowered by the tenant's quota (0 = none)."""
    cache: dict[str, Limits] = {}

    def limits(tenant: str) -> Limits:
        found = cache.get(tenant)
        if found is None:
            quota = config.quota(tenant)
            depth, inflight = config.queue.max_depth, config.queue.max_inflight_per_tenant
            found = cache[tenant] = Limits(
                min(depth, quota.max_queue_depth or depth),
                min(inflight, quota.max_concurrency or inflight),
            )
        return found

    return limits


def open_backend(ctx: Context) -> AsyncBackend:
    kind = ctx.config.queue.backend
    limits = limits_from(ctx.config)
    if kind == "file":
        if not ctx.config.queue.fsync:
            ctx.log.warning("queue.fsync = false: accepted events can be lost in a power cut")
        return AsyncAdapter(FileBackend(ctx.home.queue, limits, fsync=ctx.config.queue.fsync, log=ctx.log))
    if kind == "memory":
        return AsyncAdapter(MemoryBackend(limits))
    if kind == "redis":
        if not ctx.config.queue.url:
            raise ConfigError("queue.backend = 'redis' needs queue.url = 'redis://HOST:PORT'")
        # imported here: coredis takes ~0.4 s of CPU to import, which every queue start paid
        from jobico.queue.redis_backend import RedisBackend

        return RedisBackend(ctx.config.queue.url, limits, fsync=ctx.config.queue.fsync, log=ctx.log)
    raise ConfigError(f"queue.backend = {kind!r} is not available in this build (use file, memory or redis)")


class QueueService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._backend = open_backend(ctx)
        self._commit = GroupCommit(self._backend, ctx.log)  # type: ignore[arg-type] - pending/flush only
        self._work = trio.Event()
        self._background = trio.CancelScope()
        self._closed = trio.Event()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Recover, then flush and sweep until cancelled.

        Errors: ``OSError`` when the queue folder cannot be read (the component exits).
        """
        async with self._backend.open():
            with self._background:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._commit.run)
                    nursery.start_soon(self._sweep)
                    nursery.start_soon(ctl_api.follow_catalog, functools.partial(self._ctx.connect, "ctl"),
                                       self._adopt_catalog, self._ctx.log)
                    task_status.started()
            await self._commit.drain()
        self._closed.set()

    async def shutdown(self) -> None:
        """Stop the flusher and sweeper, make everything written durable, close the backend.

        Leases are kept: an executor still running an event holds it over the restart.
        """
        self._background.cancel()
        await self._closed.wait()

    async def status(self) -> dict[str, Any]:
        stats = await self._backend.stats()
        return {
            "backend": self._ctx.config.queue.backend,
            "depth": sum(s.depth for s in stats.values()),
            "inflight": sum(s.inflight for s in stats.values()),
            "syncs": self._commit.syncs,
            "sync_ms_mean": 1000 * self._commit.sync_seconds / max(1, self._commit.syncs),
        }

    def methods(self) -> Methods:
        return (Methods()
                .call(api.enqueue, self.enqueue)
                .call(api.lease, self.lease)
                .call(api.renew, self.renew)
                .call(api.settle, self.settle)
                .call(api.release, self.release)
                .call(api.dead, self.dead)
                .call(api.replay, self.replay)
                .call(api.purge, self.purge)
                .call(api.stats, self.stats)
                .call(api.pause, self.pause)
                .call(api.resume, self.resume))

    async def enqueue(self, request: api.Enqueue) -> api.EnqueueResult:
        """Queue a batch; answer once it is durable.

        Cancellation: the batch stays queued (it was accepted in memory before
        the wait); the caller, having no answer, may resend with its key.
        """
        result = await self._backend.enqueue(request.tenant, request.event, request.items, request.key,
                                             digest=request.digest, scope=request.scope)
        self._wake()
        await self._commit.wait(result.commit)
        return result

    async def lease(self, request: api.Lease) -> api.Deliveries:
        """Cancellation: items already leased stay leased until their deadline."""
        worker, max_items = request.worker, request.max
        lease_ms = self._lease_ms(request.lease_ms)
        wait_s = min(request.wait_ms, MAX_LEASE_WAIT_MS) / 1000
        held, per_tenant = request.held, request.per_tenant

        async def lease() -> list[api.Delivery]:
            found = await self._backend.lease(worker, max_items, lease_ms, held=held, per_tenant=per_tenant)
            if found:
                self._commit.kick()  # the lease records
            return found

        found = await lease()
        if not found and wait_s > 0:
            with trio.move_on_after(wait_s):
                while not found:
                    with trio.move_on_after(SWEEP_S):  # backed-off items come due silently
                        await self._work.wait()
                    found = await lease()
        return api.Deliveries(tuple(found))

    async def renew(self, request: api.Renew) -> api.Renewed:
        renewed = await self._backend.renew(request.worker, request.ids, self._lease_ms(request.lease_ms))
        self._commit.kick()
        return renewed

    async def release(self, request: api.Release) -> api.Released:
        released = await self._backend.release(request.worker)
        if released:
            self._ctx.log.info("released %d leased items of %s", released, request.worker)
            self._wake()
            self._commit.kick()
        return api.Released(released)

    async def settle(self, request: api.Settle) -> api.Settled:
        """The verdicts reach the disk with the next group commit (not waited for)."""
        settled = await self._backend.settle(request.worker, request.results)
        self._wake()
        self._commit.kick()
        return settled

    async def dead(self, request: api.ListDead) -> api.DeadLetters:
        return api.DeadLetters(tuple(await self._backend.dead(request.tenant)))

    async def replay(self, request: api.Selection) -> api.Applied:
        applied = await self._backend.replay(request.ids, request.tenant)
        self._wake()
        await self._commit.wait(applied.commit)
        return applied

    async def purge(self, request: api.Selection) -> api.Applied:
        applied = await self._backend.purge(request.ids, request.tenant)
        await self._commit.wait(applied.commit)
        return applied

    async def stats(self, request: Empty) -> api.QueueStats:
        return api.QueueStats(await self._backend.stats())

    async def pause(self, request: api.OfTenant) -> api.Paused:
        await self._backend.pause(request.tenant)
        return api.Paused(request.tenant, True)

    async def resume(self, request: api.OfTenant) -> api.Paused:
        await self._backend.resume(request.tenant)
        self._wake()
        return api.Paused(request.tenant, False)

    def _lease_ms(self, asked: int | None) -> int:
        return self._ctx.config.executor.lease_ms if asked is None else asked

    async def _adopt_catalog(self, catalog: ctl_api.Catalog) -> None:
        """Package caps come with the catalog; a new one may free items a cap held back."""
        await self._backend.set_packages(Packages.from_catalog(catalog))
        self._wake()

    def _wake(self) -> None:
        """Tell waiting ``lease`` calls that work may have arrived."""
        self._work.set()
        self._work = trio.Event()

    async def _sweep(self) -> None:
        """Return expired leases to the ready queues (so they are redelivered); compact.

        **Errors:** a backend that is away (Redis restarting) is logged once and swept
        again later; it never takes the queue component down with it.
        """
        away = False
        while True:
            await trio.sleep(SWEEP_S)
            try:
                if await self._backend.expire():
                    self._wake()
                if await self._backend.compact():
                    self._commit.kick()
            except Unavailable as exc:
                if not away:
                    self._ctx.log.warning("cannot sweep expired leases (%s); trying again", exc)
                away = True
                continue
            if away:
                self._ctx.log.info("sweeping expired leases again")
            away = False

