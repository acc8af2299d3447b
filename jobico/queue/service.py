"""The queue component: the RPC face of a backend, with its flusher and lease sweeper.

Methods follow docs/internals.md (queue section). ``enqueue``, ``replay`` and
``purge`` return only once their records are durable (``commit.GroupCommit``),
so the listener's 202 means "fsync'd". ``settle`` does not wait for its fsync
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
from collections.abc import Sequence
from typing import Any

import trio

from jobico.component import Context
from jobico.config import Config
from jobico.ctl import api as ctl_api
from jobico.errors import ConfigError, Unavailable, UserError
from jobico.queue.backend import Limits, LimitsFor, Packages, Settlement
from jobico.queue.commit import GroupCommit
from jobico.queue.file_backend import FileBackend
from jobico.queue.memory import MemoryBackend
from jobico.queue.redis_adapter import AsyncBackend, Awaitable

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

    async def rpc_enqueue(self, params: Any) -> dict[str, Any]:
        """Queue a batch; answer once it is durable.

        Cancellation: the batch stays queued (it was accepted in memory before
        the wait); the caller, having no answer, may resend with its key.
        Errors: ``UserError`` naming the bad field; ``Conflict`` for a known key
        with another body digest; ``Unavailable`` when the tenant is over its
        depth limit or the disk failed.
        """
        p = _params(params)
        result = await self._backend.enqueue(
            p.get("tenant"), p.get("event"), _list(p, "items"), p.get("key"),
            digest=p.get("digest"), scope=p.get("scope") or "sender",
        )
        self._wake()
        await self._commit.wait(result.commit)
        return {"ids": result.ids, "duplicate": result.duplicate}

    async def rpc_lease(self, params: Any) -> list[dict[str, Any]]:
        """Up to ``max`` deliveries; with ``wait_ms``, wait that long for the first one.

        ``held`` (tenant -> count) and ``per_tenant`` bound what this worker
        gets of each tenant, so it keeps room for the others.
        Cancellation: items already leased stay leased until their deadline.
        Errors: ``UserError`` for a negative or non-integer count.
        """
        p = _params(params)
        worker = _worker(p)
        max_items = _int(p, "max", 1)
        lease_ms = _int(p, "lease_ms", self._ctx.config.executor.lease_ms)
        wait_s = min(_int(p, "wait_ms", 0), MAX_LEASE_WAIT_MS) / 1000
        held = _held(p)
        per_tenant = _int(p, "per_tenant", 0) if p.get("per_tenant") is not None else None

        async def lease() -> list[Any]:
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
        return [d.to_wire() for d in found]

    async def rpc_renew(self, params: Any) -> dict[str, Any]:
        """Extend the leases ``worker`` still holds to now + ``lease_ms``; the rest are ``lost``.

        Errors: ``UserError`` for a malformed id (nothing is renewed then).
        """
        p = _params(params)
        worker = _worker(p)
        lease_ms = _int(p, "lease_ms", self._ctx.config.executor.lease_ms)
        renewed = await self._backend.renew(worker, _list(p, "ids"), lease_ms)
        self._commit.kick()
        return renewed.to_wire()

    async def rpc_release(self, params: Any) -> dict[str, Any]:
        """A (re)starting worker gives back what its dead predecessor had leased."""
        worker = _worker(_params(params))
        released = await self._backend.release(worker)
        if released:
            self._ctx.log.info("released %d leased items of %s", released, worker)
            self._wake()
            self._commit.kick()
        return {"released": released}

    async def rpc_settle(self, params: Any) -> dict[str, Any]:
        """Apply the verdicts on items ``worker`` holds; they reach the disk with the next group commit.

        A result for an id this worker does not hold (its lease expired and the
        item went elsewhere, or it was settled already) is not applied: ``stale``.
        Errors: ``UserError`` naming ``results[i]`` and its bad field; nothing is applied then.
        """
        p = _params(params)
        worker = _worker(p)
        results = [Settlement.from_wire(i, r) for i, r in enumerate(_list(p, "results"))]
        settled = await self._backend.settle(worker, results)
        self._wake()
        self._commit.kick()
        return {"applied": settled.applied, "stale": settled.stale}

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


def _params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise UserError("params must be a map")
    return params


def _worker(params: dict[str, Any]) -> str:
    worker = params.get("worker")
    if not isinstance(worker, str) or not worker:
        raise UserError(f"worker must be a non-empty string, got {worker!r}")
    return worker


def _held(params: dict[str, Any]) -> dict[str, int] | None:
    held = params.get("held")
    if held is None:
        return None
    if not isinstance(held, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in held.values()
    ):
        raise UserError("held must map tenants to non-negative integers")
    return held


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
