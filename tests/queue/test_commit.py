"""Group commit with the file backend: shared fsyncs, answers only after the sync, disk errors."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgpack
import pytest
import trio

from jobico.component import Context
from jobico.config import Config
from jobico.errors import Unavailable
from jobico.home import Home
from jobico.queue import commit as commit_module
from jobico.queue import records
from jobico.queue import segments as segments_module
from jobico.queue.api import Enqueue, EnqueueResult
from jobico.queue.commit import GroupCommit
from jobico.queue.service import QueueService
from jobico.queue.storage import FileBackend
from jobico.storage.frames import Frames
from tests.storage.sync import SyncGate

LOG = logging.getLogger("test.queue")


def open_queue(root: Path) -> FileBackend:
    q = FileBackend(root)
    q.recover()
    return q


@pytest.mark.trio
async def test_concurrent_enqueues_share_fsyncs_and_are_durable_when_released(tmp_path: Path) -> None:
    q = open_queue(tmp_path)
    group = GroupCommit(q, LOG)
    accepted: list[str] = []

    async def producer(n: int) -> None:
        result = q.enqueue("acme", "e", [b"%d" % n] * 4, None)
        await group.wait(result.commit)
        accepted.extend(result.ids)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            async with trio.open_nursery() as producers:
                for n in range(200):
                    producers.start_soon(producer, n)
            nursery.cancel_scope.cancel()
    assert len(accepted) == 800
    assert group.syncs < 200  # many producers per fsync
    again = open_queue(tmp_path)  # without close(): what was released is on disk
    assert sorted(d.id for d in again.lease("w", 1000, 30_000)) == sorted(accepted)
    q.close()
    again.close()


@pytest.mark.trio
async def test_a_failed_write_is_unavailable_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = open_queue(tmp_path)
    group = GroupCommit(q, LOG)
    monkeypatch.setattr(commit_module, "RETRY_AFTER_ERROR_S", 0.01)
    real_write = os.write
    failures = iter([True])

    def failing_write(fd: int, data: bytes) -> int:
        mine = os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path))
        if mine and next(failures, False):
            real_write(fd, data[: len(data) // 2])  # half a record reaches the file
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(segments_module.os, "write", failing_write)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(group.run)
            first = q.enqueue("acme", "e", [b"1"], None)
            with pytest.raises(Unavailable, match="No space"):
                await group.wait(first.commit)
            second = q.enqueue("acme", "e", [b"2"], None)
            await group.wait(second.commit)  # the retry wrote both, with no torn record between
            nursery.cancel_scope.cancel()
    again = open_queue(tmp_path)
    assert sorted(d.id for d in again.lease("w", 10, 30_000)) == first.ids + second.ids
    q.close()
    again.close()


@asynccontextmanager
async def queue_service(root: Path) -> AsyncIterator[QueueService]:
    """The queue component on a home at ``root``, serving until the block ends."""
    # no ctl serves here: the queue runs without package caps, as before ctl is up
    service = QueueService(Context(home=Home(root), config=Config(), name="queue", log=LOG))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            yield service
            await service.shutdown()


@pytest.mark.trio
async def test_an_enqueue_is_answered_only_after_its_fdatasync_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch)
    replies: list[EnqueueResult] = []
    async with queue_service(tmp_path) as service, trio.open_nursery() as nursery:

        async def enqueue() -> None:
            replies.append(await service.enqueue(Enqueue("acme", "e", (b"1",))))

        nursery.start_soon(enqueue)
        held = await trio.to_thread.run_sync(gate.waiting.wait, 10)
        assert held and replies == [], "the enqueue was answered without waiting for a sync"
        await trio.sleep(0.2)  # held at the gate: still no answer
        assert replies == []
        gate.release()
    assert len(replies) == 1 and any(path.endswith(".seg") for _, path, _ in gate.log)


@pytest.mark.trio
async def test_an_enqueue_reply_never_precedes_the_sync_covering_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False, slow_s=0.005)  # enqueues land mid-sync
    async with queue_service(tmp_path) as service, trio.open_nursery() as producers:

        async def enqueue(n: int) -> None:
            # arriving during syncs (one every ms), then each on an idle queue (30 ms apart)
            await trio.sleep(n / 1000 if n < 150 else 0.15 + (n - 150) * 0.03)
            items = [b"%d" % n] * (1 + n % 3)
            reply = await service.enqueue(Enqueue(f"t{n % 4}", "e", tuple(items)))
            gate.log.append(("reply", *reply.ids))

        for n in range(170):
            producers.start_soon(enqueue, n)
    ends = {}  # item id -> (segment, where its record ends)
    for segment in (tmp_path / ".jobico" / "queue" / "log").glob("*.seg"):
        for offset, length, record in Frames(segment.read_bytes(), records.MAX_BODY, msgpack.unpackb):
            if record[0] == records.ITEMS:
                ends.update((f"{n:016x}", (str(segment), offset + length)) for n, _ in record[7])
    durable: dict[str, int] = {}
    replied = 0
    for kind, *rest in gate.log:
        if kind == "synced":
            durable[rest[0]] = max(durable.get(rest[0], 0), int(rest[1]))
            continue
        for item in rest:
            path, end = ends[item]
            assert end <= durable.get(path, 0), f"{item} was acknowledged before its record was synced"
            replied += 1
    assert replied == sum(1 + n % 3 for n in range(170))
    assert sum(kind == "synced" for kind, *_ in gate.log) > 10  # many group commits, not one


@pytest.mark.trio
async def test_a_failed_sync_is_unavailable_and_the_queue_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's policy: the enqueues waiting on a failed sync get Unavailable; their records
    stay buffered and are written again, so a resend with the same key gets the same ids."""
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    monkeypatch.setattr(commit_module, "RETRY_AFTER_ERROR_S", 0.01)
    request = Enqueue("acme", "e", (b"1",), "k1")
    async with queue_service(tmp_path) as service:
        gate.fail_next = OSError(errno.EIO, "Input/output error")
        with pytest.raises(Unavailable, match="Input/output error"):
            await service.enqueue(request)
        again = await service.enqueue(request)
        assert again.duplicate
        other = await service.enqueue(Enqueue("acme", "e", (b"2",)))
    q = open_queue(tmp_path / ".jobico" / "queue")
    assert [d.id for d in q.lease("w", 10, 30_000)] == again.ids + other.ids
    q.close()


@pytest.mark.trio
async def test_a_backend_that_is_away_never_stops_the_sweeper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    async with queue_service(tmp_path) as service:
        real = service._backend.expire

        async def expire() -> int:  # Redis restarting: the first sweeps find it away
            calls.append("expire")
            if len(calls) <= 3:
                raise Unavailable("redis at redis://h:6379: connection refused")
            return await real()

        monkeypatch.setattr(service._backend, "expire", expire)
        while len(calls) < 5:  # noqa: ASYNC110 - sweeps run on their own timer
            await trio.sleep(0.05)
        reply = await service.enqueue(Enqueue("acme", "e", (b"1",)))
        assert len(reply.ids) == 1, "the queue still serves"
    warnings = [r for r in caplog.records if "cannot sweep expired leases" in r.getMessage()]
    assert len(warnings) == 1, "said once, not at every sweep"
