"""The journal hook: how the queue's rules report changes that must become durable.

``MemoryBackend`` (``memory.py``) reports every change to a ``Journal`` and
gets back a *commit* number, which callers await through group commit
(``commit.py``). ``NullJournal`` is the memory backend's: nothing to write,
every commit is 0 and already done. ``SegmentJournal`` (``segments.py``) is the
file backend's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobico.queue.backend import DeadLetter
from jobico.queue.records import ItemsBatch


class Journal(Protocol):
    def items(self, batch: ItemsBatch) -> int: ...
    def done(self, ids: list[int]) -> int: ...
    def stragglers(self) -> list[int]: ...
    def dead(self, tenant: str, letters: Sequence[DeadLetter]) -> int: ...
    def undead(self, tenant: str, ids: list[int]) -> int: ...
    def key(self, tenant: str, key: str, ids: list[int], at: float) -> int: ...
    def paused(self, tenants: set[str]) -> None: ...
    def pending(self) -> bool: ...
    def flush(self, max_records: int, max_bytes: int) -> int: ...
    def close(self) -> None: ...


class NullJournal:
    """Nothing to make durable: every commit is 0 and already done."""

    def items(self, batch: ItemsBatch) -> int:
        return 0

    def done(self, ids: list[int]) -> int:
        return 0

    def stragglers(self) -> list[int]:
        return []

    def dead(self, tenant: str, letters: Sequence[DeadLetter]) -> int:
        return 0

    def undead(self, tenant: str, ids: list[int]) -> int:
        return 0

    def key(self, tenant: str, key: str, ids: list[int], at: float) -> int:
        return 0

    def paused(self, tenants: set[str]) -> None:
        return None

    def pending(self) -> bool:
        return False

    def flush(self, max_records: int, max_bytes: int) -> int:
        return 0

    def close(self) -> None:
        return None
