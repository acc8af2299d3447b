"""The queue's group commit: ``storage.commit`` over a backend's journal.

A ticket is the commit number a backend call returns (``journal.py``). Each
sync is one ``flush``, in the flusher thread: it writes and syncs the oldest
buffered records, up to about ``MAX_RECORDS`` records (one per enqueue call)
or ``MAX_BYTES`` bytes (DESIGN.md: capped near 1k records or 1 MiB per sync).
When a sync fails, the journal cuts its files back and keeps the records
buffered, and the next sync writes them again (the policy is ``storage.commit``'s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jobico.queue.backend import Backend
from jobico.storage import commit

MAX_RECORDS = 1024
MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Journaled:
    """A backend as ``commit.Durable``: a sync flushes its journal; the result is the commit reached."""

    backend: Backend
    max_records: int
    max_bytes: int

    def pending(self) -> bool:
        return self.backend.pending()

    def sync(self) -> int:
        return self.backend.flush(self.max_records, self.max_bytes)

    def synced(self, result: int) -> int:
        return result

    def abandon(self) -> str:
        return ""  # the journal cut its files back and kept the records buffered


class GroupCommit(commit.GroupCommit[int]):
    """Releases ``wait``-ers as the backend's commits become durable; ``run`` hosts the flusher."""

    def __init__(
        self, backend: Backend, log: logging.Logger, *, max_records: int = MAX_RECORDS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        super().__init__(_Journaled(backend, max_records, max_bytes), "queue", log)
