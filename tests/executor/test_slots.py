"""Fair run slots (SPEC §4 Fairness) and the hand-off of finished runs, without wasm."""

from __future__ import annotations

import threading

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from jobico.executor.lru import LRU
from jobico.executor.slots import POST_EVERY, Going, Outbox, Slots, next_tenant


def test_a_free_slot_goes_to_the_waiting_tenant_with_the_fewest_runs() -> None:
    assert next_tenant(["spinner", "quiet"], {"spinner": 3, "quiet": 1}, None) == "quiet"
    assert next_tenant(["spinner"], {"spinner": 4}, "quiet") == "spinner"  # nobody else waits


def test_ties_go_round_robin() -> None:
    waiting = ["c", "a", "b"]
    picks = []
    last = None
    for _ in range(4):
        last = next_tenant(waiting, {}, last)
        picks.append(last)
    assert picks == ["a", "b", "c", "a"]


def test_a_deep_backlog_does_not_take_the_slots_another_tenant_waits_for() -> None:
    slots: Slots[int] = Slots(4)
    assert slots.put(("spinner", f"s{i}", i) for i in range(60)) == 4
    running = [slots.next(None) for _ in range(4)]  # four threads, all on the spinner
    assert [t for t, _ in running if t] == ["spinner"] * 4  # type: ignore[misc]
    assert slots.put(("quiet", f"q{i}", i) for i in range(20)) == 0  # every thread is busy
    # As each spinner ends, its thread takes a quiet event until the quiet tenant has its share.
    assert slots.next("spinner") == ("quiet", 0)
    assert slots.next("spinner") == ("quiet", 1)
    assert slots.running() == {"spinner": 2, "quiet": 2}
    assert slots.next("quiet") == ("quiet", 2)  # quiet's own run ended: the tie goes round
    assert slots.next("spinner")[0] == "spinner"  # type: ignore[index]


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 3)), max_size=60), st.integers(1, 6))
def test_whoever_gets_a_slot_is_under_its_share_while_others_wait(
    steps: list[tuple[str, int]], size: int
) -> None:
    """Random arrivals and completions: a slot never goes to a tenant at or over its share
    (slots / waiting tenants), nor to one with more runs going than another waiting tenant."""
    slots: Slots[int] = Slots(size)
    threads: list[str] = []  # the tenant each live thread is running
    waiting: dict[str, int] = {}
    running: dict[str, int] = {}
    keys = iter(range(10**6))

    def turn(finished: str | None) -> None:
        if finished is not None:
            running[finished] -= 1
        before = {t: running.get(t, 0) for t, n in waiting.items() if n}
        taken = slots.next(finished)
        if taken is None:
            assert not before
            return
        got = taken[0]
        assert before[got] * len(before) < size
        assert before[got] == min(before.values())
        waiting[got] -= 1
        running[got] = running.get(got, 0) + 1
        threads.append(got)

    for tenant, finishing in steps:
        started = slots.put([(tenant, str(next(keys)), 0), (tenant, str(next(keys)), 0)])
        waiting[tenant] = waiting.get(tenant, 0) + 2
        assert len(threads) + started <= size
        for _ in range(started):
            turn(None)
        for _ in range(min(finishing, len(threads))):
            turn(threads.pop(0))
    assert sum(running.values()) == len(threads) <= size


def test_waiting_work_can_be_withdrawn_but_not_running_work() -> None:
    slots: Slots[int] = Slots(1)
    slots.put([("a", "a1", 1), ("a", "a2", 2), ("b", "b1", 3)])
    assert slots.next(None) == ("a", 1)
    assert sorted(slots.discard({"a1", "a2", "b1"})) == ["a2", "b1"]
    assert slots.next("a") is None
    assert slots.put([("a", "a3", 3)]) == 1  # the exited thread is replaced


def test_work_still_on_its_way_can_be_withdrawn() -> None:
    # A lease lost while the event's module compiles: the event must not run here.
    slots: Slots[int] = Slots(1)
    slots.expect(["a1", "a2"])
    assert slots.discard({"a1", "x"}) == ["a1"]
    assert slots.admit(["a1", "a2"]) == {"a1"}
    assert slots.discard({"a1"}) == []  # admitted: no longer expected, nor withdrawn twice
    assert slots.admit(["a1"]) == set()


@pytest.mark.trio
async def test_finished_runs_reach_the_loop_in_groups_and_soon() -> None:
    groups: list[list[int]] = []
    arrived = {1: trio.Event(), 1 + POST_EVERY * 3: trio.Event()}

    def deliver(items: list[int]) -> None:
        groups.append(items)
        total = sum(map(len, groups))
        if total in arrived:
            arrived[total].set()

    outbox: Outbox[int] = Outbox(trio.lowlevel.current_trio_token(), deliver)

    def worker(count: int) -> None:
        for i in range(count):
            outbox.put(i)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.run)
            await trio.to_thread.run_sync(worker, 1)
            await arrived[1].wait()  # alone, it still arrives (after a few milliseconds)
            thread = threading.Thread(target=worker, args=(POST_EVERY * 3,))
            thread.start()
            thread.join()
            await arrived[1 + POST_EVERY * 3].wait()
            nursery.cancel_scope.cancel()
    assert groups[0] == [0]
    assert len(groups) <= 1 + 3 * 2  # grouped, not one wake-up per run


def test_lru_keeps_the_most_recently_used() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)  # b is the least recently used now
    assert (cache.get("b"), cache.get("a"), cache.get("c"), len(cache)) == (None, 1, 3, 2)


def test_going_lists_what_each_thread_runs_until_it_ends() -> None:
    going: Going[str] = Going()
    started, ended, done = threading.Barrier(3), threading.Barrier(3), threading.Event()
    moments: dict[str, float] = {}

    def run(item: str) -> None:
        moments[item] = going.start(item)
        started.wait()
        done.wait()
        going.end()
        ended.wait()

    threads = [threading.Thread(target=run, args=(item,)) for item in ("a", "b")]
    for thread in threads:
        thread.start()
    started.wait()
    assert sorted(going.now()) == sorted(moments.items())  # one entry per thread, its start
    done.set()
    ended.wait()
    for thread in threads:
        thread.join()
    assert going.now() == []
