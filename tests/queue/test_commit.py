"""Group commit with the file backend: shared fsyncs, disk errors, and the queue's part of the
failed-sync policy (the records stay buffered). That an answer waits for its sync is tested for
both stores in ``tests/storage/test_commit.py``."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
import trio

from jobico.errors import Unavailable
from jobico.queue.api import Enqueue
from jobico.queue.commit import GroupCommit
from jobico.queue.file_backend import FileBackend
from jobico.storage import commit as commit_module
from jobico.storage import files as files_module
from tests.storage.stores import queue_service
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

    monkeypatch.setattr(files_module.os, "write", failing_write)
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
