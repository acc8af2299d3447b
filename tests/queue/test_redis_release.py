"""A restarted executor on Redis gives back its predecessor's leases at once (issue 13, item 20).

Worker names repeat on every node (each runs an ``executor-1``), so a lease
belongs to ``<node>/<worker>``: a restart on the same node releases exactly
what that worker held there, and the same name on another node keeps its own.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from jobico.queue.redis_backend import RedisBackend, node_id
from tests.queue.conftest import Clock

LEASE_MS = 30_000

Opener = Callable[..., AbstractAsyncContextManager[RedisBackend]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(redis_url: str, clock: Clock) -> Opener:
    """Backends on one prefix (one shared queue) and one clock that moves only when a test
    says so: a lease comes back through ``release``, not by expiring."""
    prefix = f"t{secrets.token_hex(4)}"

    @asynccontextmanager
    async def open_on(node: str | None) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend(redis_url, prefix=prefix, node=node, clock=clock, rng=random.Random(7))
        async with backend.open():
            yield backend

    return open_on


@pytest.mark.trio
async def test_a_restart_on_the_same_node_gives_back_the_leases_at_once(queue: Opener) -> None:
    async with queue("node-a") as before:
        ids = (await before.enqueue("acme", "e", [b"1", b"2", b"3"], None)).ids
        held = await before.lease("executor-1", 2, LEASE_MS)
        assert len(held) == 2
    async with queue("node-a") as after:  # the executor (and its queue) restarted
        [third] = await after.lease("executor-2", 10, LEASE_MS)
        assert third.id not in {d.id for d in held}, "the held ones stay leased until the release"
        assert await after.release("executor-1") == 2  # 0 before the fix: they waited lease_ms
        assert await after.release("executor-1") == 0
        again = await after.lease("executor-2", 10, LEASE_MS)
        assert sorted((d.id, d.attempt) for d in again) == sorted((d.id, 1) for d in held)
        assert (await after.stats())["acme"].inflight == len(ids)


@pytest.mark.trio
async def test_the_same_worker_name_on_another_node_keeps_its_leases(queue: Opener) -> None:
    async with queue("node-a") as a, queue("node-b") as b:
        first, second = (await a.enqueue("acme", "e", [b"1", b"2"], None)).ids
        [on_a] = await a.lease("executor-1", 1, LEASE_MS)
        [on_b] = await b.lease("executor-1", 1, LEASE_MS)
        assert {on_a.id, on_b.id} == {first, second}
        assert await b.release("executor-1") == 1
        [back] = await a.lease("executor-3", 10, LEASE_MS)
        assert back.id == on_b.id, "only node-b's lease came back"
        assert await a.lease("executor-3", 10, LEASE_MS) == []
        assert await a.release("executor-1") == 1


@pytest.mark.trio
async def test_an_expired_lease_re_leased_elsewhere_is_not_given_back_twice(
    queue: Opener, clock: Clock
) -> None:
    async with queue("node-a") as q:
        await q.enqueue("acme", "e", [b"1"], None)
        await q.lease("executor-1", 1, 1)
        clock.advance(1)
        [moved] = await q.lease("executor-2", 1, LEASE_MS)
        assert await q.release("executor-1") == 0
        assert await q.lease("executor-3", 1, LEASE_MS) == []
        assert await q.release("executor-2") == 1
        assert [d.id for d in await q.lease("executor-3", 1, LEASE_MS)] == [moved.id]


def test_the_default_node_is_this_host_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert node_id(one) == node_id(tmp_path / "x" / ".." / "one"), "the same home, however it is spelled"
    assert node_id(one) != node_id(two), "two homes on one machine are two nodes"
    monkeypatch.setenv("JOBICO_HOME", str(one))
    assert RedisBackend("redis://127.0.0.1:1")._node == node_id(one)
