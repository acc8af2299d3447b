"""The queue link's coalescing: concurrent single items share one enqueue call, each keeps its ids."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from jobico.errors import Conflict, Unavailable
from jobico.listener import enqueuer as enqueuer_module
from jobico.listener.enqueuer import QueueEnqueuer
from jobico.rpc.errors import ConnectionLost, RemoteConflict, RemoteError


class FakeQueueClient:
    """Answers ``enqueue`` like the queue (one id per item, in order); can hold or fail calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.next = 0
        self.hold: asyncio.Event | None = None
        self.fail: Exception | None = None
        self.closed = False
        self.called = asyncio.Event()

    async def call(self, method: str, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        assert method == "enqueue"
        self.calls.append(params)
        self.called.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        first, self.next = self.next, self.next + len(params["items"])
        return {"ids": [f"id{i}" for i in range(first, self.next)], "duplicate": False}

    async def aclose(self) -> None:
        self.closed = True


def run(test: Callable[[QueueEnqueuer, FakeQueueClient], Awaitable[None]]) -> FakeQueueClient:
    client = FakeQueueClient()

    async def connect(name: str, timeout: float) -> FakeQueueClient:
        assert name == "queue"
        return client

    async def main() -> None:
        async with asyncio.timeout(10):
            await test(QueueEnqueuer(connect), client)

    asyncio.run(main())
    return client


def test_concurrent_single_items_share_one_call_and_keep_their_own_ids() -> None:
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        results = await asyncio.gather(*(enqueuer.enqueue("t", "e", [b"%d" % i], None)
                                         for i in range(5)))
        assert results == [[f"id{i}"] for i in range(5)]

    client = run(test)
    assert [c["items"] for c in client.calls] == [[b"0", b"1", b"2", b"3", b"4"]]


def test_other_events_keyed_requests_and_batches_go_in_calls_of_their_own() -> None:
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        await asyncio.gather(enqueuer.enqueue("t", "e", [b"a"], None),
                             enqueuer.enqueue("t", "other", [b"b"], None),
                             enqueuer.enqueue("t", "e", [b"c"], "key-1"),
                             enqueuer.enqueue("t", "e", [b"d", b"e"], None),
                             enqueuer.enqueue("t", "e", [b"f"], None))

    client = run(test)
    calls = sorted((c["event"], c["items"], c["key"]) for c in client.calls)
    assert calls == [("e", [b"a", b"f"], None), ("e", [b"c"], "key-1"),
                     ("e", [b"d", b"e"], None), ("other", [b"b"], None)]


def test_items_arriving_during_a_call_go_together_in_the_next() -> None:
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        client.hold = asyncio.Event()
        first = asyncio.create_task(enqueuer.enqueue("t", "e", [b"1"], None))
        await client.called.wait()
        later = [asyncio.create_task(enqueuer.enqueue("t", "e", [b"%d" % i], None))
                 for i in (2, 3)]
        await asyncio.sleep(0.01)
        assert len(client.calls) == 1  # one call in flight per event
        client.hold.set()
        assert await first == ["id0"]
        assert [await task for task in later] == [["id1"], ["id2"]]

    client = run(test)
    assert [c["items"] for c in client.calls] == [[b"1"], [b"2", b"3"]]


def test_a_call_carries_at_most_its_cap_and_the_rest_follows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enqueuer_module, "MAX_COALESCED_ITEMS", 3)

    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        results = await asyncio.gather(*(enqueuer.enqueue("t", "e", [b"x"], None)
                                         for _ in range(7)))
        assert [r[0] for r in results] == [f"id{i}" for i in range(7)]

    client = run(test)
    assert [len(c["items"]) for c in client.calls] == [3, 3, 1]


def test_a_keyed_request_carries_its_body_digest_in_the_sender_scope() -> None:
    """CONTRACTS: enqueue {"tenant","event","items","key","digest","scope"}; senders' keys
    live in scope "sender", apart from the keys the platform chains events with."""
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        await enqueuer.enqueue("t", "e", [b"a"], "k", "ab" * 32)
        await enqueuer.enqueue("t", "e", [b"b"], None)

    client = run(test)
    assert [(c["key"], c["digest"], c["scope"]) for c in client.calls] == [
        ("k", "ab" * 32, "sender"), (None, None, "sender")]


def test_a_conflict_from_the_queue_stays_a_conflict() -> None:
    """Not an ``Unavailable`` (503, retry): the sender reused a key for another body (409)."""
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        client.fail = RemoteConflict("Conflict", "idempotency key 'k' was used for a different body")
        with pytest.raises(Conflict, match="different body"):
            await enqueuer.enqueue("t", "e", [b"a"], "k", "cd" * 32)

    client = run(test)
    assert client.closed is False


@pytest.mark.parametrize("error", [Unavailable("tenant t over its depth limit"),
                                   RemoteError("OSError", "disk on fire"), ConnectionLost("queue: gone")])
def test_a_failed_call_fails_every_request_it_carried_as_unavailable(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enqueuer_module, "RECONNECT_PAUSE_S", 0.0)

    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        client.fail = error
        results = await asyncio.gather(*(enqueuer.enqueue("t", "e", [b"x"], None)
                                         for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results), results
        client.fail = None
        assert await enqueuer.enqueue("t", "e", [b"y"], None) == ["id0"]

    client = run(test)
    assert len(client.calls) == 2
    assert client.closed == isinstance(error, ConnectionLost)


def test_a_cancelled_request_does_not_stop_the_others() -> None:
    async def test(enqueuer: QueueEnqueuer, client: FakeQueueClient) -> None:
        client.hold = asyncio.Event()
        tasks = [asyncio.create_task(enqueuer.enqueue("t", "e", [b"%d" % i], None)) for i in range(3)]
        await client.called.wait()
        tasks[1].cancel()
        client.hold.set()
        assert await tasks[0] == ["id0"] and await tasks[2] == ["id2"]
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]

    run(test)
