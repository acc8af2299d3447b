"""The journal hook: how the queue's rules report changes that must become durable.

``MemoryBackend`` (``memory.py``) reports every change to a ``Journal`` and
gets back a *commit* number, which callers await through group commit
(``commit.py``). ``NullJournal`` is the memory backend's: nothing to write,
every commit is 0 and already done. ``FileJournal`` (``file_journal.py``: the
item log plus the lease log) is the file backend's.

Lease records carry no commit: nothing waits for them (see ``leases.py``).
An idempotency key travels as its stored form (``keys.stored``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from jobico.queue.api import DeadLetter
from jobico.queue.leases import LeaseGroup
from jobico.queue.log_records import ItemsBatch


class Journal(Protocol):
    def items(self, batch: ItemsBatch) -> int: ...
    def done(self, ids: list[int]) -> int: ...
    def stragglers(self) -> list[int]: ...
    def dead(self, tenant: str, letters: Sequence[DeadLetter]) -> int: ...
    def undead(self, tenant: str, ids: list[int]) -> int: ...
    def key(self, tenant: str, key: Any, ids: list[int], at: float) -> int: ...
    def leased(self, groups: Sequence[LeaseGroup]) -> None: ...
    def freed(self, ids: list[int]) -> None: ...
    def leases_full(self) -> bool: ...
    def rotate_leases(self, groups: Sequence[LeaseGroup]) -> None: ...
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

    def key(self, tenant: str, key: Any, ids: list[int], at: float) -> int:
        return 0

    def leased(self, groups: Sequence[LeaseGroup]) -> None:
        return None

    def freed(self, ids: list[int]) -> None:
        return None

    def leases_full(self) -> bool:
        return False

    def rotate_leases(self, groups: Sequence[LeaseGroup]) -> None:
        return None

    def paused(self, tenants: set[str]) -> None:
        return None

    def pending(self) -> bool:
        return False

    def flush(self, max_records: int, max_bytes: int) -> int:
        return 0

    def close(self) -> None:
        return None
