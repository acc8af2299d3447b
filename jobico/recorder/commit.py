"""The recorder's group commit: ``storage.commit`` over a ``Store``.

A ticket is the store's write number (``Store.written``). The store lives on
the trio thread, so a sync asks it there for a plan (``Store.begin_sync``:
every segment written since the last one), fsyncs in the flusher thread, and
back on the trio thread notes it (``end_sync``) and publishes the records it
made durable to the follow streams. When a sync fails, what was not durable is
forgotten and cut off the files (``Store.abandon``), so sending it again — as
the executor does with any append that failed — stores it (the policy is
``storage.commit``'s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio

from jobico.errors import Unavailable
from jobico.recorder.index import Entry
from jobico.recorder.store import Store
from jobico.storage import commit
from jobico.storage.files import SyncPlan

Durable = Callable[[list[tuple[Entry, dict[str, Any]]]], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Rounds:
    """A store as ``commit.Durable``, publishing what each sync made durable."""

    store: Store
    on_durable: Durable

    def pending(self) -> bool:
        return self.store.pending()

    def sync(self) -> SyncPlan:
        plan = trio.from_thread.run_sync(self.store.begin_sync)
        plan.run()
        return plan

    def synced(self, result: SyncPlan) -> int:
        self.on_durable(self.store.end_sync(result))
        return self.store.durable

    def abandon(self) -> str:
        lost = self.store.abandon()
        log.warning("%d unsynced records cut off and refused", lost)
        return "; nothing was stored, append again"


class GroupCommit(commit.GroupCommit[SyncPlan]):
    """Serialises fsyncs over one ``Store`` and wakes the appenders they cover."""

    def __init__(self, store: Store, on_durable: Durable) -> None:
        super().__init__(_Rounds(store, on_durable), "recorder", log, store.durable)
        self._records = store

    async def append(self, records: Iterable[object]) -> tuple[list[bool], list[tuple[int, str]]]:
        """Write ``records`` and wait until they are durable: per-record stored flags, and
        the records refused on their own (position, reason).

        Errors: ``Unavailable`` when the disk failed (nothing from this call is stored).
        """
        try:
            written = self._records.write(records)
        except OSError as exc:
            raise Unavailable(f"recorder storage failed: {exc}") from None
        await self.wait(written.ticket)
        return written.stored, written.refused
