"""One suite, both backends: the queue rules every caller relies on."""

from __future__ import annotations

import pytest

from jobico.errors import Conflict, NotFound, QueueFull, Unavailable, UserError
from jobico.queue.api import Settlement
from jobico.queue.backend import Limits, Packages

from .conftest import Harness

LEASE_MS = 30_000


def ack(*ids: str) -> list[Settlement]:
    return [Settlement(i, "ack") for i in ids]


def test_enqueue_lease_ack(harness: Harness) -> None:
    q = harness.open()
    result = q.enqueue("acme", "signup", [b'{"n":1}', b'{"n":2}'], None)
    assert not result.duplicate
    got = q.lease("w1", 10, LEASE_MS)
    assert [(d.id, d.tenant, d.event, d.attempt, d.body) for d in got] == [
        (result.ids[0], "acme", "signup", 1, b'{"n":1}'),
        (result.ids[1], "acme", "signup", 1, b'{"n":2}'),
    ]
    assert got[0].enqueued_at == harness.clock.now
    assert q.stats()["acme"].inflight == 2
    assert q.settle("w1", ack(*result.ids)).applied == result.ids
    assert q.lease("w1", 10, LEASE_MS) == []
    assert q.stats()["acme"].depth == q.stats()["acme"].inflight == 0


