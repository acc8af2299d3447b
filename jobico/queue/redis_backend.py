"""The ``redis`` queue backend: Redis Streams with a consumer group, shared by many nodes.

Every queue component that points at the same Redis (and prefix) serves the
same queue: a main node's listener enqueues, executor-only nodes lease. Each
call is one Lua script (``redis_scripts``), so the rules hold when nodes
interleave; the rules themselves are those of ``memory.py`` (the same test
suite runs against both): fair round robin across tenants and across a
tenant's events, the tenant's in-flight cap and each package's
``max_concurrency`` counted across every node, leases that only their holder
renews or settles.

What a lease script cannot know from Redis, this node tells it: each tenant's
in-flight cap (from this node's config) and its capped packages (from this
node's catalog, ``set_packages``) are written to ``P:policy:<node>`` as the
script asks for them. The caps count every node's leases; their values are
those of the node that leases. Likewise an enqueue carries its tenant's depth
limit and, when the event's package has a ``max_queue_depth``, that cap and the
package's events: the script sums their lanes' counters, every node's items.

Leases outlive a restart of this component (they are in Redis) and of Redis
(with its append-only file): a restart of either gives the leases it could
have kept from being renewed at least their length again from then, as the
file backend does on recovery, so a running event is not leased to a second
worker meanwhile.

Async on purpose: the client, coredis, runs natively on trio, and a network
round trip must not stall the component's event loop. ``async_backend`` gives
the file and memory backends the same async face.

Durability is Redis's: a script returns once Redis has applied it, and
Redis's own persistence (``appendonly yes`` with ``appendfsync always`` for the
file backend's guarantee) decides what survives a crash of Redis itself. So
``commit`` is always 0 and there is nothing for the group commit to flush.

Every failure to reach Redis becomes ``Unavailable`` (``translated``), so
callers retry rather than drop work; a Redis that stops answering does so
after ``TIMEOUT_S``, not never. The URL may carry Redis's password: it is
only ever shown through ``jobico.redact``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import coredis
import msgpack
from coredis.retry import ConstantRetryPolicy

from jobico.errors import Conflict, NotFound, Unavailable, UserError
from jobico.queue import redis_scripts
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
from jobico.queue.backend import Limits, LimitsFor, Packages, check_enqueue, check_tenant, queue_full
from jobico.queue.keys import IDEMPOTENCY_TTL_S
from jobico.queue.policy import parse_id, retry_delay
from jobico.redact import redact_text, redact_url

DEFAULT_PREFIX = "jobico"
TIMEOUT_S = 5.0
MIGRATE_CHUNK = 1000  # items moved per script when upgrading the layout
SCRIPTS = ("ENQUEUE", "LEASE", "RENEW", "SETTLE", "REDEAD", "EXPIRE", "RELEASE", "GRACE", "STATS", "MIGRATE",
           "RECOUNT")

# What coredis 6.9 raises: ``RedisError`` (its ``ConnectionError`` for a refused
# or lost connection, ``ResponseError`` for what Redis refused) and the builtin
# ``TimeoutError`` (an ``OSError``) for a reply or a connection that does not
# come in time. It has no ``coredis.exceptions.TimeoutError``.
REDIS_ERRORS = (coredis.exceptions.RedisError, OSError)


def connect(url: str, *, block_s: float = 0.0, timeout_s: float = TIMEOUT_S) -> Any:
    """A client that gives up after ``timeout_s`` (plus ``block_s`` for a blocking read).

    Without a timeout a frozen or partitioned Redis holds every call forever.
    Only a refused or lost connection is retried, once (a stale pooled
    connection after a Redis restart); a timed-out script may have run, so
    it is not sent again behind the caller's back.
    """
    return coredis.Redis.from_url(
        url, decode_responses=False, stream_timeout=timeout_s + block_s, connect_timeout=timeout_s,
        retry_policy=ConstantRetryPolicy((coredis.exceptions.ConnectionError,), retries=1, delay=0.05),
    )


@asynccontextmanager
async def session(client: Any) -> AsyncIterator[None]:
    """``async with client`` (it runs its pool in an anyio task group), except that an error
    raised inside comes out as itself: the task group wraps it in exception groups, which
    no ``except Unavailable`` would catch."""
    try:
        async with client:
            yield
    except BaseExceptionGroup as group:
        sole: BaseException = group
        while isinstance(sole, BaseExceptionGroup) and len(sole.exceptions) == 1:
            sole = sole.exceptions[0]
        if sole is group:
            raise
        raise sole from sole.__cause__


def unavailable(url: str, doing: str, exc: BaseException) -> Unavailable:
    """``exc`` as ``Unavailable``, naming the server with its password masked.

    coredis puts the reason a connection failed (refused, ``HELLO timed out``)
    in the cause, so the message carries it too.
    """
    where = f"redis at {redact_url(url)}"
    detail = f"{exc} ({exc.__cause__})" if exc.__cause__ is not None else str(exc)
    if isinstance(exc, coredis.exceptions.ConnectionError | OSError):
        text = f"{where} is unreachable ({doing}): {detail}"
    else:
        text = f"{where} refused {doing}: {detail}"
    return Unavailable(redact_text(text, url))


@contextmanager
def translated(url: str, doing: str) -> Iterator[None]:
    """Errors: every client failure inside the block leaves it as ``unavailable(...)``."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise unavailable(url, doing, exc) from exc


