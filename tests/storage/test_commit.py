"""Group commit: answers only after the sync covering them, and one policy when a sync fails.

The engine on a stand-in store first (syncs held, failed, cancelled at will),
then both real stores through their RPC handlers, with every fsync of their
files held at a gate (``sync.SyncGate``): a store that answered before its
sync, or never synced, fails here.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from jobico.errors import Unavailable
from jobico.storage import commit
from jobico.storage.commit import GroupCommit
from tests.storage.stores import StoreKind
from tests.storage.sync import SyncGate

LOG = logging.getLogger("test.storage")


class Disk:
    """A store stand-in: each write is a ticket; each sync may be held at ``gate``, or ``fail``."""

    def __init__(self) -> None:
        self.written = 0
        self.taken = 0  # by the last sync
        self.durable = 0
        self.gate = threading.Event()
        self.gate.set()
        self.running = threading.Event()  # a sync is (or was) in the flusher thread
        self.fail: OSError | None = None
        self.failed_at = 0.0
        self.syncs: list[tuple[float, int]] = []  # (when it began, the ticket it covers)
        self.delivered = trio.Event()  # set by each ``synced``
        self.abandoned = 0

    def write(self) -> int:
        self.written += 1
        return self.written

    def pending(self) -> bool:
        return self.written > self.taken

    def sync(self) -> int:
        ticket = self.taken = self.written
        self.syncs.append((time.monotonic(), ticket))
        self.running.set()
        if not self.gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        failure, self.fail = self.fail, None
        if failure is not None:
            self.failed_at = time.monotonic()
            raise failure
        return ticket

    def synced(self, result: int) -> int:
        self.durable = max(self.durable, result)
        self.delivered.set()
        return self.durable

    def abandon(self) -> str:
        self.abandoned += 1
        self.written = self.taken = self.durable  # forgotten, as the recorder does
        return "; write again"


async def held(event: threading.Event) -> None:
    assert await trio.to_thread.run_sync(event.wait, 10), "no sync started"


@pytest.mark.trio
async def test_a_waiter_is_released_only_once_its_sync_ran() -> None:
    disk = Disk()
    disk.gate.clear()
    group = GroupCommit(disk, "disk", LOG)
    released: list[int] = []

    async def writer() -> None:
        ticket = disk.write()
        await group.wait(ticket)
        released.append(ticket)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            async with trio.open_nursery() as writers:
                writers.start_soon(writer)
                await held(disk.running)
                await trio.sleep(0.1)
                assert released == [] and disk.durable == 0
                disk.gate.set()
            nursery.cancel_scope.cancel()
    assert released == [1] and group.syncs == 1


@pytest.mark.trio
async def test_writes_during_a_sync_share_the_next_one() -> None:
    disk = Disk()
    disk.gate.clear()
    group = GroupCommit(disk, "disk", LOG)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            async with trio.open_nursery() as writers:
                writers.start_soon(group.wait, disk.write())
                await held(disk.running)
                for _ in range(10):
                    writers.start_soon(group.wait, disk.write())
                await trio.sleep(0.05)
                disk.gate.set()
            nursery.cancel_scope.cancel()
    assert [ticket for _, ticket in disk.syncs] == [1, 11]


@pytest.mark.trio
async def test_a_sync_starts_while_the_trio_thread_is_busy() -> None:
    """The flusher is a thread of its own: the disk works while requests are being handled."""
    disk = Disk()
    group = GroupCommit(disk, "disk", LOG)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            await trio.testing.wait_all_tasks_blocked()  # the flusher thread is up
            ticket = disk.write()
            group.kick()
            busy_until = time.monotonic() + 0.5
            while time.monotonic() < busy_until and not disk.syncs:
                time.sleep(0.001)  # noqa: ASYNC251 - the trio thread is busy, on purpose
            assert disk.syncs, "no sync began while the trio thread was busy"
            await group.wait(ticket)
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_failed_sync_fails_every_waiter_and_the_next_sync_comes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commit, "RETRY_AFTER_ERROR_S", 0.3)
    disk = Disk()
    disk.gate.clear()
    disk.fail = OSError(errno.EIO, "Input/output error")
    group = GroupCommit(disk, "disk", LOG)
    errors: list[str] = []

    async def writer() -> None:
        with pytest.raises(Unavailable) as caught:
            await group.wait(disk.write())
        errors.append(str(caught.value))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            async with trio.open_nursery() as writers:
                writers.start_soon(writer)
                await held(disk.running)
                writers.start_soon(writer)  # written during the failing sync: not durable either
                await trio.sleep(0.05)
                disk.gate.set()
            assert errors == ["disk storage failed: [Errno 5] Input/output error; write again"] * 2
            assert disk.abandoned == 1
            await group.wait(disk.write())  # the store keeps serving
            nursery.cancel_scope.cancel()
    (_, _), (again, _) = disk.syncs
    assert again - disk.failed_at >= 0.3  # a failing disk is not hammered


@pytest.mark.trio
async def test_a_sync_in_progress_is_delivered_after_cancellation_and_drain_syncs_the_rest() -> None:
    disk = Disk()
    disk.gate.clear()
    group = GroupCommit(disk, "disk", LOG)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            nursery.start_soon(group.wait, disk.write())
            await held(disk.running)
            nursery.cancel_scope.cancel()
        disk.write()  # after the flusher stopped
        disk.gate.set()
        await disk.delivered.wait()  # the sync that was running, accounted all the same
        assert (group.durable, disk.written) == (1, 2)
        await group.drain()
    assert group.durable == 2 and group.syncs == 2


@pytest.mark.trio
async def test_what_was_durable_on_open_needs_no_sync() -> None:
    disk = Disk()
    disk.written = disk.taken = disk.durable = 5
    group = GroupCommit(disk, "disk", LOG, durable=5)
    with trio.fail_after(1):
        await group.wait(5)  # no run(): nothing would release it
    assert disk.syncs == []


# -- both stores, through their RPC handlers -------------------------------------------------------


@pytest.mark.trio
async def test_a_write_is_answered_only_after_its_sync_returned(
    kind: StoreKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch)
    replies: list[list[str]] = []
    async with kind.serving(tmp_path) as store, trio.open_nursery() as nursery:

        async def put() -> None:
            replies.append(await store.put(1))

        nursery.start_soon(put)
        waiting = await trio.to_thread.run_sync(gate.waiting.wait, 10)
        assert waiting and replies == [], "the write was answered without waiting for a sync"
        await trio.sleep(0.2)  # held at the gate: still no answer
        assert replies == []
        gate.release()
    assert len(replies) == 1 and any(path.endswith(".seg") for _, path, _ in gate.log)


@pytest.mark.trio
async def test_a_reply_never_precedes_the_sync_covering_its_record(
    kind: StoreKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False, slow_s=0.005)  # writes land mid-sync
    async with kind.serving(tmp_path) as store, trio.open_nursery() as writers:

        async def put(n: int) -> None:
            # arriving during syncs (one every ms), then each on an idle store (30 ms apart)
            await trio.sleep(n / 1000 if n < 150 else 0.15 + (n - 150) * 0.03)
            gate.log.append(("reply", *await store.put(n)))

        for n in range(170):
            writers.start_soon(put, n)
    ends = kind.ends(tmp_path)
    durable: dict[str, int] = {}
    replied = 0
    for entry, *rest in gate.log:
        if entry == "synced":
            durable[rest[0]] = max(durable.get(rest[0], 0), int(rest[1]))
            continue
        for key in rest:
            path, end = ends[key]
            assert end <= durable.get(path, 0), f"{key} was acknowledged before its record was synced"
            replied += 1
    assert replied == sum(1 + n % 3 for n in range(170))
    assert sum(entry == "synced" for entry, *_ in gate.log) > 10  # many group commits, not one


@pytest.mark.trio
async def test_a_failed_sync_is_unavailable_and_the_store_keeps_serving(
    kind: StoreKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What becomes of the failed write is each store's policy (their own suites test it)."""
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    monkeypatch.setattr(commit, "RETRY_AFTER_ERROR_S", 0.01)
    async with kind.serving(tmp_path) as store:
        before = await store.put(1)
        gate.fail_next = OSError(errno.EIO, "Input/output error")
        with pytest.raises(Unavailable, match=f"{kind.name} storage failed: .*Input/output error"):
            await store.put(2)
        after = await store.put(3)
    found, damaged = kind.reopened(tmp_path)
    assert damaged == [] and all(found.count(key) == 1 for key in before + after)
