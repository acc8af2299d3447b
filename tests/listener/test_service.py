"""The listener component against fake ctl and queue servers on real Unix sockets."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico.component import Context
from jobico.config import Config, ListenerConfig
from jobico.ctl import api as ctl_api
from jobico.errors import ConfigError
from jobico.home import Home
from jobico.listener.server import bind
from jobico.listener.service import ListenerService
from jobico.queue import api as queue_api
from jobico.rpc import trio_shell
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

from .conftest import CATALOG, job, post, request


class FakeCtl:
    """ctl's catalog stream: one version (given as its wire document), then nothing more."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.catalog = ctl_api.Catalog.from_wire(document)

    def methods(self) -> Methods:
        return Methods().stream(ctl_api.catalog_stream, self.catalogs)

    async def catalogs(self, request: Empty) -> AsyncGenerator[ctl_api.Catalog, None]:
        yield self.catalog
        await trio.sleep_forever()


class FakeQueue:
    def __init__(self, broken: bool = False, delay: float = 0.0) -> None:
        self.items: list[bytes] = []
        self.broken = broken
        self.delay = delay  # a slow disk: requests pile up while a call is in flight
        self.calls = 0

    def methods(self) -> Methods:
        return Methods().call(queue_api.enqueue, self.enqueue).call(queue_api.stats, self.stats)

    async def enqueue(self, request: queue_api.Enqueue) -> queue_api.EnqueueResult:
        self.calls += 1
        await trio.sleep(self.delay)
        if self.broken:
            raise RuntimeError("disk on fire")
        start = len(self.items)
        self.items += request.items
        return queue_api.EnqueueResult([f"{i:016x}" for i in range(start, len(self.items))], False)

    async def stats(self, request: Empty) -> queue_api.QueueStats:
        return queue_api.QueueStats({"acme": queue_api.TenantStats(len(self.items), 0, 0, False)})


async def start_server(nursery: trio.Nursery, path: Path,
                       fake: FakeCtl | FakeQueue) -> Callable[[], Awaitable[None]]:
    """Serve ``fake`` on ``path``; returns ``stop``, which waits until the server is gone.

    Waiting matters: a server unlinks its socket file on the way out, so a restart on the
    same path must not bind before the old one has finished.
    """
    scope, gone = trio.CancelScope(), trio.Event()

    async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with scope:
                await trio_shell.serve(path, fake.methods(), task_status=task_status)
        finally:
            gone.set()

    async def stop() -> None:
        scope.cancel()
        await gone.wait()

    await nursery.start(run)
    return stop


async def eventually(port: int, path: str, status: int) -> None:
    """Poll until a POST gets ``status`` (the listener reconnects on its own schedule)."""
    seen = None
    for _ in range(200):
        seen = (await post(port, path, {"name": "a"})).status
        if seen == status:
            return
        await trio.sleep(0.05)
    raise AssertionError(f"{path}: still {seen}, never {status}")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    home = Home(tmp_path)
    home.ensure()
    config = dataclasses.replace(Config(), listener=ListenerConfig(port=0))
    return Context(home=home, config=config, name="listener", log=logging.getLogger("t"))



async def listening(nursery: trio.Nursery, ctx: Context, queue: FakeQueue) -> tuple[ListenerService, int]:
    """A listener serving against fake ctl and ``queue`` servers; its service and HTTP port."""
    await start_server(nursery, ctx.home.socket("ctl"), FakeCtl(CATALOG))
    await start_server(nursery, ctx.home.socket("queue"), queue)
    service = ListenerService(ctx)
    await nursery.start(service.run)
    return service, int(service.urls[0].rsplit(":", 1)[1])

