"""Issue 13 item 8 at the real webhook: max_items, the 422's cap, and what refusals cost."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
import trio

from jobico.caps import DEFAULT_MAX_ITEMS, MAX_SCHEMA_ERRORS
from jobico.config import Config, TenantQuota
from jobico.listener.catalog import Catalog, ValidatorCache

from .conftest import job, make_app, post, serving

TWENTY = {"type": "object", "required": [f"f{i}" for i in range(20)],
          "properties": {f"f{i}": {"type": "string"} for i in range(20)}}
DOCUMENT = {"version": 1, "tenants": {"big": {"events": {
    "twenty": job("big", "twenty", schema=TWENTY, schema_sha256="t20", max_body_kb=256),
    "any": job("big", "any", schema=None, schema_sha256=None, max_body_kb=256),
    "few": job("big", "few", schema=None, schema_sha256=None, max_items=3),
}}}}


def batch(count: int, item: bytes = b"{}") -> bytes:
    return b'{"data":[' + b",".join([item] * count) + b"]}"


def app_for(clock: Any = lambda: 100.0, **quota: Any) -> Any:
    config = dataclasses.replace(Config(), tenants={"big": TenantQuota(**quota)} if quota else {})
    return make_app(config, catalog=Catalog(DOCUMENT), clock=clock)


@pytest.mark.trio
async def test_the_85k_item_body_is_413_and_costs_nothing_to_list() -> None:
    """Issue 13: this body got a 123 MB 422 after 5.5 s of the listener's loop."""
    body = batch(85_000)
    assert len(body) <= 256 * 1024
    app = app_for()
    with trio.fail_after(30):
        async with serving(app) as port:
            r = await post(port, "/events/big/twenty", body)
    assert r.status == 413 and r.json()["error"] == "too_large"
    assert f"{DEFAULT_MAX_ITEMS} items" in r.json()["detail"] and len(r.body) < 500
    assert app.enqueuer.calls == []


@pytest.mark.trio
async def test_max_items_is_the_default_or_the_packages_own() -> None:
    app = app_for()
    with trio.fail_after(30):
        async with serving(app) as port:
            at = await post(port, "/events/big/any", batch(DEFAULT_MAX_ITEMS))
            over = await post(port, "/events/big/any", batch(DEFAULT_MAX_ITEMS + 1))
            three = await post(port, "/events/big/few", batch(3))
            four = await post(port, "/events/big/few", batch(4))
    assert (at.status, over.status, three.status, four.status) == (202, 413, 202, 413)
    assert "over the limit of 3 items" in four.json()["detail"]
    assert [len(call[2]) for call in app.enqueuer.calls] == [DEFAULT_MAX_ITEMS, 3]


@pytest.mark.trio
async def test_a_422_lists_at_most_100_errors_plus_more() -> None:
    app = app_for()
    with trio.fail_after(30):
        async with serving(app) as port:
            r = await post(port, "/events/big/twenty", batch(DEFAULT_MAX_ITEMS))
            one = await post(port, "/events/big/twenty", {"f0": "a"})
    doc = r.json()
    assert r.status == 422 and set(doc) == {"error", "detail", "more"} and doc["error"] == "schema"
    assert all(set(e) == {"item", "path", "message"} for e in doc["detail"])
    assert len(doc["detail"]) == MAX_SCHEMA_ERRORS and doc["more"] == DEFAULT_MAX_ITEMS - 5
    assert len(r.body) < 20_000
    assert one.status == 422 and len(one.json()["detail"]) == 19 and one.json()["more"] == 0
    assert app.enqueuer.calls == []


@pytest.mark.trio
async def test_refused_requests_cost_their_tenant_rate_tokens() -> None:
    """SPEC §3: one token for a request refused before its body is parsed, one per item after."""
    app = app_for(rate=1, burst=10)
    with trio.fail_after(30):
        async with serving(app) as port:
            bad = [await post(port, "/events/big/any", b"{nope") for _ in range(3)]  # 3 tokens
            invalid = await post(port, "/events/big/twenty", batch(5))  # parsed: 5 tokens
            unknown = await post(port, "/events/big/nothing", {})  # 1 token
            last = await post(port, "/events/big/any", {"n": 1})  # the 10th token
            refused = await post(port, "/events/big/any", {"n": 2})
    assert [r.status for r in bad] == [400, 400, 400]
    assert (invalid.status, unknown.status, last.status) == (422, 404, 202)
    assert refused.status == 429 and refused.headers["retry-after"] == "2"  # it paid its own


