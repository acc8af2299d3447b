"""Token buckets per tenant, with a clock passed in."""

from __future__ import annotations

from jobico.config import TenantQuota
from jobico.listener.quotas import Quotas, retry_after_header


def quotas(**per_tenant: TenantQuota) -> Quotas:
    return Quotas(lambda tenant: per_tenant.get(tenant, TenantQuota()))


def test_burst_then_refill_at_the_rate() -> None:
    q = quotas(acme=TenantQuota(rate=10, burst=3))
    assert [q.take("acme", 1, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert q.take("acme", 1, 0.0) == 0.1
    assert q.take("acme", 1, 0.1) == 0.0


def test_zero_rate_is_unlimited_and_tenants_are_separate() -> None:
    q = quotas(acme=TenantQuota(rate=1, burst=1))
    assert q.take("acme", 1, 0.0) == 0.0
    assert q.take("acme", 1, 0.0) > 0
    assert all(q.take("other", 1000, 0.0) == 0.0 for _ in range(10))


def test_batch_larger_than_burst_passes_once_into_a_debt_of_at_most_one_burst() -> None:
    """Without the cap, 20 items against rate 10 / burst 5 owed 1.5 s; 10,000 items at
    rate 1 would have refused the tenant for hours (issue 13)."""
    q = quotas(acme=TenantQuota(rate=10, burst=5))
    assert q.take("acme", 20, 0.0) == 0.0  # bucket full: allowed, 5 tokens in debt (not 15)
    assert q.take("acme", 1, 0.5) == 0.1  # refilled to 0
    assert q.take("acme", 1, 0.75) == 0.0
    slow = quotas(acme=TenantQuota(rate=1, burst=1))
    assert slow.take("acme", 10_000, 0.0) == 0.0
    assert slow.take("acme", 1, 2.0) == 0.0  # two seconds later, not 10,000


def test_a_refused_request_is_charged_into_the_same_capped_debt() -> None:
    q = quotas(acme=TenantQuota(rate=1, burst=2))
    for _ in range(100):
        q.charge("acme", 50, 0.0)
    assert q.take("acme", 1, 0.0) == 3.0  # -2 tokens: three seconds to one, not 5,000
    q.charge("nobody", 1, 0.0)  # unlimited tenant: nothing to charge


def test_a_refused_request_spends_nothing() -> None:
    q = quotas(acme=TenantQuota(rate=1, burst=2))
    assert q.take("acme", 2, 0.0) == 0.0
    assert q.take("acme", 1, 0.5) == 0.5
    assert q.take("acme", 1, 1.0) == 0.0


def test_burst_defaults_to_one_second_of_rate() -> None:
    q = quotas(acme=TenantQuota(rate=2.5))
    assert [q.take("acme", 1, 0.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert q.take("acme", 1, 0.0) > 0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert [retry_after_header(w) for w in (0.01, 1.0, 1.2)] == ["1", "1", "2"]
