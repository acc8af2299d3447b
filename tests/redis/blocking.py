"""The redis backend behind the sync ``Backend`` face, for the shared queue suite.

The suite calls backends synchronously (``q.enqueue(...)``); the redis backend
is async. This runs a trio loop in a thread of its own and hands each call to
it, so the very same tests run against a real Redis.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import trio

from jobico.queue.redis_backend import RedisBackend


class Blocking:
    def __init__(self, factory: Callable[[], RedisBackend]) -> None:
        self._ready = threading.Event()
        self._done = trio.Event()  # set from the loop's own thread
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._host, factory), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _host(self, factory: Callable[[], RedisBackend]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._backend = factory()  # the client binds to this loop
        async with self._backend.open():
            self._ready.set()
            await self._done.wait()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._backend, name)
        if name in ("pending", "flush"):
            return method

        def call(*args: Any, **options: Any) -> Any:
            return trio.from_thread.run(functools.partial(method, *args, **options), trio_token=self._token)

        return call

    def recover(self) -> None:
        """Done by ``open`` when the loop starts."""

    def close(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._done.set, trio_token=self._token)
            self._thread.join(10)
