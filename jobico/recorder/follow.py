"""Live fan-out of newly durable records to ``follow`` subscribers.

Each subscriber gets a bounded buffer. ``publish`` never waits: a subscriber
whose buffer is full is dropped (it then sees ``Unavailable`` after draining
what it had), so one slow reader costs at most ``buffer`` records of memory
and never slows appends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import trio

from jobico.errors import Unavailable
from jobico.recorder.index import Entry
from jobico.recorder.records import Filter

DEFAULT_BUFFER = 10_000  # records a follower may lag before it is dropped (~10 MB)


class _Subscriber:
    def __init__(self, where: Filter, buffer: int) -> None:
        self.where = where
        self.send, self.receive = trio.open_memory_channel[dict[str, Any]](buffer)
        self.dropped = False


class Hub:
    """Subscribers and the records they are owed; used from one trio thread."""

    def __init__(self, buffer: int = DEFAULT_BUFFER) -> None:
        self._buffer = buffer
        self._subscribers: set[_Subscriber] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, durable: Iterable[tuple[Entry, dict[str, Any]]]) -> None:
        """Hand each record to every subscriber whose filter matches; never blocks."""
        if not self._subscribers:
            return
        subscribers = list(self._subscribers)
        for entry, record in durable:
            for sub in subscribers:
                if sub.dropped or not sub.where.matches(entry):
                    continue
                try:
                    sub.send.send_nowait(record)
                except trio.WouldBlock:
                    sub.dropped = True
                    sub.send.close()
                    self._subscribers.discard(sub)

    async def follow(self, where: Filter, backlog: Callable[[], list[dict[str, Any]]]
                     ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield ``backlog()`` then every matching record published after it was taken.

        Subscribing and calling ``backlog`` happen together, with no ``await``
        between them, so no record is missed or seen twice.
        Cancellation: safe; the subscription ends with the generator.
        Errors: ``Unavailable`` once the subscriber fell ``buffer`` records behind.
        """
        sub = _Subscriber(where, self._buffer)
        self._subscribers.add(sub)
        try:
            for record in backlog():
                yield record
            async for record in sub.receive:
                yield record
                # Drain what is already buffered without a checkpoint per record: an
                # append adds up to a batch at once, and a follower that took one record
                # per scheduler pass fell behind at ~10k records/s.
                while True:
                    try:
                        record = sub.receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    yield record
            if sub.dropped:
                raise Unavailable(f"follow: fell more than {self._buffer} records behind; "
                                  "dropped (follow again to resume)")
        finally:
            self._subscribers.discard(sub)
            sub.send.close()
