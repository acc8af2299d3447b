"""The ``redis`` queue backend: Redis Streams with a consumer group, shared by many nodes.

Every queue component that points at the same Redis (and prefix) serves the
same queue: a main node's listener enqueues, executor-only nodes lease. Each
call is one Lua script (``redis_scripts``), so the rules hold when nodes
interleave; the rules themselves are those of ``memory.py`` (the same test
suite runs against both).

Async on purpose: the client, coredis, runs natively on trio, and a network
round trip must not stall the component's event loop. ``redis_adapter`` gives
the file and memory backends the same async face.

Durability is Redis's: a script returns once Redis has applied it, and
Redis's own persistence (``appendonly yes`` with ``appendfsync always`` for the
file backend's guarantee) decides what survives a crash of Redis itself. So
``commit`` is always 0 and there is nothing for the group commit to flush.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import coredis

from jobico.errors import NotFound, Unavailable, UserError
from jobico.queue import redis_scripts
from jobico.queue.backend import (
    IDEMPOTENCY_TTL_S,
    Applied,
    DeadLetter,
    Delivery,
    EnqueueResult,
    Limits,
    LimitsFor,
    Settlement,
    TenantStats,
    check_tenant,
)
from jobico.queue.policy import fair_shares, parse_id, retry_delay

DEFAULT_PREFIX = "jobico"


class RedisBackend:
    """A queue in Redis (see ``backend.Backend`` for the contract; every method is async here)."""

    def __init__(
        self,
        url: str,
        limits: LimitsFor = lambda _tenant: Limits(),
        *,
        prefix: str = DEFAULT_PREFIX,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise UserError(f"queue.url {url!r} is not a redis://HOST:PORT (or rediss://, unix://) URL")
        self._url = url
        self._limits = limits
        self._prefix = prefix
        self._fsync = fsync
        self._clock = clock
        self._rng = rng or random.Random()
        self._log = log or logging.getLogger("jobico.queue")
        self._redis: Any = coredis.Redis.from_url(url, decode_responses=False)
        self._scripts = {
            name: self._redis.register_script(getattr(redis_scripts, name))
            for name in ("ENQUEUE", "SNAPSHOT", "LEASE", "SETTLE", "REDEAD", "EXPIRE", "STATS")
        }
        self._rr = 0

    async def _run(self, script: str, *args: object) -> Any:
        """Run one script with ``prefix, now, *args``.

        Errors: ``Unavailable`` when Redis cannot be reached or refuses (translated here, once).
        """
        argv = [self._prefix, repr(self._clock()), *args]
        try:
            return await self._scripts[script](keys=[], args=argv)
        except (coredis.exceptions.ConnectionError, coredis.exceptions.TimeoutError) as exc:
            raise Unavailable(f"redis at {self._url} is unreachable: {exc}") from exc
        except coredis.exceptions.RedisError as exc:
            raise Unavailable(f"redis at {self._url} refused {script.lower()}: {exc}") from exc

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RedisBackend]:
        """Connect (the client's pool lives as long as this block) and check Redis answers.

        Warns when Redis's persistence is weaker than ``queue.fsync`` asks.
        Errors: ``Unavailable`` when Redis cannot be reached.
        """
        async with self._redis:
            try:
                info = await self._redis.info("persistence")
            except coredis.exceptions.RedisError as exc:
                raise Unavailable(f"redis at {self._url} is unreachable: {exc}") from exc
            if self._fsync and not int(info.get("aof_enabled", 0)):
                self._log.warning(
                    "redis at %s has appendonly off: an accepted event lives in Redis's memory until "
                    "its next snapshot (set appendonly yes, appendfsync always for the file backend's "
                    "guarantee)",
                    self._url,
                )
            yield self

    def pending(self) -> bool:
        return False

    def flush(self, max_records: int, max_bytes: int) -> int:
        return 0

    # -- writing ---------------------------------------------------------------------------

    async def enqueue(
        self, tenant: str, event: str, items: Sequence[bytes], key: str | None
    ) -> EnqueueResult:
        check_tenant(tenant)
        if not isinstance(event, str) or not event:
            raise UserError(f"event {event!r} is not a non-empty string")
        if not items or not all(isinstance(body, bytes) for body in items):
            raise UserError("items must be a non-empty list of bytes")
        limit = self._limits(tenant).max_depth
        now_us = int(self._clock() * 1_000_000)
        code, value = await self._run(
            "ENQUEUE", tenant, event, now_us, key or "", IDEMPOTENCY_TTL_S, limit, *items
        )
        if code == 2:
            raise Unavailable(f"tenant {tenant} queue is full: {value} of {limit} items queued")
        return EnqueueResult(value.decode().split(","), code == 1, 0)

    async def settle(self, results: Sequence[Settlement]) -> Applied:
        for result in results:  # all valid before any applies
            parse_id(result.id)
        delays = await self._retry_delays([r for r in results if r.outcome == "retry"])
        argv: list[object] = []
        for result in results:
            argv += [result.id, result.outcome, result.reason, delays.get(result.id, 0.0)]
        applied = await self._run("SETTLE", *argv) if argv else []
        return Applied([eid.decode() for eid in applied], 0)

    async def _retry_delays(self, retries: Sequence[Settlement]) -> dict[str, float]:
        """Seconds each retry waits: its own ``delay_ms``, else the policy's for its attempt."""
        delays = {r.id: r.delay_ms / 1000 for r in retries if r.delay_ms is not None}
        unknown = [r.id for r in retries if r.delay_ms is None]
        if unknown:
            where = await self._redis.hmget(f"{self._prefix}:where", unknown)
            for eid, found in zip(unknown, where, strict=True):
                if found is not None:
                    delays[eid] = retry_delay(int(found.split()[2]), self._rng)
        return delays

    async def replay(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        return await self._redead("replay", ids, tenant)

    async def purge(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        return await self._redead("purge", ids, tenant)

    async def _redead(self, mode: str, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        if tenant is not None:
            check_tenant(tenant)
        if ids is None:
            if tenant is None:
                raise UserError("name the dead letters: ids or a tenant")
            ids = []
        for text in ids:
            parse_id(text)
        reply = await self._run("REDEAD", mode, tenant or "", *ids)
        if reply[0] == 1:
            missing = reply[1].decode()
            raise NotFound(f"event {missing} is not a dead letter" + (f" of {tenant}" if tenant else ""))
        return Applied([eid.decode() for eid in reply[1:]], 0)

    async def pause(self, tenant: str) -> None:
        check_tenant(tenant)
        await self._redis.sadd(f"{self._prefix}:tenants", [tenant])
        await self._redis.sadd(f"{self._prefix}:paused", [tenant])

    async def resume(self, tenant: str) -> None:
        check_tenant(tenant)
        await self._redis.srem(f"{self._prefix}:paused", [tenant])

    # -- leasing ---------------------------------------------------------------------------

    async def lease(self, worker: str, max_items: int, lease_ms: int) -> list[Delivery]:
        """Fair shares are computed here from a snapshot; the script re-checks each tenant's cap."""
        snapshot = _rows(await self._run("SNAPSHOT"), 4)
        order = sorted(row[0].decode() for row in snapshot)
        available = {row[0].decode(): int(row[2]) for row in snapshot if int(row[2]) > 0 and not int(row[1])}
        if not available or max_items <= 0:
            return []
        caps = {t: self._limits(t).max_inflight for t in available}
        leased = {row[0].decode(): int(row[3]) for row in snapshot}
        room = {t: caps[t] - leased[t] for t in available}
        shares, self._rr = fair_shares(order, available, room, max_items, self._rr)
        argv: list[object] = []
        for tenant, share in shares.items():
            argv += [tenant, share, caps[tenant]]
        if not argv:
            return []
        deadline = self._clock() + lease_ms / 1000
        reply = await self._run("LEASE", repr(deadline), worker, *argv)
        return [_delivery(tenant.decode(), raw) for tenant, raw in _rows(reply, 2)]

    async def expire(self) -> int:
        return int(await self._run("EXPIRE"))

    async def release(self, worker: str) -> int:
        """Not done on Redis: worker names repeat across nodes (every node has an
        ``executor-1``), so a restart must not give back another node's leases; they
        expire after ``executor.lease_ms`` as before."""
        return 0

    async def compact(self) -> int:
        """Settled entries are deleted as they settle; Redis reclaims their memory itself."""
        return 0

    # -- reading ---------------------------------------------------------------------------

    async def dead(self, tenant: str | None) -> list[DeadLetter]:
        if tenant is not None:
            names = [check_tenant(tenant)]
        else:
            names = sorted(t.decode() for t in await self._redis.smembers(f"{self._prefix}:tenants"))
        letters = []
        for name in names:
            for entry in await self._redis.xrange(f"{self._prefix}:D:{name}"):
                f = {k.decode(): v for k, v in entry.field_values.items()}
                letters.append(
                    DeadLetter(
                        f["i"].decode(), name, f["e"].decode(), int(f["a"]), f["b"],
                        float(f["q"]), float(f["t"]), f["r"].decode(),
                    )
                )
        return sorted(letters, key=lambda letter: letter.id)

    async def stats(self) -> dict[str, TenantStats]:
        rows = _rows(await self._run("STATS"), 5)
        return {
            row[0].decode(): TenantStats(int(row[1]), int(row[2]), int(row[3]), bool(int(row[4])))
            for row in sorted(rows)
        }


def _rows(flat: list[Any], width: int) -> list[list[Any]]:
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def _delivery(tenant: str, raw: list[bytes]) -> Delivery:
    f = {raw[i].decode(): raw[i + 1] for i in range(0, len(raw), 2)}
    return Delivery(f["i"].decode(), tenant, f["e"].decode(), int(f["a"]), f["b"], float(f["q"]))
