"""Follow another component's stream for good: reopen it whenever it ends or breaks.

ctl follows repo's file changes; the executor, the queue and the listener follow
ctl's catalog (``jobico.ctl.api.follow_catalog``). Each stream starts with the
whole state (a snapshot, the current catalog), so a follower that reconnects
after its peer restarted loses nothing. The loop is written once, here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import NoReturn, TypeVar

import trio

from jobico.errors import JobicoError
from jobico.rpc.peer import backoff_s
from jobico.rpc.trio_shell import Client

T = TypeVar("T")

Connect = Callable[[], Awaitable[Client]]
"""Opens a connection to the component followed (``functools.partial(ctx.connect, "ctl")``)."""


async def follow(
    connect: Connect,
    open_items: Callable[[Client], AbstractAsyncContextManager[AsyncIterator[T]]],
    each: Callable[[T], Awaitable[object]],
    *,
    log: logging.Logger,
    what: str,
) -> NoReturn:
    """Hand ``each`` every item of the stream ``open_items`` opens, reopening it forever.

    The stream is reopened ``backoff_s`` after it ends or breaks (the peer restarted,
    the connection was lost, the peer or ``each`` raised a ``JobicoError``); the
    backoff starts again once an item has come. Only the first failure in a row is
    logged: at INFO until a first item has come (the peer may not be up yet), at
    WARNING after.
    **Cancellation:** the only way it ends.
    """
    failures = 0
    seen = False
    while True:
        try:
            async with await connect() as client, open_items(client) as items:
                async for item in items:
                    await each(item)
                    seen, failures = True, 0
        except JobicoError as exc:
            failures += 1
            if failures == 1:
                log.log(logging.WARNING if seen else logging.INFO, "%s unavailable (%s); reconnecting",
                        what, exc)
        await trio.sleep(backoff_s(max(failures, 1)))