def node_id(home: Path) -> str:
    """This machine and home, which scope a worker's name in Redis (``<node>/<worker>``).

    Worker names repeat on every node (each has an ``executor-1``): scoped, a
    restarted worker can give back exactly its predecessor's leases. The home's
    path is hashed in, so two homes on one machine are two nodes, while a
    restart of either is the same node.
    """
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}:{digest}"


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
        node: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        """``node`` scopes worker names (default: ``node_id`` of ``$JOBICO_HOME``, as components find
        their home)."""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            # not echoed: a URL this malformed may not mask (redact_url needs the //)
            raise UserError("queue.url is not a redis://[:PASSWORD@]HOST:PORT (or rediss://, unix://) URL")
        self._url = url
        self._node = node or node_id(Path(os.environ.get("JOBICO_HOME", ".")))
        self._limits = limits
        self._prefix = prefix
        self._policies = f"{prefix}:policy:{self._node}"
        self._fsync = fsync
        self._clock = clock
        self._rng = rng or random.Random()
        self._log = log or logging.getLogger("jobico.queue")
        self._redis: Any = connect(url, timeout_s=timeout_s)
        self._scripts = {name: self._redis.register_script(getattr(redis_scripts, name)) for name in SCRIPTS}
        self._capped: dict[str, dict[str, dict[str, Any]]] = {}  # tenant -> {"pk": caps, "of": events}
        self._packages = Packages()
        self._generation = 0  # of ``_capped``: a policy computed from an older one is not kept

    async def _run(self, script: str, *args: object) -> Any:
        """Run one script with ``prefix, now, *args``.

        Errors: ``Unavailable`` when Redis cannot be reached or refuses (translated here, once).
        """
        argv = [self._prefix, repr(self._clock()), *args]
        with translated(self._url, script.lower()):
            return await self._scripts[script](keys=[], args=argv)

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RedisBackend]:
        """Connect (the client's pool lives as long as this block), check Redis answers, and
        take over: items of an older layout move to this one, this node's policies are
        written afresh (its config may have changed), and the leases of this node's workers
        run at least their length again (they could not be renewed while this component was away).

        Warns when Redis's persistence is weaker than ``queue.fsync`` asks.
        Errors: ``Unavailable`` when Redis cannot be reached.
        """
        async with session(self._redis):
            with translated(self._url, "info"):
                info = await self._redis.info("persistence")
            if self._fsync and not int(info.get("aof_enabled", 0)):
                self._log.warning(
                    "redis at %s has appendonly off: an accepted event lives in Redis's memory until "
                    "its next snapshot (set appendonly yes, appendfsync always for the file backend's "
                    "guarantee)",
                    redact_url(self._url),
                )
            await self._upgrade()
            with translated(self._url, "open"):
                await self._redis.delete([self._policies])
            await self._run("GRACE", self._node)
            yield self

    async def _upgrade(self) -> None:
        """Move what a Jobico before layout 2 queued (one stream per tenant) into lanes, a chunk
        per script, so Redis is never blocked for long; then count the items backing off per
        lane, which layout 3 adds. That count is one script, reading every item backing off,
        so that two nodes upgrading at once still count each item once."""
        layout = f"{self._prefix}:layout"
        with translated(self._url, "upgrade"):
            if await self._redis.get(layout) == redis_scripts.LAYOUT.encode():
                return
            tenants = sorted(t.decode() for t in await self._redis.smembers(f"{self._prefix}:tenants"))
        moved = 0
        for tenant in tenants:
            while count := int(await self._run("MIGRATE", tenant, MIGRATE_CHUNK)):
                moved += count
        await self._run("RECOUNT")
        with translated(self._url, "upgrade"):
            await self._redis.set(layout, redis_scripts.LAYOUT)
        if moved:
            self._log.info("moved %d queued items of %d tenants to layout %s", moved, len(tenants),
                           redis_scripts.LAYOUT)

    def pending(self) -> bool:
        return False

    def flush(self, max_records: int, max_bytes: int) -> int:
        return 0

    # -- writing ---------------------------------------------------------------------------

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
        check_enqueue(tenant, event, items, key, digest, scope)
        limit = self._limits(tenant).max_depth
        package, cap, events = self._packages.depth_cap(tenant, event) or ("", 0, ())
        now_us = int(self._clock() * 1_000_000)
        reply = await self._run(
            "ENQUEUE", tenant, event, now_us, scope, int(key is not None), key or "", int(digest is not None),
            digest or "", IDEMPOTENCY_TTL_S, limit, cap, len(events), *events, *items,
        )
        if reply[0] == 3:
            raise Conflict(f"idempotency key {key!r} was used for a different body")
        if reply[0] == 2:
            raise queue_full(tenant, int(reply[1]), limit)
        if reply[0] == 4:
            raise queue_full(tenant, int(reply[1]), cap, package)
        return EnqueueResult(reply[1].decode().split(","), reply[0] == 1, 0)

    async def settle(self, worker: str, results: Sequence[Settlement]) -> Settled:
        for result in results:  # all valid before any applies
            parse_id(result.id)
        delays = await self._retry_delays([r for r in results if r.outcome == "retry"])
        argv: list[object] = [self._consumer(worker)]
        for result in results:
            argv += [result.id, result.outcome, result.reason, delays.get(result.id, 0.0)]
        flags = await self._run("SETTLE", *argv) if results else []
        applied, stale = _split([r.id for r in results], flags)
        return Settled(applied, stale, 0)

    async def _retry_delays(self, retries: Sequence[Settlement]) -> dict[str, float]:
        """Seconds each retry waits: its own ``delay_ms``, else the policy's for its attempt (one
        more round trip, which the executor never costs: it always names the delay)."""
        delays = {r.id: r.delay_ms / 1000 for r in retries if r.delay_ms is not None}
        unknown = [r.id for r in retries if r.delay_ms is None]
        if unknown:
            with translated(self._url, "settle"):
                where = await self._redis.hmget(f"{self._prefix}:where", unknown)
            for eid, found in zip(unknown, where, strict=True):
                attempt = found.rsplit(b" ", 1)[-1] if found is not None else b""
                if attempt.isdigit():
                    delays[eid] = retry_delay(int(attempt), self._rng)
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
        with translated(self._url, "pause"):
            await self._redis.sadd(f"{self._prefix}:tenants", [tenant])
            await self._redis.sadd(f"{self._prefix}:paused", [tenant])

    async def resume(self, tenant: str) -> None:
        check_tenant(tenant)
        with translated(self._url, "resume"):
            await self._redis.srem(f"{self._prefix}:paused", [tenant])

    async def set_packages(self, packages: Packages) -> None:
        """Keep the packages of a new catalog: their depths go with each enqueue; this node's
        policies (the concurrency caps) are written again from it as the leases that follow
        need them."""
        capped: dict[str, dict[str, dict[str, Any]]] = {}
        for (tenant, package), cap in packages.caps.items():
            capped.setdefault(tenant, {"pk": {}, "of": {}})["pk"][package] = cap
        for (tenant, event), package in packages.of.items():
            if (tenant, package) in packages.caps:
                capped[tenant]["of"][event] = package
        self._packages = packages
        self._capped = capped
        self._generation += 1
        with translated(self._url, "set_packages"):
            await self._redis.delete([self._policies])

    # -- leasing ---------------------------------------------------------------------------

    async def lease(
        self,
        worker: str,
        max_items: int,
        lease_ms: int,
        *,
        held: Mapping[str, int] | None = None,
        per_tenant: int | None = None,
    ) -> list[Delivery]:
        """Fair shares and every cap are applied by the script, in one round trip.

        A tenant this node has not written a policy for yet (new, or since a new catalog) is
        skipped by the script and named: its policy is written, and an empty lease is tried
        once more. A malformed entry met on the way is dead-lettered by the script (and logged
        here), never handed out: it would fail every lease that met it, forever.
        """
        argv: list[object] = [self._consumer(worker), self._node, lease_ms, max_items,
                              -1 if per_tenant is None else per_tenant]
        for tenant, count in (held or {}).items():
            argv += [tenant, count]
        for _ in range(2):
            leased, buried, unknown = await self._run("LEASE", *argv)
            for tenant, eid, reason in _rows(buried, 3):
                self._log.error("dead-lettered %s of %s: %s", eid.decode(), tenant.decode(),
                                reason.decode(errors="replace"))
            if not unknown:
                break
            await self._write_policies([t.decode() for t in unknown])
            if leased:
                break
        return [_delivery(tenant.decode(), raw) for tenant, raw in _rows(leased, 2)]

    async def _write_policies(self, tenants: Sequence[str]) -> None:
        """This node's view of each tenant's caps: its in-flight cap, its capped packages."""
        generation = self._generation
        none: dict[str, dict[str, Any]] = {"pk": {}, "of": {}}
        policies = {t: msgpack.packb({"cap": self._limits(t).max_inflight, **self._capped.get(t, none)})
                    for t in tenants}
        with translated(self._url, "lease"):
            await self._redis.hset(self._policies, policies)
            if generation != self._generation:  # a new catalog came meanwhile: these may predate it
                await self._redis.delete([self._policies])

    async def renew(self, worker: str, ids: Sequence[str], lease_ms: int) -> Renewed:
        """Only the holder renews, even past the deadline as long as no sweep has taken the lease."""
        for text in ids:
            parse_id(text)
        flags = await self._run("RENEW", self._consumer(worker), lease_ms, *ids) if ids else []
        return Renewed(*_split(list(ids), flags))

    def _consumer(self, worker: str) -> str:
        return f"{self._node}/{worker}"

    async def expire(self) -> int:
        return int(await self._run("EXPIRE"))

    async def release(self, worker: str) -> int:
        """What ``worker`` of this node holds is leased again at once (its process died).

        Only this node's: the consumer is ``<node>/<worker>``, so another node's
        ``executor-1`` keeps its leases.
        """
        return int(await self._run("RELEASE", self._consumer(worker)))

    async def compact(self) -> int:
        """Settled entries are deleted as they settle; Redis reclaims their memory itself."""
        return 0

    # -- reading ---------------------------------------------------------------------------

    async def dead(self, tenant: str | None) -> list[DeadLetter]:
        """The dead letters the queue wrote: an entry of ``P:D:t`` its index does not name is
        not one (written into Redis by hand) and is skipped, loudly."""
        with translated(self._url, "dead"):
            return await self._dead(tenant)

    async def _dead(self, tenant: str | None) -> list[DeadLetter]:
        if tenant is not None:
            names = [check_tenant(tenant)]
        else:
            names = sorted(t.decode() for t in await self._redis.smembers(f"{self._prefix}:tenants"))
        letters = []
        for name in names:
            indexed = set((await self._redis.hgetall(f"{self._prefix}:Di:{name}")).values())
            for entry in await self._redis.xrange(f"{self._prefix}:D:{name}"):
                if entry.identifier not in indexed:
                    self._log.error("dead letters of %s: entry %s is not one the queue wrote; skipped",
                                    name, entry.identifier.decode(errors="replace"))
                    continue
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


def _split(ids: list[str], flags: list[int]) -> tuple[list[str], list[str]]:
    """The ids a script flagged 1, and the others, each in order."""
    pairs = list(zip(ids, flags, strict=True))
    return [i for i, f in pairs if f], [i for i, f in pairs if not f]


def _rows(flat: list[Any], width: int) -> list[list[Any]]:
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def _delivery(tenant: str, raw: list[bytes]) -> Delivery:
    f = {raw[i].decode(): raw[i + 1] for i in range(0, len(raw), 2)}
    return Delivery(f["i"].decode(), tenant, f["e"].decode(), int(f["a"]), f["b"], float(f["q"]))
