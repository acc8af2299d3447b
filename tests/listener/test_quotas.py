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


def test_batch_larger_than_burst_passes_once_then_repays_its_debt() -> None:
    q = quotas(acme=TenantQuota(rate=10, burst=5))
    assert q.take("acme", 20, 0.0) == 0.0  # bucket full: allowed, 15 tokens in debt
    assert q.take("acme", 1, 1.0) > 0  # 10 refilled, still -5
    assert q.take("acme", 1, 2.0) == 0.0


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