def test_ids_are_16_hex_digits_increasing_in_item_order(harness: Harness) -> None:
    q = harness.open()
    first = q.enqueue("acme", "e", [b"1", b"2", b"3"], None).ids
    harness.clock.advance(-5)  # a clock stepping back must not reorder ids
    second = q.enqueue("acme", "e", [b"4"], None).ids
    ids = first + second
    assert all(len(i) == 16 and int(i, 16) >= 0 and i == i.lower() for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_idempotency_key_returns_the_same_ids_for_24_hours(harness: Harness) -> None:
    q = harness.open()
    first = q.enqueue("acme", "e", [b"1", b"2"], "key-1")
    again = q.enqueue("acme", "e", [b"other"], "key-1")
    assert again.duplicate and again.ids == first.ids
    assert not q.enqueue("globex", "e", [b"1"], "key-1").duplicate  # keys are per tenant
    assert q.stats()["acme"].depth == 2
    harness.clock.advance(24 * 3600 + 1)
    later = q.enqueue("acme", "e", [b"1"], "key-1")
    assert not later.duplicate and later.ids != first.ids


def test_tenant_over_its_depth_limit_is_unavailable(harness: Harness) -> None:
    harness.limits["acme"] = Limits(max_depth=3)
    q = harness.open()
    q.enqueue("acme", "e", [b"1", b"2"], None)
    with pytest.raises(Unavailable, match="acme"):
        q.enqueue("acme", "e", [b"3", b"4"], None)
    q.enqueue("globex", "e", [b"1"] * 5, None)  # other tenants are unaffected
    ids = [d.id for d in q.lease("w", 1, LEASE_MS) if d.tenant == "acme"]
    q.enqueue("acme", "e", [b"3"], None)  # leased items still count against the depth
    with pytest.raises(Unavailable):
        q.enqueue("acme", "e", [b"4"], None)
    q.settle("w", ack(*ids))
    q.enqueue("acme", "e", [b"4"], None)


def test_bad_input_names_the_field(harness: Harness) -> None:
    q = harness.open()
    with pytest.raises(UserError, match="tenant"):
        q.enqueue("../etc", "e", [b"1"], None)
    with pytest.raises(UserError, match="items"):
        q.enqueue("acme", "e", [], None)
    with pytest.raises(UserError, match="event id"):
        q.settle("w", [Settlement("nope", "ack")])


def test_expired_lease_is_redelivered(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    assert [d.id for d in q.lease("w1", 10, 1000)] == [item]
    harness.clock.advance(0.5)
    assert q.lease("w2", 10, 1000) == []
    harness.clock.advance(0.6)
    assert q.expire() == 1
    again = q.lease("w2", 10, 1000)
    assert [(d.id, d.attempt) for d in again] == [(item, 1)]


def test_a_restarted_worker_gives_back_its_predecessors_leases(harness: Harness) -> None:
    q = harness.open()
    first, second = q.enqueue("acme", "e", [b"1", b"2"], None).ids
    assert [d.id for d in q.lease("executor-1", 1, LEASE_MS)] == [first]
    assert [d.id for d in q.lease("executor-2", 1, LEASE_MS)] == [second]
    assert q.release("executor-1") == 1
    assert q.release("executor-1") == 0
    again = q.lease("executor-1", 10, LEASE_MS)
    assert [(d.id, d.attempt) for d in again] == [(first, 1)]  # same attempt: it never ran
    assert q.stats()["acme"].inflight == 2


def test_retry_backs_off_then_comes_back_as_the_next_attempt(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w", 1, LEASE_MS)
    q.settle("w", [Settlement(item, "retry", "boom")])  # the policy's delay: 0.75..1.25 s
    assert q.lease("w", 1, LEASE_MS) == []
    assert q.stats()["acme"].depth == 1
    harness.clock.advance(0.74)
    assert q.lease("w", 1, LEASE_MS) == []
    harness.clock.advance(0.52)
    [second] = q.lease("w", 1, LEASE_MS)
    assert (second.id, second.attempt, second.body) == (item, 2, b"1")
    q.settle("w", [Settlement(item, "retry", delay_ms=10_000)])
    harness.clock.advance(9.9)
    assert q.lease("w", 1, LEASE_MS) == []
    harness.clock.advance(0.2)
    assert [d.attempt for d in q.lease("w", 1, LEASE_MS)] == [3]


def test_dead_letter_then_replay_keeps_the_id_and_continues_attempts(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w", 1, LEASE_MS)
    q.settle("w", [Settlement(item, "retry", delay_ms=0)])
    q.lease("w", 1, LEASE_MS)
    q.settle("w", [Settlement(item, "dead", "trap: unreachable")])
    [letter] = q.dead("acme")
    assert (letter.id, letter.attempt, letter.reason, letter.body) == (item, 2, "trap: unreachable", b"1")
    assert q.stats()["acme"].dead == 1 and q.lease("w", 1, LEASE_MS) == []
    assert q.replay([item], None).ids == [item]
    assert q.dead(None) == []
    [third] = q.lease("w", 1, LEASE_MS)
    assert (third.id, third.attempt) == (item, 3)


def test_replay_and_purge_by_tenant_or_unknown_id(harness: Harness) -> None:
    q = harness.open()
    ids = q.enqueue("acme", "e", [b"1", b"2", b"3"], None).ids
    q.lease("w", 3, LEASE_MS)
    q.settle("w", [Settlement(i, "dead", "x") for i in ids])
    with pytest.raises(NotFound, match="0000000000000001"):
        q.replay(["0000000000000001"], None)
    with pytest.raises(NotFound):
        q.purge([ids[0]], "globex")
    assert q.purge([ids[0]], None).ids == [ids[0]]
    assert sorted(q.replay(None, "acme").ids) == ids[1:]
    assert sorted(d.id for d in q.lease("w", 10, LEASE_MS)) == ids[1:]
    assert q.purge(None, "acme").ids == []


def test_paused_tenant_is_not_leased_until_resumed(harness: Harness) -> None:
    q = harness.open()
    q.enqueue("acme", "e", [b"1"], None)
    q.enqueue("globex", "e", [b"1"], None)
    q.pause("acme")
    assert [d.tenant for d in q.lease("w", 10, LEASE_MS)] == ["globex"]
    assert q.stats()["acme"].paused and q.stats()["acme"].depth == 1
    q.resume("acme")
    assert [d.tenant for d in q.lease("w", 10, LEASE_MS)] == ["acme"]


def test_a_flooding_tenant_does_not_starve_another(harness: Harness) -> None:
    q = harness.open()
    for _ in range(20):
        q.enqueue("flood", "e", [b"x"] * 100, None)
    q.enqueue("quiet", "e", [b"a", b"b"], None)
    first = q.lease("w", 4, LEASE_MS)
    assert sorted(d.tenant for d in first) == ["flood", "flood", "quiet", "quiet"]


def test_inflight_cap_per_tenant(harness: Harness) -> None:
    harness.limits["acme"] = Limits(max_inflight=2)
    q = harness.open()
    q.enqueue("acme", "e", [b"x"] * 5, None)
    got = q.lease("w", 10, LEASE_MS)
    assert len(got) == 2 and q.lease("w", 10, LEASE_MS) == []
    q.settle("w", ack(got[0].id))
    assert len(q.lease("w", 10, LEASE_MS)) == 1


def test_settling_twice_or_unknown_ids_is_harmless(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w", 1, LEASE_MS)
    assert q.settle("w", ack(item)).applied == [item]
    again = q.settle("w", ack(item, "00000000000000ff"))
    assert again.applied == []
    assert again.stale == [item, "00000000000000ff"]


# -- leases belong to their worker (issue 13, item 4) ---------------------------------------------


def test_a_renewed_lease_outlives_its_first_deadline(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 10, 1000)
    for _ in range(5):  # a 4 s run on 1 s leases, renewed every 0.8 s
        harness.clock.advance(0.8)
        assert q.expire() == 0
        assert q.lease("w2", 10, 1000) == []
        assert q.renew("w1", [item], 1000).renewed == [item]
    assert q.stats()["acme"].inflight == 1
    assert q.settle("w1", ack(item)).applied == [item]
    harness.clock.advance(5)
    assert q.expire() == 0 and q.lease("w2", 10, 1000) == []


def test_renew_reports_what_the_worker_no_longer_holds(harness: Harness) -> None:
    q = harness.open()
    mine, theirs, done = q.enqueue("acme", "e", [b"1", b"2", b"3"], None).ids
    assert [d.id for d in q.lease("w1", 1, 1000)] == [mine]
    assert [d.id for d in q.lease("w2", 1, 1000)] == [theirs]
    assert [d.id for d in q.lease("w1", 1, 1000)] == [done]
    q.settle("w1", ack(done))
    renewed = q.renew("w1", [mine, theirs, done, "00000000000000ff"], 1000)
    assert renewed.renewed == [mine]
    assert renewed.lost == [theirs, done, "00000000000000ff"]
    with pytest.raises(UserError, match="event id"):
        q.renew("w1", ["nope"], 1000)


def test_an_expired_lease_renewed_before_the_sweep_is_kept(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 1, 1000)
    harness.clock.advance(1.2)  # past the deadline, but nobody has swept or leased since
    assert q.renew("w1", [item], 1000).renewed == [item]
    assert q.expire() == 0 and q.lease("w2", 1, 1000) == []


def test_settle_by_a_worker_that_does_not_hold_the_lease_is_stale(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 1, LEASE_MS)
    settled = q.settle("w2", [Settlement(item, "dead", "not mine")])
    assert (settled.applied, settled.stale) == ([], [item])
    assert q.dead("acme") == [] and q.stats()["acme"].inflight == 1
    assert q.settle("w1", ack(item)).applied == [item]


def test_a_stale_ack_after_expiry_is_not_applied(harness: Harness) -> None:
    q = harness.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 1, 1000)
    harness.clock.advance(2)
    q.expire()
    assert q.settle("w1", ack(item)).stale == [item]  # w1 lost it: whoever holds it next settles
    [again] = q.lease("w2", 1, 1000)
    assert again.id == item
    assert q.settle("w1", ack(item)).stale == [item]
    assert q.settle("w2", ack(item)).applied == [item]


def test_the_tenant_cap_holds_through_renewal_expiry_and_re_lease(harness: Harness) -> None:
    harness.limits["acme"] = Limits(max_inflight=2)
    q = harness.open()
    ids = q.enqueue("acme", "e", [b"x"] * 5, None).ids
    first = [d.id for d in q.lease("w1", 10, 1000)]
    assert first == ids[:2]
    harness.clock.advance(0.9)
    q.renew("w1", first, 1000)
    harness.clock.advance(0.9)
    assert q.lease("w2", 10, 1000) == []  # renewed: still w1's, still at the cap
    harness.clock.advance(0.2)
    assert [d.id for d in q.lease("w2", 10, 1000)] == first  # expired: w2 gets the same two
    assert q.lease("w1", 10, 1000) == [] and q.stats()["acme"].inflight == 2
    assert q.renew("w1", first, 1000).lost == first


def test_a_worker_bounds_what_it_takes_of_each_tenant(harness: Harness) -> None:
    q = harness.open()
    q.enqueue("spinner", "spin", [b"s"] * 60, None)
    got = q.lease("w", 64, LEASE_MS, held={}, per_tenant=48)
    assert len(got) == 48
    q.enqueue("quiet", "echo", [b"q"] * 20, None)
    more = q.lease("w", 16, LEASE_MS, held={"spinner": 48}, per_tenant=48)
    assert [d.tenant for d in more] == ["quiet"] * 16
    last = q.lease("w", 16, LEASE_MS, held={"spinner": 48, "quiet": 16}, per_tenant=48)
    assert [d.tenant for d in last] == ["quiet"] * 4
    assert len(q.lease("w2", 100, LEASE_MS)) == 12  # another worker is not bound by w's holdings


def test_a_package_at_its_max_concurrency_leaves_the_tenants_other_events(harness: Harness) -> None:
    q = harness.open()
    q.set_packages(Packages({("acme", "slow"): "heavy", ("acme", "fast"): "light",
                             ("acme", "slower"): "heavy"}, {("acme", "heavy"): 2}))
    q.enqueue("acme", "slow", [b"s"] * 5, None)
    q.enqueue("acme", "slower", [b"s"] * 5, None)
    q.enqueue("acme", "fast", [b"f"] * 5, None)
    got = q.lease("w", 100, LEASE_MS)
    assert sorted(d.event for d in got) == ["fast"] * 5 + ["slow", "slower"]
    assert q.lease("w", 100, LEASE_MS) == []
    q.settle("w", ack(next(d.id for d in got if d.event == "slow")))
    assert [d.event for d in q.lease("w", 100, LEASE_MS)] in (["slow"], ["slower"])
    q.set_packages(Packages(dict.fromkeys([("acme", "slow"), ("acme", "slower")], "heavy"),
                            {("acme", "heavy"): 5}))  # a new catalog raises the cap
    assert len(q.lease("w", 100, LEASE_MS)) == 3



# -- a package's max_queue_depth -----------------------------------------------------------------

DEEP = Packages({("acme", "signup"): "flow", ("acme", "welcome"): "flow", ("acme", "other"): "free"},
                depths={("acme", "flow"): 3})


def test_a_package_at_its_max_queue_depth_is_full_and_the_tenants_other_package_is_not(
    harness: Harness,
) -> None:
    q = harness.open()
    q.set_packages(DEEP)
    q.enqueue("acme", "signup", [b"1", b"2"], None)
    q.enqueue("acme", "welcome", [b"3"], None)  # its two events share the depth
    with pytest.raises(QueueFull, match="tenant acme package flow queue is full: 3 of 3 items queued"):
        q.enqueue("acme", "welcome", [b"4"], None)
    with pytest.raises(QueueFull, match="package flow"):
        q.enqueue("acme", "signup", [b"4"], None)
    q.enqueue("acme", "other", [b"x"] * 5, None)  # another package of the tenant is unaffected
    q.enqueue("globex", "signup", [b"x"] * 5, None)  # and other tenants
    assert q.stats()["acme"].depth == 8
    flow = [d.id for d in q.lease("w", 100, LEASE_MS) if d.event != "other"]
    q.settle("w", [Settlement(flow[2], "retry", delay_ms=60_000)])
    with pytest.raises(QueueFull, match="3 of 3"):  # leased items and retries still count
        q.enqueue("acme", "signup", [b"4"], None)
    if harness.kind != "memory":  # the count survives a restart
        q = harness.reopen(q)
        q.set_packages(DEEP)  # the service adopts ctl's catalog again
        with pytest.raises(QueueFull, match="3 of 3"):
            q.enqueue("acme", "signup", [b"4"], None)
    assert q.settle("w", ack(flow[0])).applied == [flow[0]]  # acking one frees room for one
    q.enqueue("acme", "signup", [b"4"], None)
    with pytest.raises(QueueFull, match="3 of 3"):
        q.enqueue("acme", "welcome", [b"5"], None)


def test_a_packages_depth_counts_its_items_through_expiry_retry_dead_replay_and_purge(
    harness: Harness,
) -> None:
    def full() -> None:
        with pytest.raises(QueueFull, match="2 of 2"):
            q.enqueue("acme", "signup", [b"x"], None)

    q = harness.open()
    q.set_packages(Packages({("acme", "signup"): "flow"}, depths={("acme", "flow"): 2}))
    q.enqueue("acme", "signup", [b"1", b"2"], None)
    q.lease("w", 1, 1000)
    harness.clock.advance(2)
    assert q.expire() == 1  # back in the ready queue: still queued
    full()
    a, b = (d.id for d in q.lease("w", 2, LEASE_MS))
    assert q.release("w") == 2
    full()
    a, b = (d.id for d in q.lease("w", 2, LEASE_MS))
    q.settle("w", [Settlement(a, "retry", delay_ms=10_000), Settlement(b, "dead", "boom")])
    third = q.enqueue("acme", "signup", [b"3"], None).ids  # the dead letter left; the retry stays
    full()
    q.replay([b], None)  # a replayed letter is queued again (over the depth: it was accepted once)
    with pytest.raises(QueueFull, match="3 of 2"):
        q.enqueue("acme", "signup", [b"x"], None)
    harness.clock.advance(10)
    got = q.lease("w", 10, LEASE_MS)
    assert sorted(d.id for d in got) == sorted([a, b, *third])
    q.settle("w", [Settlement(d.id, "dead", "boom") for d in got])
    assert len(q.purge(None, "acme").ids) == 3
    q.enqueue("acme", "signup", [b"4", b"5"], None)  # nothing counted is left behind
    full()


# -- idempotency keys are scoped and bound to the body (issue 13, item 10) -----------------------


def test_a_sender_cannot_pre_claim_a_platform_key(harness: Harness) -> None:
    q = harness.open()
    claimed = q.enqueue("acme", "welcome", [b"forged"], "0000000000000001:on_ok")
    chained = q.enqueue("acme", "welcome", [b"real"], "0000000000000001:on_ok", scope="platform")
    assert not chained.duplicate and chained.ids != claimed.ids
    again = q.enqueue("acme", "welcome", [b"real"], "0000000000000001:on_ok", scope="platform")
    assert again.duplicate and again.ids == chained.ids
    with pytest.raises(UserError, match="scope"):
        q.enqueue("acme", "welcome", [b"x"], "k", scope="root")


def test_the_same_key_on_two_events_of_a_tenant_is_two_requests(harness: Harness) -> None:
    q = harness.open()
    signed = q.enqueue("acme", "payment", [b"1"], "k", digest="aa")
    unsigned = q.enqueue("acme", "signup", [b"1"], "k", digest="aa")
    assert not unsigned.duplicate and unsigned.ids != signed.ids
    assert q.stats()["acme"].depth == 2


def test_the_same_key_with_another_body_is_a_conflict(harness: Harness) -> None:
    q = harness.open()
    first = q.enqueue("acme", "e", [b"1"], "k", digest="aa")
    with pytest.raises(Conflict, match="'k' was used for a different body"):
        q.enqueue("acme", "e", [b"2"], "k", digest="bb")
    assert q.enqueue("acme", "e", [b"1"], "k", digest="aa").ids == first.ids
    assert q.stats()["acme"].depth == 1
