"""The queue component: the RPC face of a backend, with its flusher and lease sweeper.

Methods follow docs/internals.md (queue section). ``enqueue``, ``replay`` and
``purge`` return only once their records are durable (``commit.GroupCommit``),
so the listener's 202 means "fsync'd". ``settle`` does not wait for its fsync
(the next group commit carries it): an ack lost in a crash only means one more
delivery, which at-least-once allows and the recorder deduplicates, and
waiting would cap lease + ack throughput at one batch per fsync per executor.
``lease`` may wait: with ``wait_ms`` it returns as soon as work arrives, rather
than making the executor poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import trio

from jobico.component import Context
from jobico.config import Config
from jobico.errors import ConfigError, UserError
from jobico.queue.backend import Limits, LimitsFor, Settlement
from jobico.queue.commit import GroupCommit
from jobico.queue.memory import MemoryBackend
from jobico.queue.redis_adapter import AsyncBackend, Awaitable
from jobico.queue.storage import FileBackend

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
        return Awaitable(FileBackend(ctx.home.queue, limits, fsync=ctx.config.queue.fsync, log=ctx.log))
    if kind == "memory":
        return Awaitable(MemoryBackend(limits))
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
                    task_status.started()
            await self._commit.drain()
        self._closed.set()

    async def shutdown(self) -> None:
        """Stop the flusher and sweeper, make everything written durable, close the backend.

        Leases are not kept: leased items are ready again on the next start.
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

    async def rpc_enqueue(self, params: Any) -> dict[str, Any]:
        """Queue a batch; answer once it is durable.

        Cancellation: the batch stays queued (it was accepted in memory before
        the wait); the caller, having no answer, may resend with its key.
        Errors: ``UserError`` naming the bad field; ``Unavailable`` when the
        tenant is over its depth limit or the disk failed.
        """
        p = _params(params)
        key = p.get("key")
        if key is not None and not isinstance(key, str):
            raise UserError("key must be a string or null")
        result = await self._backend.enqueue(p.get("tenant"), p.get("event"), _list(p, "items"), key)
        self._wake()
        await self._commit.wait(result.commit)
        return {"ids": result.ids, "duplicate": result.duplicate}

    async def rpc_lease(self, params: Any) -> list[dict[str, Any]]:
        """Up to ``max`` deliveries; with ``wait_ms``, wait that long for the first one.

        Cancellation: items already leased stay leased until their deadline.
        Errors: ``UserError`` for a negative or non-integer count.
        """
        p = _params(params)
        worker = str(p.get("worker", "?"))
        max_items = _int(p, "max", 1)
        lease_ms = _int(p, "lease_ms", self._ctx.config.executor.lease_ms)
        wait_s = min(_int(p, "wait_ms", 0), MAX_LEASE_WAIT_MS) / 1000
        found = await self._backend.lease(worker, max_items, lease_ms)
        if not found and wait_s > 0:
            with trio.move_on_after(wait_s):
                while not found:
                    with trio.move_on_after(SWEEP_S):  # backed-off items come due silently
                        await self._work.wait()
                    found = await self._backend.lease(worker, max_items, lease_ms)
        return [d.to_wire() for d in found]

    async def rpc_release(self, params: Any) -> dict[str, Any]:
        """A (re)starting worker gives back what its dead predecessor had leased."""
        worker = str(_params(params).get("worker", ""))
        released = await self._backend.release(worker)
        if released:
            self._ctx.log.info("released %d leased items of %s", released, worker)
            self._wake()
        return {"released": released}

    async def rpc_settle(self, params: Any) -> dict[str, Any]:
        """Apply verdicts at once; they reach the disk with the next group commit.

        Errors: ``UserError`` naming ``results[i]`` and its bad field; nothing is applied then.
        """
        results = [Settlement.from_wire(i, r) for i, r in enumerate(_list(_params(params), "results"))]
        applied = await self._backend.settle(results)
        self._wake()
        self._commit.kick()
        return {"applied": applied.ids}

    async def rpc_dead(self, params: Any) -> list[dict[str, Any]]:
        tenant = _params(params).get("tenant")
        return [letter.to_wire() for letter in await self._backend.dead(tenant)]

    async def rpc_replay(self, params: Any) -> dict[str, Any]:
        applied = await self._backend.replay(*_selection(params))
        self._wake()
        await self._commit.wait(applied.commit)
        return {"ids": applied.ids}

    async def rpc_purge(self, params: Any) -> dict[str, Any]:
        applied = await self._backend.purge(*_selection(params))
        await self._commit.wait(applied.commit)
        return {"ids": applied.ids}

    async def rpc_stats(self, params: Any) -> dict[str, Any]:
        return {tenant: s.to_wire() for tenant, s in (await self._backend.stats()).items()}

    async def rpc_pause(self, params: Any) -> dict[str, Any]:
        tenant = _params(params).get("tenant")
        await self._backend.pause(tenant)
        return {"tenant": tenant, "paused": True}

    async def rpc_resume(self, params: Any) -> dict[str, Any]:
        tenant = _params(params).get("tenant")
        await self._backend.resume(tenant)
        self._wake()
        return {"tenant": tenant, "paused": False}

    def _wake(self) -> None:
        """Tell waiting ``lease`` calls that work may have arrived."""
        self._work.set()
        self._work = trio.Event()

    async def _sweep(self) -> None:
        """Return expired leases to the ready queues (so they are redelivered); compact."""
        while True:
            await trio.sleep(SWEEP_S)
            if await self._backend.expire():
                self._wake()
            if await self._backend.compact():
                self._commit.kick()


def _params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise UserError("params must be a map")
    return params


def _list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if not isinstance(value, list):
        raise UserError(f"{name} must be a list")
    return value


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _selection(params: Any) -> tuple[Sequence[str] | None, str | None]:
    """``{"ids": [...]}`` or ``{"tenant": t}`` (or both: those ids, checked to be t's)."""
    p = _params(params)
    ids = p.get("ids")
    if ids is not None and not isinstance(ids, list):
        raise UserError("ids must be a list of event ids")
    return ids, p.get("tenant")
