"""Per-tenant rate quotas: a token bucket per tenant, pure (the clock is passed in).

``rate`` tokens per second refill a bucket of ``burst`` tokens; each accepted item
costs one. A batch larger than the burst could never fit, so a request needs only
``min(items, burst)`` tokens on hand and may drive the bucket into debt, repaid
before the next request passes. The debt is capped at one burst: one huge batch
(``max_items`` against a burst of 1, say) must not refuse its tenant for hours, so
after any request the tenant passes again within ``2 * burst / rate`` seconds. The
price: a tenant sending only batches larger than its burst gets up to
``items / (2 * burst)`` times its rate; set ``burst`` to the largest batch expected.
A quota of 0 means unlimited (``TenantQuota``'s convention).

Refused requests cost tokens too (SPEC §3, ``charge``): otherwise a sender could
make the webhook parse, check and answer bad requests forever for free.

A package may also set its own ``[limits] rate`` and ``burst`` (published in the
catalog): such a request needs tokens from the package's bucket and from the
tenant's, and spends from both only when both have them.
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

    def take(self, cost: int, now: float, spend: bool = True) -> float:
        """Spend ``cost`` tokens and return 0.0, or return the seconds to wait (nothing spent).

        ``spend=False`` only asks whether ``cost`` would pass now.
        """
        self._refill(now)
        need = min(cost, self.burst)
        if self.tokens >= need:
            if spend:
                self.spend(cost, now)
            return 0.0
        return (need - self.tokens) / self.rate

    def spend(self, cost: int, now: float) -> None:
        """Spend ``cost`` tokens whatever is on hand, into a debt of at most one burst."""
        self._refill(now)
        self.tokens = max(-self.burst, self.tokens - cost)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


@dataclass(frozen=True, slots=True)
class PackageRate:
    """A package's own rate limit (``[limits] rate``, ``burst``; burst 0 = one second's worth)."""

    package: str
    rate: float
    burst: int = 0


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` takes whole seconds; round up so the retry is not early."""
    return str(max(1, math.ceil(wait_s)))


class Quotas:
    """The buckets of every tenant, created on first use from ``quota_of(tenant)``.

    A changed quota (a new config) takes effect for tenants seen after ``reset``.
    ``share``: the listener processes serving the port (``listener.workers``). Each
    keeps its own buckets, so each enforces ``1 / share`` of every rate and burst and
    together they hold the configured figure (the kernel spreads connections
    across them; a tenant on a single connection gets one process's share).
    """

    def __init__(self, quota_of: Callable[[str], TenantQuota], share: int = 1) -> None:
        self._quota_of = quota_of
        self._share = max(1, share)
        self._buckets: dict[str, TokenBucket | None] = {}
        # keyed by the limit too, so a package whose limit changed starts a fresh bucket
        self._packages: dict[tuple[str, PackageRate], TokenBucket] = {}

    def reset(self, quota_of: Callable[[str], TenantQuota]) -> None:
        self._quota_of = quota_of
        self._buckets.clear()
        self._packages.clear()

    def refusal(self, tenant: str, cost: int, now: float, package: PackageRate | None = None,
                spend: bool = True) -> tuple[float, str] | None:
        """None when the package (if limited) and the tenant may enqueue ``cost`` items now;
        else the seconds to wait and what is over its quota, for the 429's message.

        ``spend=False`` asks without spending: the webhook refuses a tenant with an
        empty bucket before reading and validating its body, so a flood of refused
        requests costs little.
        """
        own = None
        if package is not None:
            key = (tenant, package)
            own = self._packages.get(key)
            if own is None:
                own = self._packages[key] = self._bucket(package.rate, package.burst, now)
            wait = own.take(cost, now, spend=False)
            if wait:
                return wait, f"package {tenant}/{package.package} is over its rate limit"
        wait = self.take(tenant, cost, now, spend)
        if wait:
            return wait, f"tenant {tenant} is over its rate quota"
        if own is not None and spend:  # only once the tenant said yes: nothing to give back
            own.spend(cost, now)
        return None

    def take(self, tenant: str, cost: int, now: float, spend: bool = True) -> float:
        """0.0 when ``tenant`` may enqueue ``cost`` items now, else seconds to wait."""
        bucket = self._bucket_of(tenant, now)
        return 0.0 if bucket is None else bucket.take(cost, now, spend)

    def charge(self, tenant: str, cost: int, now: float) -> None:
        """A refused request's ``cost``, taken from the tenant's bucket whatever is on hand."""
        bucket = self._bucket_of(tenant, now)
        if bucket is not None:
            bucket.spend(cost, now)

    def _bucket_of(self, tenant: str, now: float) -> TokenBucket | None:
        try:
            return self._buckets[tenant]
        except KeyError:
            bucket = self._buckets[tenant] = self._new_bucket(tenant, now)
            return bucket

    def _new_bucket(self, tenant: str, now: float) -> TokenBucket | None:
        quota = self._quota_of(tenant)
        return self._bucket(quota.rate, quota.burst, now) if quota.rate > 0 else None

    def _bucket(self, rate: float, burst: int, now: float) -> TokenBucket:
        """A full bucket for this process's share; burst 0 means one second's worth."""
        full = float(burst or max(1, math.ceil(rate)))
        mine = max(1.0, full / self._share)
        return TokenBucket(rate=rate / self._share, burst=mine, tokens=mine, stamp=now)
