"""The executor's side of leases and fairness (issue 13, items 4 and 5), against fake peers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import trio

from jobico.errors import Unavailable
from jobico.home import Home
from jobico.queue import api as queue_api

from .test_service import Fakes, delivery, eid, start


class Losing(Fakes):
    """A queue whose first renewal reports ``lost`` ids (their lease lapsed and moved on)."""

    def __init__(self, *args: Any, lost: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost = lost
        self.told = trio.Event()

    async def renew(self, request: queue_api.Renew) -> queue_api.Renewed:
        renewed = await super().renew(request)
        if self.told.is_set():
            return renewed
        self.told.set()
        lost = [i for i in request.ids if i in self.lost]
        return queue_api.Renewed([i for i in request.ids if i not in self.lost], lost)


@pytest.mark.trio
async def test_every_lease_held_is_renewed_running_or_waiting(home: Home) -> None:
    # Two slots, three spinners of 300 ms on 300 ms leases: the third waits ~300 ms.
    fakes = Fakes([delivery(f"s{i}", "spin") for i in range(3)])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes, lease_ms=300)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert {eid("s0"), eid("s1"), eid("s2")} <= set(fakes.renewed)
    assert fakes.renewed.count(eid("s2")) >= 2  # while it waited for a slot, then while it ran


@pytest.mark.trio
async def test_an_event_whose_lease_was_lost_before_it_started_is_left_to_its_new_holder(home: Home) -> None:
    fakes = Losing([delivery("s0", "spin"), delivery("s1", "spin"), delivery("late", "greet")],
                   lost={eid("late")})
    fakes.expected = 2
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes, lease_ms=300)
            await fakes.all_settled.wait()
            await service.shutdown()  # returns: nothing is left outstanding
            nursery.cancel_scope.cancel()
    assert set(fakes.settled) == {eid("s0"), eid("s1")} and eid("late") not in fakes.records


@pytest.mark.trio
async def test_one_tenant_never_fills_the_lease_window(home: Home) -> None:
    fakes = Fakes([delivery(f"s{i}", "spin") for i in range(8)])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes, max_concurrency=2, batch=8)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    leases = service.leases
    assert (leases.window, leases.per_tenant) == (16, 8)  # the other half is for other tenants
    assert fakes.leases[0]["per_tenant"] == 8 and fakes.leases[0]["held"] == {}
    later = [call["held"] for call in fakes.leases[1:]]
    assert {"acme": 8} in later  # it says what it holds, by tenant
    assert all(set(held) <= {"acme"} and held.get("acme", 0) <= 8 for held in later), later
    # Holding some, it never long-polls: its held counts would go stale while it waited.
    assert all(call["wait_ms"] == 0 for call in fakes.leases if call["held"])


def _started(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()


@pytest.mark.trio
async def test_a_free_slot_goes_to_the_tenant_with_fewer_runs(home: Home) -> None:
    spinners = [delivery(f"s{i}", "spin") for i in range(4)]  # 300 ms each, leased first
    quick = [delivery(f"q{i}", "greet", tenant="globex") for i in range(4)]
    fakes = Fakes(spinners + quick)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes, max_concurrency=2, batch=8)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    spun = sorted(_started(fakes.records[d["id"]]) for d in spinners)
    quick_started = [_started(fakes.records[d["id"]]) for d in quick]
    # One slot spins, the other serves globex at once: no globex event waits for a spinner.
    assert max(quick_started) < spun[0] + 0.25


class Arriving(Fakes):
    """A queue that hands out its pending deliveries in the given batches, one per lease call,
    the later ones 150 ms later (as if posted then: the first batch is running by then)."""

    def __init__(self, batches: list[list[dict[str, Any]]]) -> None:
        super().__init__([d for batch in batches for d in batch])
        self.batches = batches

    async def lease(self, request: queue_api.Lease) -> queue_api.Deliveries:
        self.leases.append(request.to_wire())
        if not self.batches:
            return queue_api.Deliveries(())
        if len(self.leases) > 1:
            await trio.sleep(0.15)
        taken = self.batches.pop(0)
        if not self.batches:
            self.all_leased.set()
        return queue_api.Deliveries(tuple(map(queue_api.Delivery.from_wire, taken)))


@pytest.mark.trio
async def test_a_tenant_arriving_behind_a_backlog_gets_the_next_free_slot(home: Home) -> None:
    """The newcomer's module compiles while every slot is busy: it must not wait for a slot."""
    spinners = [delivery(f"s{i}", "spin") for i in range(6)]  # three rounds of two slots
    quick = [delivery(f"q{i}", "greet", tenant="globex") for i in range(4)]
    fakes = Arriving([spinners, quick])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes, max_concurrency=2, batch=8)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    spun = sorted(_started(fakes.records[d["id"]]) for d in spinners)
    assert max(_started(fakes.records[d["id"]]) for d in quick) <= spun[3]  # not after the backlog


class SlowToRecover(Fakes):
    """A queue still recovering when the executor starts: its first release calls fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = 3

    async def release(self, request: queue_api.Release) -> queue_api.Released:
        if self.failures:
            self.failures -= 1
            raise Unavailable("queue recovering")
        self.log.append(("release", request.worker))
        return queue_api.Released(1)

    async def lease(self, request: queue_api.Lease) -> queue_api.Deliveries:
        self.log.append(("lease", request.worker))
        return await super().lease(request)


@pytest.mark.trio
async def test_a_restarted_executor_frees_its_predecessors_leases_before_leasing(home: Home) -> None:
    fakes = SlowToRecover([delivery("a1", "greet")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.failures == 0
    assert fakes.log[:2] == [("release", "executor-1"), ("lease", "executor-1")]
