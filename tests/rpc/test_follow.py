"""The one reconnect-and-follow loop: it outlives ends, restarts and its own handler's errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico.errors import UserError
from jobico.rpc import trio_shell
from jobico.rpc.follow import follow
from tests.rpc.test_peer import serving

GUARD = 15
log = logging.getLogger("test.follow")


def connect_to(tmp_path: Path) -> functools.partial[Any]:
    return functools.partial(trio_shell.connect, tmp_path / "echo.sock", timeout=1)


def counting(client: trio_shell.Client) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
    return client.stream("count", 2)


class Seen:
    """Collects items; ``enough`` is set once ``limit`` have come."""

    def __init__(self, limit: int) -> None:
        self.items: list[Any] = []
        self.limit = limit
        self.enough = trio.Event()

    async def __call__(self, item: Any) -> None:
        self.items.append(item)
        if len(self.items) == self.limit:
            self.enough.set()


@pytest.mark.trio
async def test_a_stream_that_ends_is_opened_again(tmp_path: Path) -> None:
    seen = Seen(6)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serving, tmp_path)
            nursery.start_soon(functools.partial(follow, connect_to(tmp_path), counting, seen, log=log,
                                                 what="counts"))
            await seen.enough.wait()
            nursery.cancel_scope.cancel()
            server.cancel()
    assert seen.items[:6] == [0, 1, 0, 1, 0, 1]


@pytest.mark.trio
async def test_a_peer_down_at_first_then_lost_is_logged_once_each_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen(2)
    with trio.fail_after(GUARD), caplog.at_level(logging.INFO, "test.follow"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(follow, connect_to(tmp_path), counting, seen, log=log,
                                                 what="counts"))
            await trio.sleep(0.3)  # several attempts while nothing serves
            server = await nursery.start(serving, tmp_path)
            await seen.enough.wait()
            server.cancel()
            seen.limit, seen.enough = 4, trio.Event()
            await trio.sleep(0.3)  # lost: several attempts again
            server = await nursery.start(serving, tmp_path)
            await seen.enough.wait()
            nursery.cancel_scope.cancel()
            server.cancel()
    logged = [(r.levelno, r.message.split(" (")[0]) for r in caplog.records]
    assert logged == [(logging.INFO, "counts unavailable"), (logging.WARNING, "counts unavailable")]


@pytest.mark.trio
async def test_an_item_its_handler_refuses_reopens_the_stream_instead_of_crashing(tmp_path: Path) -> None:
    seen = Seen(3)

    async def picky(item: int) -> None:
        await seen(item)
        if item == 1:
            raise UserError("no ones")

    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serving, tmp_path)
            nursery.start_soon(functools.partial(follow, connect_to(tmp_path), counting, picky, log=log,
                                                 what="counts"))
            await seen.enough.wait()
            nursery.cancel_scope.cancel()
            server.cancel()
    assert seen.items[:3] == [0, 1, 0]

