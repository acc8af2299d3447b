"""The queue's contract (jobico/queue/api.py): today's wire shapes, and hostile params refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from jobico.errors import UserError
from jobico.queue import api

ID = "00000000000000aa"
DELIVERY = api.Delivery(ID, "acme", "signup", 2, b'{"a": 1}', 1.5)
LETTER = api.DeadLetter(ID, "acme", "signup", 3, b"{}", 1.5, 2.5, "trap")


def test_replies_keep_the_wire_shape_and_key_order_the_cli_prints() -> None:
    assert list(DELIVERY.to_wire().items()) == [("id", ID), ("tenant", "acme"), ("event", "signup"),
                                                ("attempt", 2), ("body", b'{"a": 1}'), ("enqueued_at", 1.5)]
    assert list(LETTER.to_wire()) == ["id", "tenant", "event", "attempt", "body", "enqueued_at", "dead_at",
                                      "reason"]
    stats = api.QueueStats({"acme": api.TenantStats(2, 1, 0, False)})
    assert stats.to_wire() == {"acme": {"depth": 2, "inflight": 1, "dead": 0, "paused": False}}
    assert list(stats.to_wire()["acme"]) == ["depth", "inflight", "dead", "paused"]
    # a backend's commit number stays in the queue
    assert api.EnqueueResult([ID], False, commit=7).to_wire() == {"ids": [ID], "duplicate": False}
    assert api.Settled([ID], [], commit=7).to_wire() == {"applied": [ID], "stale": []}
    assert api.Applied([ID], commit=7).to_wire() == {"ids": [ID]}
    assert api.Renewed([ID], []).to_wire() == {"renewed": [ID], "lost": []}
    assert api.Released(2).to_wire() == {"released": 2}
    assert api.Paused("acme", True).to_wire() == {"tenant": "acme", "paused": True}
    assert api.Deliveries((DELIVERY,)).to_wire() == [DELIVERY.to_wire()]
    assert api.DeadLetters((LETTER,)).to_wire() == [LETTER.to_wire()]


@pytest.mark.parametrize("message", [
    api.Enqueue("acme", "signup", (b"1", b"2"), "k", "aa", "platform"),
    api.Lease("executor-1", 16, 30_000, 500, {"acme": 3}, 8),
    api.Lease("executor-1"),
    api.Renew("executor-1", (ID,), 30_000),
    api.Settle("executor-1", (api.Settlement(ID, "retry", "boom", 1000), api.Settlement(ID, "ack"))),
    api.Release("executor-1"),
    api.ListDead(), api.ListDead("acme"),
    api.Selection(ids=(ID,)), api.Selection(tenant="acme"), api.Selection((ID,), "acme"),
    api.OfTenant("acme"),
    DELIVERY, LETTER, api.Deliveries((DELIVERY, DELIVERY)), api.DeadLetters((LETTER,)),
    api.EnqueueResult([ID], True), api.Settled([ID], [ID]), api.Renewed([], [ID]), api.Applied([ID]),
    api.Released(0), api.Paused("acme", False), api.QueueStats({"a": api.TenantStats(0, 0, 1, True)}),
])
def test_every_message_reads_back_as_it_was_sent(message: Any) -> None:
    assert type(message).from_wire(message.to_wire()) == message


def test_every_method_keeps_its_wire_name() -> None:
    calls = [api.enqueue, api.lease, api.renew, api.settle, api.release, api.dead, api.replay, api.purge,
             api.stats, api.pause, api.resume]
    assert [c.name for c in calls] == ["enqueue", "lease", "renew", "settle", "release", "dead", "replay",
                                       "purge", "stats", "pause", "resume"]


def test_defaults_are_todays_for_params_left_out() -> None:
    assert api.Lease.from_wire({"worker": "w"}) == api.Lease("w", 1, None, 0, None, None)
    assert api.Enqueue.from_wire({"tenant": "acme", "event": "e", "items": [b"1"]}) == api.Enqueue(
        "acme", "e", (b"1",), None, None, "sender")
    assert api.Enqueue.from_wire({"tenant": "acme", "event": "e", "items": [b"1"], "scope": None}).scope == \
        "sender"
    assert api.Settlement.from_wire({"id": ID, "outcome": "dead"}) == api.Settlement(ID, "dead", "", None)
    assert api.Selection.from_wire({"ids": None, "tenant": "acme"}) == api.Selection(None, "acme")
    assert api.Selection.from_wire(None) == api.Selection()


@pytest.mark.parametrize(("read", "params", "says"), [
    (api.Lease.from_wire, {"max": 1}, "'worker' must be a string, is missing"),
    (api.Lease.from_wire, {"worker": ""}, "'worker' must not be empty"),
    (api.Lease.from_wire, {"worker": "w", "max": -1}, "'max' must be a non-negative integer, got -1"),
    (api.Lease.from_wire, {"worker": "w", "max": True}, "'max' must be an integer or nil, got bool"),
    (api.Lease.from_wire, {"worker": "w", "lease_ms": "10"}, "'lease_ms' must be an integer"),
    (api.Lease.from_wire, {"worker": "w", "wait_ms": 1.5}, "'wait_ms' must be an integer"),
    (api.Lease.from_wire, {"worker": "w", "held": {"acme": -1}}, "'held' must map tenants"),
    (api.Lease.from_wire, {"worker": "w", "held": [1]}, "'held' must map tenants"),
    (api.Lease.from_wire, {"worker": "w", "per_tenant": -2}, "'per_tenant' must be a non-negative"),
    (api.Lease.from_wire, [1, 2], "params must be a map, got list"),
    (api.Enqueue.from_wire, {"tenant": "../etc", "event": "e", "items": [b"1"]}, "tenant '../etc' is not"),
    (api.Enqueue.from_wire, {"tenant": "acme", "event": "a b", "items": [b"1"]}, "event 'a b' is not"),
    (api.Enqueue.from_wire, {"tenant": "acme", "event": "e", "items": []}, "'items' must hold at least one"),
    (api.Enqueue.from_wire, {"tenant": "acme", "event": "e", "items": [b"1", "2"]},
     r"params.items\[1\]: an item must be bytes, got str"),
    (api.Enqueue.from_wire, {"tenant": "acme", "event": "e", "items": b"1"}, "'items' must be an array"),
    (api.Enqueue.from_wire, {"tenant": "acme", "event": "e", "items": [b"1"], "key": 5},
     "'key' must be a string or nil, got int"),
    (api.Renew.from_wire, {"worker": "w", "ids": [ID, "zz"]}, r"params.ids\[1\]: event id 'zz' is not"),
    (api.Settle.from_wire, {"results": []}, "'worker' must be a string"),
    (api.Settle.from_wire, {"worker": "w", "results": {}}, "'results' must be an array, got dict"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": ID, "outcome": "ack"}, {"id": ID}]},
     r"params.results\[1\]: result 'outcome' must be a string, is missing"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": ID, "outcome": "maybe"}]},
     r"results\[0\]: result 'outcome' must be one of ack, retry, dead, got 'maybe'"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": ID, "outcome": ["ack"]}]},
     r"results\[0\]: result 'outcome' must be a string, got list"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": ID, "outcome": "retry", "delay_ms": -5}]},
     r"results\[0\]: result 'delay_ms' must be a non-negative"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": ID, "outcome": "ack", "reason": 3}]},
     r"results\[0\]: result 'reason' must be a string or nil, got int"),
    (api.Settle.from_wire, {"worker": "w", "results": [{"id": "../x", "outcome": "ack"}]},
     r"results\[0\]: event id '../x' is not"),
    (api.Settle.from_wire, {"worker": "w", "results": ["ack"]}, r"results\[0\]: result must be a map"),
    (api.Release.from_wire, {}, "'worker' must be a string, is missing"),
    (api.ListDead.from_wire, {"tenant": "Not/A/Tenant"}, "tenant 'Not/A/Tenant' is not a valid id"),
    (api.Selection.from_wire, {"ids": "00000000000000aa"}, "'ids' must be an array, got str"),
    (api.Selection.from_wire, {"ids": ["nope"]}, r"params.ids\[0\]: event id 'nope' is not"),
    (api.OfTenant.from_wire, {}, "'tenant' must be a string, is missing"),
    (api.OfTenant.from_wire, {"tenant": "ACME!"}, "tenant 'ACME!' is not a valid id"),
])
def test_hostile_params_are_refused_naming_the_field(read: Any, params: object, says: str) -> None:
    with pytest.raises(UserError, match=says):
        read(params)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("attempt", True, "'attempt' must be an integer, got bool"),
    ("body", "text", "'body' must be bytes, got str"),
    ("enqueued_at", None, "'enqueued_at' must be a number, got nil"),
    ("id", 7, "'id' must be a string, got int"),
])
def test_a_delivery_off_contract_is_named_by_its_field(field: str, value: object, says: str) -> None:
    with pytest.raises(UserError, match=says):
        api.Delivery.from_wire({**DELIVERY.to_wire(), field: value})
    with pytest.raises(UserError, match=rf"deliveries\[1\]: delivery {says}"):
        api.Deliveries.from_wire([DELIVERY.to_wire(), {**DELIVERY.to_wire(), field: value}])


def test_an_integer_enqueued_at_is_kept_as_sent() -> None:
    assert api.Delivery.from_wire({**DELIVERY.to_wire(), "enqueued_at": 2}).enqueued_at == 2


def test_stats_replies_off_contract_are_refused() -> None:
    with pytest.raises(UserError, match="stats must be a map, got list"):
        api.QueueStats.from_wire([])
    with pytest.raises(UserError, match="tenant stats 'paused' must be true or false, is missing"):
        api.QueueStats.from_wire({"acme": {"depth": 1, "inflight": 0, "dead": 0}})
    with pytest.raises(UserError, match="keyed by tenant"):
        api.QueueStats.from_wire({1: {"depth": 1, "inflight": 0, "dead": 0, "paused": False}})
