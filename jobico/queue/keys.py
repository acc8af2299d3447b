"""Idempotency keys: a repeat within 24 h gets the first call's ids (SPEC §3).

Keys are per tenant. The table is a dict in insertion order, which is
acceptance order, so expiry only ever looks at its oldest entry. A key
remembers the commit of the enqueue it answered: a repeat that arrives before
that enqueue is durable must wait for the same fsync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jobico.queue.backend import IDEMPOTENCY_TTL_S
from jobico.queue.policy import format_id


@dataclass(frozen=True, slots=True)
class KnownKey:
    ids: list[str]
    at: float
    commit: int


class IdempotencyKeys:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], KnownKey] = {}

    def get(self, tenant: str, key: str, now: float) -> KnownKey | None:
        """The first answer to ``key``, unless it is over 24 h old (then forgotten)."""
        self._forget(now)
        return self._keys.get((tenant, key))

    def put(self, tenant: str, key: str, ids: list[str], at: float, commit: int) -> None:
        self._keys[(tenant, key)] = KnownKey(ids, at, commit)

    def restore(self, entries: Iterable[tuple[str, str, list[int], float]], now: float) -> None:
        """Load ``(tenant, key, ids, at)`` read back from disk; stale ones are skipped."""
        for tenant, key, numbers, at in sorted(entries, key=lambda entry: entry[3]):
            if at + IDEMPOTENCY_TTL_S > now:
                self._keys[(tenant, key)] = KnownKey([format_id(n) for n in numbers], at, 0)

    def _forget(self, now: float) -> None:
        while self._keys:
            oldest = next(iter(self._keys))
            if self._keys[oldest].at + IDEMPOTENCY_TTL_S > now:
                return
            del self._keys[oldest]
