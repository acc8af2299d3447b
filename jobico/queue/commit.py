"""The queue's group commit: ``storage.commit`` over a backend's journal.

A ticket is the commit number a backend call returns (``journal.py``); a
round is one ``flush`` in the worker thread, which writes and syncs the oldest
buffered records, up to about ``MAX_RECORDS`` records (one per enqueue call)
or ``MAX_BYTES`` bytes (DESIGN.md: capped near 1k records or 1 MiB per sync).
When a sync fails, the records stay buffered and the next round writes them
again (the policy is ``storage.commit``'s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jobico.queue.backend import Backend
from jobico.storage import commit

MAX_RECORDS = 1024
MAX_BYTES = 1024 * 1024


@dataclass(slots=True)
class _Flush:
    """One round: ``run`` (in the worker thread) flushes, ``durable`` is the commit it reached."""

    backend: Backend
    max_records: int
    max_bytes: int
    durable: int = 0

    def run(self) -> None:
        self.durable = self.backend.flush(self.max_records, self.max_bytes)


@dataclass(frozen=True, slots=True)
class _Journaled:
    """A backend as ``commit.Durable``: its buffer is what rounds make durable."""

    backend: Backend
    max_records: int
    max_bytes: int

    def pending(self) -> bool:
        return self.backend.pending()

    def begin_sync(self) -> _Flush:
        return _Flush(self.backend, self.max_records, self.max_bytes)

    def end_sync(self, plan: _Flush) -> int:
        return plan.durable

    def abandon(self) -> str:
        return ""  # the journal cut its files back and kept the records buffered


class GroupCommit(commit.GroupCommit[_Flush]):
    """Releases ``wait``-ers as the backend's commits become durable; ``run`` starts the rounds."""

    def __init__(
        self, backend: Backend, log: logging.Logger, *, max_records: int = MAX_RECORDS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        super().__init__(_Journaled(backend, max_records, max_bytes), "queue", log)
