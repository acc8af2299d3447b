"""A handler and server helpers shared by the trio and asyncio shell tests."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import trio

from jobico.errors import NotFound, Unavailable
from jobico.rpc import trio_shell


class QueueFull(Unavailable):
    """An error type only the server knows."""


class Handler:
    """Echoes, fails on demand, streams, and records what got cancelled or closed."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.closed_streams = 0
        self.sleeping = 0  # calls to ``sleep`` now running
        self.notify: Callable[[], object] = lambda: None  # called after each change above

    async def rpc_echo(self, params: Any) -> Any:
        return params

    async def rpc_sleep(self, params: Any) -> None:
        self.sleeping += 1
        self.notify()
        try:
            await trio.sleep_forever()
        finally:
            self.sleeping -= 1
            self.cancelled.append("sleep")
            self.notify()

    async def rpc_missing(self, params: Any) -> None:
        raise NotFound(f"no tenant {params!r}")

    async def rpc_full(self, params: Any) -> None:
        raise QueueFull("queue is full")

    async def rpc_crash(self, params: Any) -> None:
        raise RuntimeError("boom")

    async def rpc_unencodable(self, params: Any) -> object:
        return object()

    async def rpc_catalog(self, params: Any) -> dict[str, int]:
        return {"version": 1}

    async def stream_catalog(self, params: Any) -> AsyncIterator[dict[str, int]]:
        for version in (1, 2):
            yield {"version": version}

    async def stream_count(self, params: int) -> AsyncIterator[int]:
        try:
            for i in range(params):
                yield i
        finally:
            self.closed_streams += 1
            self.notify()

    async def stream_forever(self, params: Any) -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            self.closed_streams += 1
            self.notify()

    async def stream_fail_after_two(self, params: Any) -> AsyncIterator[int]:
        yield 1
        yield 2
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
    """Serve a handler from a trio run in another thread (the asyncio shell's peer).

    ``stop()`` cancels the server, as a crashing component would vanish.
    """

    def __init__(self, path: Path, handler: object) -> None:
        self.path = path
        self.handler = handler
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
            await nursery.start(trio_shell.serve, self.path, self.handler)
            self._ready.set()
