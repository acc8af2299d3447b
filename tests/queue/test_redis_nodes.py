"""The redis queue as several nodes and restarts see it (issue 13, items 4, 5 and 10 on Redis).

The shared suite (``test_backend.py``) proves the rules on one backend. Here
several backends share one prefix, as the queue components of several nodes
share one Redis: the caps and the round robin hold across them, and a restart
of Redis or of a node's queue component does not hand a running event to
another worker. Against a real redis-server, with a clock the tests move.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import coredis
import msgpack
import pytest

from jobico.errors import QueueFull
from jobico.queue.api import Settlement
from jobico.queue.backend import Limits, Packages
from jobico.queue.redis_backend import RedisBackend
from tests.queue.conftest import Clock
from tests.redis.server import RedisProcess, redis_process

LEASE_MS = 1000

Opener = Callable[..., AbstractAsyncContextManager[RedisBackend]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisProcess]:
    with redis_process(tmp_path / "redis") as process:
        yield process


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
def queue(server: RedisProcess, clock: Clock, prefix: str) -> Opener:
    """Backends on one prefix (one shared queue), each the queue component of ``node``."""

    @asynccontextmanager
    async def open_on(node: str, limits: dict[str, Limits] | None = None) -> AsyncIterator[RedisBackend]:
        def limits_of(tenant: str) -> Limits:
            return (limits or {}).get(tenant, Limits())

        backend = RedisBackend(server.url, limits_of, prefix=prefix, node=node, clock=clock,
                               rng=random.Random(7))
        async with backend.open():
            yield backend

    return open_on


@asynccontextmanager
async def raw(server: RedisProcess) -> AsyncIterator[Any]:
    async with coredis.Redis.from_url(server.url, decode_responses=False) as client:
        yield client


@pytest.mark.trio
async def test_a_redis_restart_gives_every_lease_its_length_again(
    queue: Opener, server: RedisProcess, clock: Clock
) -> None:
    async with queue("node-a") as q:
        [item] = (await q.enqueue("acme", "e", [b"1"], None)).ids
        await q.lease("executor-1", 1, LEASE_MS)
        assert await q.expire() == 0
        server.kill()  # the append-only file has the lease
        clock.advance(5)  # Redis was away longer than the lease: its holder could not renew it
        server.start()
        assert await q.expire() == 0, "the lease expired while nobody could renew it"
        assert await q.lease("executor-2", 10, LEASE_MS) == []
        assert (await q.renew("executor-1", [item], LEASE_MS)).renewed == [item]
        clock.advance(LEASE_MS / 1000 + 0.1)  # not renewed again: it expires as any lease does
        assert await q.expire() == 1
        assert [d.id for d in await q.lease("executor-2", 10, LEASE_MS)] == [item]


@pytest.mark.trio
async def test_a_queue_restart_gives_its_nodes_leases_their_length_again(queue: Opener, clock: Clock) -> None:
    async with queue("node-a") as a, queue("node-b") as b:
        mine, theirs = (await a.enqueue("acme", "e", [b"1", b"2"], None)).ids
        assert [d.id for d in await a.lease("executor-1", 1, LEASE_MS)] == [mine]
        assert [d.id for d in await b.lease("executor-1", 1, LEASE_MS)] == [theirs]
    clock.advance(2)  # both components were down past the deadlines
    async with queue("node-a") as a:
        assert await a.expire() == 1, "only node-b's lease expired: node-a's workers renew it now"
        assert [d.id for d in await a.lease("executor-2", 10, LEASE_MS)] == [theirs]
        assert (await a.renew("executor-1", [mine], LEASE_MS)).renewed == [mine]


@pytest.mark.trio
async def test_tenant_and_package_caps_count_the_leases_of_every_node(queue: Opener) -> None:
    limits = {"acme": Limits(max_inflight=3)}
    packages = Packages({("globex", "slow"): "heavy", ("globex", "fast"): "light"}, {("globex", "heavy"): 2})
    async with queue("node-a", limits) as a, queue("node-b", limits) as b:
        for q in (a, b):
            await q.set_packages(packages)
        await a.enqueue("acme", "e", [b"x"] * 10, None)
        await a.enqueue("globex", "slow", [b"s"] * 5, None)
        await a.enqueue("globex", "fast", [b"f"] * 2, None)
        got_a = await a.lease("executor-1", 4, LEASE_MS)
        assert sorted((d.tenant, d.event) for d in got_a) == [
            ("acme", "e"), ("acme", "e"), ("globex", "fast"), ("globex", "slow")]
        got_b = await b.lease("executor-1", 100, LEASE_MS)
        assert sorted((d.tenant, d.event) for d in got_b) == [
            ("acme", "e"), ("globex", "fast"), ("globex", "slow")]
        assert await a.lease("executor-2", 100, LEASE_MS) == [] == await b.lease("executor-2", 100, LEASE_MS)
        slow_on_b = next(d.id for d in got_b if d.event == "slow")
        assert (await b.settle("executor-1", [Settlement(slow_on_b, "ack")])).applied == [slow_on_b]
        again = await a.lease("executor-1", 100, LEASE_MS)
        assert [(d.tenant, d.event) for d in again] == [("globex", "slow")]


DEEP = Packages({("acme", "signup"): "flow", ("acme", "welcome"): "flow"}, depths={("acme", "flow"): 2})


@pytest.mark.trio
async def test_a_packages_depth_counts_the_items_of_every_node(queue: Opener) -> None:
    async with queue("node-a") as a, queue("node-b") as b:
        for q in (a, b):
            await q.set_packages(DEEP)
        await a.enqueue("acme", "signup", [b"1"], None)
        await b.enqueue("acme", "welcome", [b"2"], None)
        for q in (a, b):
            with pytest.raises(QueueFull, match="package flow queue is full: 2 of 2"):
                await q.enqueue("acme", "signup", [b"3"], None)


@pytest.mark.trio
async def test_items_backing_off_under_layout_2_are_counted_against_their_package(
    queue: Opener, server: RedisProcess, prefix: str, clock: Clock
) -> None:
    """Layout 2 counted items backing off per tenant only (``D``): the upgrade counts them per lane."""
    async with queue("node-a") as q:
        await q.set_packages(DEEP)
        await q.enqueue("acme", "signup", [b"1", b"2"], None)
        got = await q.lease("executor-1", 2, LEASE_MS)
        await q.settle("executor-1", [Settlement(d.id, "retry", delay_ms=10_000) for d in got])
    async with raw(server) as r:
        await r.hdel(f"{prefix}:c:acme", ["d:signup"])
    for _ in range(2):  # two nodes upgrading one after the other count them once
        async with raw(server) as r:
            await r.set(f"{prefix}:layout", "2")
        async with queue("node-a") as q:
            await q.set_packages(DEEP)
            with pytest.raises(QueueFull, match="2 of 2"):
                await q.enqueue("acme", "welcome", [b"3"], None)
    async with queue("node-a") as q:
        await q.set_packages(DEEP)
        clock.advance(10)
        got = await q.lease("executor-1", 10, LEASE_MS)
        assert [d.attempt for d in got] == [2, 2]
        await q.settle("executor-1", [Settlement(d.id, "ack") for d in got])
        await q.enqueue("acme", "welcome", [b"3", b"4"], None)  # none left counted
        with pytest.raises(QueueFull, match="2 of 2"):
            await q.enqueue("acme", "welcome", [b"5"], None)


@pytest.mark.trio
async def test_the_round_robin_over_tenants_is_shared_by_the_nodes(queue: Opener) -> None:
    async with queue("node-a") as a, queue("node-b") as b:
        for tenant in ("acme", "globex", "initech"):
            await a.enqueue(tenant, "e", [b"x"] * 4, None)
        served = []
        for _ in range(3):
            for q in (a, b):
                served += [d.tenant for d in await q.lease("executor-1", 1, LEASE_MS)]
        assert served == ["acme", "globex", "initech"] * 2


@pytest.mark.trio
async def test_keys_of_the_older_layout_still_answer_sender_requests(
    queue: Opener, server: RedisProcess, prefix: str, clock: Clock
) -> None:
    async with raw(server) as r:
        await r.set(f"{prefix}:k:acme:key-1", f"{clock.now - 3600!r} 00000000000000aa,00000000000000ab")
    async with queue("node-a") as q:
        again = await q.enqueue("acme", "signup", [b"1"], "key-1", digest="ff")
        assert again.duplicate and again.ids == ["00000000000000aa", "00000000000000ab"]
        assert not (await q.enqueue("acme", "signup", [b"1"], "key-1", scope="platform")).duplicate
        clock.advance(24 * 3600)
        assert not (await q.enqueue("acme", "signup", [b"1"], "key-1")).duplicate


@pytest.mark.trio
async def test_items_queued_in_the_older_layout_are_moved_not_lost(
    queue: Opener, server: RedisProcess, prefix: str, clock: Clock
) -> None:
    """Layout 1: one stream per tenant, ``where`` = ``"<t> <entry> <attempt>"``; retries in P:d:t, P:h:t."""
    ready, leased, waiting = "0000000000000001", "0000000000000002", "0000000000000003"
    async with raw(server) as r:
        stream = f"{prefix}:s:acme"
        await r.xgroup_create(stream, "jobico", "0", mkstream=True)
        for eid, body in ((ready, b"r"), (leased, b"l")):
            sid = await r.xadd(stream, {"i": eid, "e": "signup", "a": "1", "b": body, "q": "1.5"})
            await r.hset(f"{prefix}:where", {eid: f"acme {sid.decode()} 1"})
        await r.xreadgroup("jobico", "old-node/executor-1", streams={stream: ">"}, count=1)
        await r.zadd(f"{prefix}:L:acme", {b"ignored": clock.now + 30})
        await r.xadd(stream, {"i": "0000000000000009", "e": "signup", "a": "1", "b": b"?", "q": "1.5"})
        await r.zadd(f"{prefix}:d:acme", {waiting: clock.now + 10})
        await r.hset(f"{prefix}:h:acme", {waiting: msgpack.packb(["welcome", "2", "w", "1.5"])})
        await r.hset(f"{prefix}:where", {waiting: "acme - 2"})
        await r.sadd(f"{prefix}:tenants", ["acme"])
    async with queue("node-a") as q:
        stats = (await q.stats())["acme"]
        assert (stats.depth, stats.inflight, stats.dead) == (3, 0, 1)  # the forged entry is a dead letter
        got = await q.lease("executor-1", 10, LEASE_MS)
        assert sorted((d.id, d.event, d.attempt, d.body) for d in got) == [
            (ready, "signup", 1, b"r"), (leased, "signup", 1, b"l")]
        await q.settle("executor-1", [Settlement(d.id, "ack") for d in got])
        clock.advance(10)
        [retry] = await q.lease("executor-1", 10, LEASE_MS)
        assert (retry.id, retry.event, retry.attempt, retry.body) == (waiting, "welcome", 2, b"w")
        [letter] = await q.dead("acme")
        assert "not the queued attempt of an event" in letter.reason
    async with raw(server) as r:
        assert not await r.exists([f"{prefix}:s:acme", f"{prefix}:L:acme", f"{prefix}:d:acme",
                                   f"{prefix}:h:acme"])