@pytest.mark.trio
async def test_a_flood_of_429s_keeps_the_tenant_refused_but_never_for_long() -> None:
    now = [100.0]
    app = app_for(clock=lambda: now[0], rate=1, burst=2)
    with trio.fail_after(30):
        async with serving(app) as port:
            flood = [(await post(port, "/events/big/any", {})).status for _ in range(50)]
            now[0] += 4.0  # debt capped at one burst: 2 s to zero, one more for a token
            after = await post(port, "/events/big/any", {})
    assert flood[:2] == [202, 202] and set(flood[2:]) == {429}
    assert after.status == 202


@pytest.mark.trio
async def test_one_huge_accepted_batch_owes_at_most_one_burst() -> None:
    """Issue 13: 10,000 items at rate 1 put the tenant 10,000 s (2.8 h) in debt."""
    now = [100.0]
    app = app_for(clock=lambda: now[0], rate=1, burst=2)
    with trio.fail_after(30):
        async with serving(app) as port:
            huge = await post(port, "/events/big/any", batch(DEFAULT_MAX_ITEMS))
            now[0] += 3.0
            next_one = await post(port, "/events/big/any", {"n": 1})
    assert huge.status == 202 and next_one.status == 202


class SlowValidator:
    """A real validator taking 2 ms an item, to make one request's validation long."""

    def __init__(self, real: Any) -> None:
        self.real, self.checked, self.started = real, 0, threading.Event()

    def is_valid(self, item: Any) -> bool:
        self.started.set()
        time.sleep(0.002)
        self.checked += 1
        return bool(self.real.is_valid(item))


class SlowCache(ValidatorCache):
    def get(self, sha256: str, schema: Any) -> tuple[Any, int]:
        real, weight = super().get(sha256, schema)
        self.slow = SlowValidator(real)
        return self.slow, weight


@pytest.mark.trio
async def test_a_long_validation_lets_other_tenants_be_served_meanwhile() -> None:
    """The 85k-item body stalled every tenant's webhook for seconds: validation now gives
    the loop back every ``SLICE_S``, so a quiet request is answered mid-validation."""
    cache = SlowCache()
    document = {"version": 1, "tenants": {
        "big": {"events": {"slow": job("big", "slow", schema={"type": "object"}, max_body_kb=64)}},
        "quiet": {"events": {"q": job("quiet", "q", schema=None, schema_sha256=None)}}}}
    app = make_app(catalog=Catalog(document, cache))
    items = 1000  # 2 s of validation
    with trio.fail_after(60):
        async with serving(app) as port, trio.open_nursery() as nursery:
            nursery.start_soon(post, port, "/events/big/slow", batch(items))
            await trio.to_thread.run_sync(cache.slow.started.wait, 10)
            quiet = await post(port, "/events/quiet/q", {"n": 1})
            checked_meanwhile = cache.slow.checked
    assert quiet.status == 202
    assert checked_meanwhile < items


@pytest.mark.trio
@pytest.mark.parametrize("answer", [202, 409, 503])
async def test_a_request_refused_after_its_tokens_were_spent_pays_once(answer: int) -> None:
    """A 409 or 503 from the queue costs what a 202 costs: one token per item, not twice."""
    app = app_for(rate=1, burst=10)
    app.enqueuer.down = answer == 503
    if answer == 409:
        app.enqueuer.keys[("sender", "big", "any", "k")] = ("another body's digest", ["0" * 16])
    with trio.fail_after(30):
        async with serving(app) as port:
            reply = await post(port, "/events/big/any", batch(3), idempotency_key="k")
            app.enqueuer.down = False  # the queue is back
            left = [await post(port, "/events/big/any", {"n": 1}) for _ in range(8)]
    assert reply.status == answer
    assert [r.status for r in left] == [202] * 7 + [429], "3 of the 10 tokens spent, not 6"
