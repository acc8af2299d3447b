"""Per-tenant rate quotas: a token bucket per tenant, pure (the clock is passed in).

``rate`` tokens per second refill a bucket of ``burst`` tokens; each accepted item
costs one. A batch larger than the burst could never fit, so a request needs only
``min(items, burst)`` tokens on hand and may drive the bucket into debt: the
long-run rate still holds, because the debt is repaid before the next request passes.
A quota of 0 means unlimited (``TenantQuota``'s convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from jobico.config import TenantQuota


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, cost: int, now: float) -> float:
        """Spend ``cost`` tokens and return 0.0, or return the seconds to wait (nothing spent)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(cost, self.burst)
        if self.tokens >= need:
            self.tokens -= cost
            return 0.0
        return (need - self.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` takes whole seconds; round up so the retry is not early."""
    return str(max(1, math.ceil(wait_s)))


class Quotas:
    """The buckets of every tenant, created on first use from ``quota_of(tenant)``.

    A changed quota (a new config) takes effect for tenants seen after ``reset``.
    """

    def __init__(self, quota_of: Callable[[str], TenantQuota]) -> None:
        self._quota_of = quota_of
        self._buckets: dict[str, TokenBucket | None] = {}

    def reset(self, quota_of: Callable[[str], TenantQuota]) -> None:
        self._quota_of = quota_of
        self._buckets.clear()

    def take(self, tenant: str, cost: int, now: float) -> float:
        """0.0 when ``tenant`` may enqueue ``cost`` items now, else seconds to wait."""
        try:
            bucket = self._buckets[tenant]
        except KeyError:
            bucket = self._buckets[tenant] = self._new_bucket(tenant, now)
        return 0.0 if bucket is None else bucket.take(cost, now)

    def _new_bucket(self, tenant: str, now: float) -> TokenBucket | None:
        quota = self._quota_of(tenant)
        if quota.rate <= 0:
            return None
        burst = float(quota.burst or max(1, math.ceil(quota.rate)))
        return TokenBucket(rate=quota.rate, burst=burst, tokens=burst, stamp=now)
