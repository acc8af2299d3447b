"""Client-side state of one open request, shared by the trio and asyncio shells.

The state (a result, an error, queued stream items) is pure; the one thing a
shell adds is how a task sleeps until the reader wakes it: the waiter is given
its event type (``trio.Event`` or ``asyncio.Event``), whose ``set`` and
``wait`` are all it uses.

Stream items are queued without bound: the connection's single reader must
never block on one slow stream, or every other call on the connection would
stall behind it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from jobico.rpc.errors import remote_error
from jobico.rpc.events import Error, Reply, StreamEnd, StreamItem

Answer = Reply | Error | StreamItem | StreamEnd

NOTHING = object()
"""What ``StreamWaiter.take`` returns when no item is queued yet."""


class Flag(Protocol):
    """The part of ``trio.Event`` and ``asyncio.Event`` a waiter uses."""

    def set(self) -> None: ...

    async def wait(self) -> object: ...


class Waiter:
    """One open request: receives its answers, or the error that ended the connection."""

    def __init__(self, new_flag: Callable[[], Flag]) -> None:
        self._new_flag = new_flag
        self._flag = new_flag()

    def deliver(self, event: Answer) -> None:
        raise NotImplementedError

    def fail(self, error: Exception) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        self._flag.set()


class CallWaiter(Waiter):
    """A call: exactly one ``Reply`` or ``Error``."""

    def __init__(self, new_flag: Callable[[], Flag]) -> None:
        super().__init__(new_flag)
        self.answered = False
        self._result: Any = None
        self._error: Exception | None = None

    def deliver(self, event: Answer) -> None:
        if isinstance(event, Error):
            self.fail(remote_error(event.type_name, event.message, event.bases))
        else:
            assert isinstance(event, Reply)  # the protocol core checks the kind
            self._result = event.result
            self.answered = True
            self._wake()

    def fail(self, error: Exception) -> None:
        self._error = error
        self.answered = True
        self._wake()

    async def wait(self) -> None:
        """Sleep until answered (or failed). **Cancellation:** safe; nothing is lost."""
        await self._flag.wait()

    def outcome(self) -> Any:
        """The result, or raise the error the call ended with."""
        if self._error is not None:
            raise self._error
        return self._result


class StreamWaiter(Waiter):
    """A stream: items, then ``StreamEnd`` or ``Error`` (or a lost connection).

    It is the async iterator a ``Client.stream`` block receives.
    """

    def __init__(self, new_flag: Callable[[], Flag]) -> None:
        super().__init__(new_flag)
        self._items: deque[Any] = deque()
        self._finished = False
        self._error: Exception | None = None

    def deliver(self, event: Answer) -> None:
        if isinstance(event, StreamItem):
            self._items.append(event.item)
            self._wake()
        elif isinstance(event, Error):
            self.fail(remote_error(event.type_name, event.message, event.bases))
        else:
            self._finished = True
            self._wake()

    def fail(self, error: Exception) -> None:
        self._error = error
        self._finished = True
        self._wake()

    def take(self) -> Any:
        """The next item, or ``NOTHING`` when none has arrived yet.

        **Errors:** once the items are used up, the stream's error (raised once),
        then ``StopAsyncIteration``.
        """
        if self._items:
            return self._items.popleft()
        if not self._finished:
            return NOTHING
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    def __aiter__(self) -> StreamWaiter:
        return self

    async def __anext__(self) -> Any:
        while (item := self.take()) is NOTHING:
            self._flag = self._new_flag()  # set by the next delivery, never by an earlier one
            await self._flag.wait()
        return item
