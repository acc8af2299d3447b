"""Entries written into the queue's Redis streams by anyone but the queue.

Whoever can write to Redis can XADD anything. Such an entry used to be leased
like any other and then fail every lease that met it (a KeyError per call,
forever). Now it is dead-lettered, under a fresh id and with a reason naming
the entry, and the tenant's real events flow past it.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import coredis
import pytest
import trio

from jobico.queue.api import Settlement
from jobico.queue.redis_backend import RedisBackend
from tests.queue.conftest import Clock

LEASE_MS = 30_000


@pytest.fixture
async def q(redis_url: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(redis_url, prefix=f"t{secrets.token_hex(4)}", node="n1", clock=Clock(),
                           rng=random.Random(7))
    async with backend.open():
        yield backend


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Any]:
    async with coredis.Redis.from_url(redis_url, decode_responses=False) as client:
        yield client


def lane(q: RedisBackend, tenant: str = "acme", event: str = "e") -> str:
    """The stream of an event's items."""
    return f"{q._prefix}:s:{tenant}:{event}"


def dead_letters(q: RedisBackend, tenant: str = "acme") -> str:
    return f"{q._prefix}:D:{tenant}"


@pytest.mark.trio
async def test_malformed_stream_entries_are_dead_lettered_and_real_events_flow_past(
    q: RedisBackend, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = (await q.enqueue("acme", "e", [b"1", b"2"], None)).ids
    [copied] = await raw.xrange(lane(q), count=1)
    forged = {
        "fields missing": {"x": "y"},
        "garbage values": {"i": "zz", "e": b"\xff\x1b[2J", "a": "x", "b": b"\x00", "q": "nan"},
        "a copy of a real entry": dict(copied.field_values),  # the same event id, another entry
        "a plausible entry the queue never wrote": {"i": "0000000000000001", "e": "e", "a": "1",
                                                    "b": "{}", "q": "1.5"},
    }
    for fields in forged.values():
        await raw.xadd(lane(q), fields)
    third = (await q.enqueue("acme", "e", [b"3"], None)).ids[0]

    with trio.fail_after(10):
        leased = await q.lease("w", 10, LEASE_MS)  # KeyError before the fix, on every call
    assert sorted(d.id for d in leased) == sorted([first, second, third])
    assert [d.body for d in sorted(leased, key=lambda d: d.id)] == [b"1", b"2", b"3"]

    letters = await q.dead("acme")
    assert len(letters) == len(forged)
    assert not {letter.id for letter in letters} & {first, second, third}, "fresh ids, never a real one"
    for letter in letters:
        assert letter.reason.startswith("malformed queue entry ")
        assert " of acme: " in letter.reason
    reasons = " | ".join(letter.reason for letter in letters)
    assert "field i is missing" in reasons
    assert reasons.count("not the queued attempt of an event") == 3
    assert {letter.event for letter in letters} == {"", "e"}, "unprintable event names are not kept"
    assert caplog.text.count("dead-lettered") == len(forged)
    stats = (await q.stats())["acme"]
    assert (stats.depth, stats.inflight, stats.dead) == (0, 3, 4)

    settled = await q.settle("w", [Settlement(d.id, "ack") for d in leased])
    assert sorted(settled.applied) == sorted([first, second, third])
    assert await q.lease("w", 10, LEASE_MS) == []
    replayed = await q.replay([letters[0].id], None)  # an operator can still look at it, run it, purge it
    [again] = await q.lease("w", 10, LEASE_MS)
    assert again.id == replayed.ids[0] and again.attempt == letters[0].attempt + 1


@pytest.mark.trio
async def test_a_leased_entry_deleted_behind_the_queues_back_settles_without_error(
    q: RedisBackend, raw: Any
) -> None:
    first, second = (await q.enqueue("acme", "e", [b"1", b"2"], None)).ids
    leased = await q.lease("w", 10, LEASE_MS)
    entries = await raw.xrange(lane(q))
    await raw.xdel(lane(q), [e.identifier for e in entries])
    settled = await q.settle("w", [Settlement(first, "ack"), Settlement(second, "retry", "boom")])
    assert sorted(settled.applied) == sorted(d.id for d in leased)
    [letter] = await q.dead("acme")
    assert letter.id == second
    assert "was deleted from Redis while leased (retry: boom)" in letter.reason
    stats = (await q.stats())["acme"]
    assert (stats.depth, stats.inflight, stats.dead) == (0, 0, 1)


@pytest.mark.trio
async def test_a_forged_dead_letter_is_skipped_not_a_crash(
    q: RedisBackend, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    [item] = (await q.enqueue("acme", "e", [b"1"], None)).ids
    await q.lease("w", 1, LEASE_MS)
    await q.settle("w", [Settlement(item, "dead", "bad input")])
    await raw.xadd(dead_letters(q), {"x": "y"})
    assert [(letter.id, letter.reason) for letter in await q.dead(None)] == [(item, "bad input")]
    assert "is not one the queue wrote; skipped" in caplog.text
