"""Group commit: many concurrent appends share one fsync.

Adaptive, as DESIGN.md measured best: the committer syncs as soon as someone
waits, and when a sync ends it starts the next one at once if more writes
arrived meanwhile; no timer. Each fsync round runs in a worker thread, so the
trio thread keeps writing (and answering queries) while the disk works.

An append is answered only once the round covering it has fsync'd. When an
fsync fails, the policy is the queue's (``jobico.queue.commit``): the appends
waiting on that round get ``Unavailable`` and the recorder keeps serving;
what they wrote is cut off the files (``Store.abandon``), so sending them
again — as the executor does with any append that failed — stores them,
and the next round syncs afresh. Retrying the fsync instead would be wrong:
after a failure the kernel may report success for pages it dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import trio

from jobico.errors import Unavailable
from jobico.recorder.index import Entry
from jobico.recorder.store import Store

Durable = Callable[[list[tuple[Entry, dict[str, Any]]]], None]
log = logging.getLogger(__name__)


class _Round:
    """One fsync round as its waiters see it: done, and failed with ``error`` or not."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: Unavailable | None = None


class GroupCommit:
    """Serialises fsync rounds over one ``Store`` and wakes the appenders they cover."""

    def __init__(self, store: Store, on_durable: Durable) -> None:
        self._store = store
        self._on_durable = on_durable
        self._wanted = trio.Event()
        self._round = _Round()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Sync whenever an appender waits, until cancelled.

        Cancellation: a round already in its thread finishes first (fsync is not
        abandoned). Errors: ``OSError`` only when, after a failed fsync, the files
        cannot even be cut back (nothing then tells what is on disk).
        """
        task_status.started()
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            plan = self._store.begin_sync()
            error = None
            try:
                await trio.to_thread.run_sync(plan.run)
            except OSError as exc:
                lost = self._store.abandon()
                log.error("recorder fsync failed: %s; %d unsynced records cut off and refused "
                          "(Unavailable), their appenders send them again", exc, lost)
                error = Unavailable(f"recorder storage failed: {exc}; nothing was stored, append again")
            else:
                self._on_durable(self._store.end_sync(plan))
            done, self._round = self._round, _Round()
            done.error = error
            done.done.set()

    async def wait(self, ticket: int) -> None:
        """Return once every write up to ``ticket`` is durable.

        Cancellation: safe; the write stays and becomes durable with a later round.
        Errors: ``Unavailable`` when the fsync failed: the write was undone.
        """
        while self._store.durable < ticket:
            current = self._round
            self._wanted.set()
            await current.done.wait()
            # A failed round undid every write that was not durable, this one included.
            if current.error is not None and self._store.durable < ticket:
                raise current.error

    async def append(self, records: Iterable[object]) -> tuple[list[bool], list[tuple[int, str]]]:
        """Write ``records`` and wait until they are durable: per-record stored flags, and
        the records refused on their own (position, reason).

        Errors: ``Unavailable`` when the disk failed (nothing from this call is stored).
        """
        try:
            written = self._store.write(records)
        except OSError as exc:
            raise Unavailable(f"recorder storage failed: {exc}") from None
        await self.wait(written.ticket)
        return written.stored, written.refused
