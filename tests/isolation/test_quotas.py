"""Quotas keep tenants (and packages) apart: rate per package, concurrency per tenant.

The per-tenant rate, depth and in-flight caps have their own unit tests (listener,
queue); here: a package's own ``[limits] rate`` at the real webhook, refused requests
charged to their own tenant only, and a tenant's ``max_concurrency`` really bounding
its concurrent runs across executor processes.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from itertools import pairwise

import pytest
import trio

from jobico.config import Config, TenantQuota
from jobico.listener.catalog import Catalog
from jobico.listener.quotas import PackageRate, Quotas
from tests.e2e.conftest import Factory
from tests.e2e.platform import package, wait_until
from tests.executor.guests import jobicolet
from tests.listener.conftest import CATALOG, job, make_app, post, serving


def quotas(**per_tenant: TenantQuota) -> Quotas:
    return Quotas(lambda tenant: per_tenant.get(tenant, TenantQuota()))


def test_a_package_rate_refuses_before_the_tenants() -> None:
    q = quotas(acme=TenantQuota(rate=100, burst=100))
    slow = PackageRate("slow", rate=1, burst=2)
    assert [q.refusal("acme", 1, 0.0, slow) for _ in range(2)] == [None, None]
    wait, why = q.refusal("acme", 1, 0.0, slow) or (0, "")
    assert wait == 1.0 and why == "package acme/slow is over its rate limit"
    assert q.refusal("acme", 50, 0.0) is None  # the tenant's own bucket was barely touched


def test_a_tenant_refusal_gives_the_package_its_tokens_back() -> None:
    q = quotas(acme=TenantQuota(rate=1, burst=1))
    pkg = PackageRate("pkg", rate=1, burst=1)
    assert q.refusal("acme", 1, 0.0) is None  # the tenant's only token
    refused = q.refusal("acme", 1, 0.0, pkg)
    assert refused is not None and refused[1] == "tenant acme is over its rate quota"
    assert q.refusal("acme", 1, 1.0, pkg) is None  # the package still had its token


def test_a_changed_package_limit_starts_a_fresh_bucket() -> None:
    q = quotas()
    assert q.refusal("acme", 1, 0.0, PackageRate("p", 1, 1)) is None
    assert q.refusal("acme", 1, 0.0, PackageRate("p", 1, 1)) is not None
    assert q.refusal("acme", 1, 0.0, PackageRate("p", 5, 5)) is None


def test_listener_processes_share_a_tenant_rate_between_them() -> None:
    """With ``listener.workers = 2`` each process has its own buckets: together they hold the quota."""
    quota = TenantQuota(rate=10, burst=10)
    workers = [Quotas(lambda _t: quota, share=2) for _ in range(2)]
    pkg = PackageRate("pkg", rate=4, burst=4)
    accepted = sum(q.take("acme", 1, 0.0) == 0.0 for q in workers for _ in range(20))
    assert accepted == 10
    assert sum(q.refusal("acme", 1, 100.0, pkg) is None for q in workers for _ in range(20)) == 4


@pytest.mark.trio
async def test_package_rate_limit_is_429_at_the_webhook_and_spares_other_packages() -> None:
    document = {**CATALOG, "tenants": {**CATALOG["tenants"], "acme": {
        "events": {"signup": job("acme", "signup", package="limited"),
                   "any": job("acme", "any", package="free", schema=None, schema_sha256=None)},
        "packages": {"limited": {"limits": {"rate": 0.5, "burst": 2, "max_queue_depth": None}},
                     "free": {"limits": {"rate": None}}},
    }}}
    config = dataclasses.replace(Config(), tenants={"acme": TenantQuota(rate=1000, burst=1000)})
    app = make_app(config, catalog=Catalog(document), clock=lambda: 100.0)
    with trio.fail_after(10):
        async with serving(app) as port:
            ok = [(await post(port, "/events/acme/signup", {"name": "a"})).status for _ in range(2)]
            limited = await post(port, "/events/acme/signup", {"name": "a"})
            other = await post(port, "/events/acme/any", {"x": 1})
    assert ok == [202, 202]
    assert limited.status == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["detail"] == "package acme/limited is over its rate limit"
    assert other.status == 202


@pytest.mark.trio
async def test_a_tenant_over_its_rate_is_refused_before_its_body_is_read() -> None:
    config = dataclasses.replace(Config(), tenants={"acme": TenantQuota(rate=0.5, burst=1)})
    app = make_app(config, clock=lambda: 100.0)
    with trio.fail_after(10):
        async with serving(app) as port:
            first = await post(port, "/events/acme/any", {"x": 1})
            flood = [await post(port, "/events/acme/any", b"{" * 100_000) for _ in range(5)]
    assert first.status == 202
    assert {r.status for r in flood} == {429}  # not 400: the body was never parsed
    assert len(app.enqueuer.calls) == 1  # type: ignore[attr-defined]


@pytest.mark.trio
async def test_a_tenants_bad_requests_drain_its_own_bucket_and_no_other() -> None:
    """Issue 13 item 8: refused requests cost nothing, so a sender could make the webhook
    parse and answer bad requests (the 85k-item body: 5.5 s each) forever for free."""
    quota = TenantQuota(rate=1, burst=10)
    config = dataclasses.replace(Config(), tenants={"acme": quota, "signed": quota})
    app = make_app(config, clock=lambda: 100.0)
    hostile = b'{"data":[' + b",".join([b"{}"] * 85_000) + b"]}"
    with trio.fail_after(30):
        async with serving(app) as port:
            flood = [(await post(port, "/events/acme/any", hostile)).status for _ in range(3)]
            flood += [(await post(port, "/events/acme/any", b"{nope")).status for _ in range(5)]
            quiet = [(await post(port, "/events/signed/hook", {"name": "q"})).status
                     for _ in range(5)]
            after = await post(port, "/events/acme/any", {"x": 1})
    assert flood[0] == 413  # 85k items parsed: charged, into a debt of one burst
    assert set(flood[1:]) == {429}  # refused before their bodies are read
    assert quiet == [401] * 5  # the other tenant's own answers (unsigned), never a 429
    assert after.status == 429
    assert app.enqueuer.calls == []  # type: ignore[attr-defined]


# ~0.1-0.3 s of wasm per run: long enough that two concurrent runs would overlap
BUSY = jobicolet("""(local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 100000000))))
    (call $ret (local.get $r) (i64.const 0) (i32.const 0) (i32.const 0))""")


@pytest.mark.e2e
def test_tenant_max_concurrency_bounds_runs_across_executors(platform_factory: Factory) -> None:
    p = platform_factory("[executor]\nworkers = 2\nmax_concurrency = 4\n"
                         "[tenants.solo]\nmax_concurrency = 1\n")
    p.write("solo/busy.wasm", BUSY)
    p.write("solo/pkg.toml", package({"event": "work", "wasm": "busy.wasm", "timeout_ms": 10_000}))
    p.wait_for_event("solo", "work", timeout=30)
    status, reply = p.post("solo", "work", {"data": [{"n": i} for i in range(8)]})
    assert status == 202, reply
    records = wait_until(lambda: (r := p.records(tenant="solo")) and len(r) >= 8 and r, 90,
                         "8 records of tenant solo")
    assert {r["status"] for r in records} == {"ok"}
    spans = sorted((start := datetime.fromisoformat(r["started_at"]).timestamp(),
                    start + r["duration_ms"] / 1000) for r in records)
    overlaps = [(a, b) for a, b in pairwise(spans) if b[0] < a[1]]
    assert not overlaps, f"runs of tenant solo overlapped: {overlaps}"
