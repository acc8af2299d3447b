"""Client-side state of one open request, shared by the trio and asyncio shells.

The state (a result, an error, queued stream items) is pure; each shell
subclasses these with the one thing that differs, how a task sleeps until
``_wake`` is called (``trio.Event`` / ``asyncio.Event``).

Stream items are queued without bound: the connection's single reader must
never block on one slow stream, or every other call on the connection would
stall behind it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from jobico.rpc.errors import remote_error
from jobico.rpc.events import Error, Reply, StreamEnd, StreamItem

Answer = Reply | Error | StreamItem | StreamEnd

NOTHING = object()
"""What ``StreamWaiter.take`` returns when no item is queued yet."""


class Waiter:
    """One open request: receives its answers, or the error that ended the connection."""

    def deliver(self, event: Answer) -> None:
        raise NotImplementedError

    def fail(self, error: Exception) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError


class CallWaiter(Waiter):
    """A call: exactly one ``Reply`` or ``Error``."""

    def __init__(self) -> None:
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

    def outcome(self) -> Any:
        """The result, or raise the error the call ended with."""
        if self._error is not None:
            raise self._error
        return self._result


class StreamWaiter(Waiter):
    """A stream: items, then ``StreamEnd`` or ``Error`` (or a lost connection)."""

    def __init__(self) -> None:
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
