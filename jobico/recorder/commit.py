"""Group commit: many concurrent appends share one fsync.

Adaptive, as DESIGN.md measured best: the committer syncs as soon as someone
waits, and when a sync ends it starts the next one at once if more writes
arrived meanwhile; no timer. Each fsync round runs in a worker thread, so the
trio thread keeps writing (and answering queries) while the disk works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import trio

from jobico.recorder.index import Entry
from jobico.recorder.store import Store

Durable = Callable[[list[tuple[Entry, dict[str, Any]]]], None]


class GroupCommit:
    """Serialises fsync rounds over one ``Store`` and wakes the appenders they cover."""

    def __init__(self, store: Store, on_durable: Durable) -> None:
        self._store = store
        self._on_durable = on_durable
        self._wanted = trio.Event()
        self._round_done = trio.Event()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Sync whenever an appender waits, until cancelled.

        Cancellation: a round already in its thread finishes first (fsync is not
        abandoned). Errors: ``OSError`` from fsync ends the component on purpose:
        after a failed fsync the kernel may have dropped the data, and only a
        restart (which re-reads the segments) tells what is really on disk.
        """
        task_status.started()
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            plan = self._store.begin_sync()
            await trio.to_thread.run_sync(plan.run)
            self._on_durable(self._store.end_sync(plan))
            done, self._round_done = self._round_done, trio.Event()
            done.set()

    async def wait(self, ticket: int) -> None:
        """Return once every write up to ``ticket`` is durable.

        Cancellation: safe; the write stays and becomes durable with a later round.
        """
        while self._store.durable < ticket:
            round_done = self._round_done
            self._wanted.set()
            await round_done.wait()

    async def append(self, records: Iterable[object]) -> list[bool]:
        """Write ``records`` and wait until they are durable; per-record stored flags.

        Errors: ``UserError`` naming a bad record (nothing stored), ``OSError``.
        """
        written = self._store.write(records)
        await self.wait(written.ticket)
        return written.stored
