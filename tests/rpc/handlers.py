"""A handler and server helpers shared by the trio and asyncio shell tests."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import trio

from jobico.errors import NotFound, Unavailable
from jobico.rpc import trio_shell
from jobico.rpc.dispatch import Methods
from tests.rpc.raw import Raw, raw_call, raw_stream


class QueueFull(Unavailable):
    """An error type only the server knows."""


class Handler:
    """Echoes, fails on demand, streams, and records what got cancelled or closed.

    Its methods take and give any value (``Raw``): the shells under test carry whatever
    msgpack holds, and an unencodable reply is one of the cases.
    """

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.closed_streams = 0
        self.sleeping = 0  # calls to ``sleep`` now running
        self.notify: Callable[[], object] = lambda: None  # called after each change above

    def methods(self) -> Methods:
        return (Methods()
                .call(raw_call("echo"), self.echo)
                .call(raw_call("sleep"), self.sleep)
                .call(raw_call("missing"), self.missing)
                .call(raw_call("full"), self.full)
                .call(raw_call("crash"), self.crash)
                .call(raw_call("unencodable"), self.unencodable)
                .call(raw_call("catalog"), self.catalog)
                .stream(raw_stream("catalog"), self.catalogs)
                .stream(raw_stream("count"), self.count)
                .stream(raw_stream("forever"), self.forever)
                .stream(raw_stream("fail_after_two"), self.fail_after_two))

    async def echo(self, request: Raw) -> Raw:
        return request

    async def sleep(self, request: Raw) -> Raw:
        self.sleeping += 1
        self.notify()
        try:
            await trio.sleep_forever()
        finally:
            self.sleeping -= 1
            self.cancelled.append("sleep")
            self.notify()

    async def missing(self, request: Raw) -> Raw:
        raise NotFound(f"no tenant {request.value!r}")

    async def full(self, request: Raw) -> Raw:
        raise QueueFull("queue is full")

    async def crash(self, request: Raw) -> Raw:
        raise RuntimeError("boom")

    async def unencodable(self, request: Raw) -> Raw:
        return Raw(object())

    async def catalog(self, request: Raw) -> Raw:
        return Raw({"version": 1})

    async def catalogs(self, request: Raw) -> AsyncGenerator[Raw, None]:
        for version in (1, 2):
            yield Raw({"version": version})

    async def count(self, request: Raw) -> AsyncGenerator[Raw, None]:
        try:
            for i in range(request.value):
                yield Raw(i)
        finally:
            self.closed_streams += 1
            self.notify()

    async def forever(self, request: Raw) -> AsyncGenerator[Raw, None]:
        try:
            i = 0
            while True:
                yield Raw(i)
                i += 1
        finally:
            self.closed_streams += 1
            self.notify()

    async def fail_after_two(self, request: Raw) -> AsyncGenerator[Raw, None]:
        yield Raw(1)
        yield Raw(2)
        raise NotFound("item 3 is gone")


async def trio_wait_until(handler: Handler, predicate: Callable[[], bool]) -> None:
    """Wait (in the handler's trio run) until ``predicate`` holds."""
    while not predicate():
        changed = trio.Event()
        handler.notify = changed.set
        if not predicate():
            await changed.wait()


async def asyncio_wait_until(handler: Handler, predicate: Callable[[], bool]) -> None:
    """Wait (in an asyncio loop, the handler serving from another thread) for ``predicate``."""
    loop = asyncio.get_running_loop()
    while not predicate():
        changed = asyncio.Event()
        handler.notify = functools.partial(loop.call_soon_threadsafe, changed.set)
        if not predicate():
            await changed.wait()


class ServerThread:
    """Serve ``methods`` from a trio run in another thread (the asyncio shell's peer).

    ``stop()`` cancels the server, as a crashing component would vanish.
    """

    def __init__(self, path: Path, methods: Methods) -> None:
        self.path = path
        self.methods = methods
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "server thread did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
            self._thread.join(10)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            await nursery.start(trio_shell.serve, self.path, self.methods)
            self._ready.set()