@pytest.mark.trio
async def test_serves_follows_ctl_and_survives_queue_and_ctl_restarts(ctx: Context) -> None:
    home, queue = ctx.home, FakeQueue()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            stop_ctl = await start_server(nursery, home.socket("ctl"), FakeCtl(CATALOG))
            stop_queue = await start_server(nursery, home.socket("queue"), queue)
            service = ListenerService(ctx)
            await nursery.start(service.run)
            port = int(service.urls[0].rsplit(":", 1)[1])

            r = await post(port, "/events/acme/signup", {"name": "a"})
            assert r.status == 202 and queue.items == [b'{"name":"a"}']
            assert (await request(port, "GET", "/healthz")).status == 200
            metrics = (await request(port, "GET", "/metrics")).body.decode()
            assert 'jobico_queue_depth{tenant="acme"} 1' in metrics

            await stop_queue()
            await eventually(port, "/events/acme/signup", 503)
            assert (await request(port, "GET", "/healthz")).status == 503
            await start_server(nursery, home.socket("queue"), queue)
            await eventually(port, "/events/acme/signup", 202)

            await stop_ctl()
            newer = {"version": 2, "tenants": {"acme": {"events": {"later": job("acme", "later")}}}}
            await start_server(nursery, home.socket("ctl"), FakeCtl(newer))
            await eventually(port, "/events/acme/later", 202)
            assert (await post(port, "/events/acme/signup", {"name": "a"})).status == 404

            status = await service.status()
            assert status["catalog_version"] == 2 and status["accepted"]["acme"] >= 3
            await service.shutdown()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_without_ctl_it_serves_503_until_a_catalog_comes(ctx: Context,
                                                               monkeypatch: Any) -> None:
    monkeypatch.setattr("jobico.listener.service.FIRST_CATALOG_WAIT_S", 0.05)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start_server(nursery, ctx.home.socket("queue"), FakeQueue())
            service = ListenerService(ctx)
            await nursery.start(service.run)
            port = int(service.urls[0].rsplit(":", 1)[1])
            assert (await post(port, "/events/acme/signup", {"name": "a"})).status == 503
            await start_server(nursery, ctx.home.socket("ctl"), FakeCtl(CATALOG))
            await eventually(port, "/events/acme/signup", 202)
            await service.shutdown()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_workers_share_one_port(ctx: Context) -> None:
    """Two listener instances bind the same port when listener.workers > 1."""
    config = dataclasses.replace(Config(), listener=ListenerConfig(port=0, workers=2))
    first_ctx = dataclasses.replace(ctx, config=config, name="listener-1")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start_server(nursery, ctx.home.socket("ctl"), FakeCtl(CATALOG))
            await start_server(nursery, ctx.home.socket("queue"), FakeQueue())
            first = ListenerService(first_ctx)
            await nursery.start(first.run)
            port = int(first.urls[0].rsplit(":", 1)[1])
            second_config = dataclasses.replace(
                config, listener=ListenerConfig(port=port, workers=2))
            second = ListenerService(dataclasses.replace(first_ctx, config=second_config,
                                                         name="listener-2"))
            await nursery.start(second.run)
            await first.shutdown()
            assert (await post(port, "/events/acme/signup", {"name": "a"})).status == 202
            await second.shutdown()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_taken_port_is_a_config_error_naming_the_key(ctx: Context) -> None:
    taken = bind("127.0.0.1", 0, reuse_port=False)
    taken.listen()
    config = dataclasses.replace(Config(), listener=ListenerConfig(port=taken.getsockname()[1]))
    with taken, trio.fail_after(10), pytest.raises(ConfigError, match=r"listener\.port"):
        await ListenerService(dataclasses.replace(ctx, config=config)).run()


@pytest.mark.trio
async def test_a_failing_queue_is_503_not_500(ctx: Context) -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service, port = await listening(nursery, ctx, FakeQueue(broken=True))
            r = await post(port, "/events/acme/signup", {"name": "a"})
            assert r.status == 503 and "retry-after" in r.headers
            await service.shutdown()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_concurrent_single_items_share_enqueue_calls_and_each_gets_its_id(ctx: Context) -> None:
    queue = FakeQueue(delay=0.2)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service, port = await listening(nursery, ctx, queue)
            replies: dict[int, Any] = {}

            async def send(n: int) -> None:
                replies[n] = await post(port, "/events/acme/signup", {"name": str(n)})

            async with trio.open_nursery() as senders:
                for n in range(20):
                    senders.start_soon(send, n)
            assert all(r.status == 202 for r in replies.values())
            ids = {n: r.json()["ids"] for n, r in replies.items()}
            assert all(len(one) == 1 for one in ids.values())
            # each request's id is the one its own item got in the queue
            assert {queue.items[int(one[0], 16)] for one in ids.values()} == {
                b'{"name":"%d"}' % n for n in range(20)}
            assert queue.calls < 20 and (await service.status())["enqueue_calls"] == queue.calls
            await service.shutdown()
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_shutdown_lets_a_request_in_flight_finish(ctx: Context) -> None:
    queue = FakeQueue(delay=0.5)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service, port = await listening(nursery, ctx, queue)
            replies = []

            async def send() -> None:
                replies.append(await post(port, "/events/acme/signup", {"name": "a"}))

            async with trio.open_nursery() as inner:
                inner.start_soon(send)
                while not queue.calls:  # noqa: ASYNC110 - the fake queue has no event to wait on
                    await trio.sleep(0.01)
                await service.shutdown()
            assert [r.status for r in replies] == [202] and queue.items == [b'{"name":"a"}']
            nursery.cancel_scope.cancel()
