"""A failed fsync is Unavailable, not a dead recorder, and the recorder's part of the policy:
what was not durable is forgotten, so sending it again stores it. That an append is answered
only once fsync'd is tested for both stores in ``tests/storage/test_commit.py``."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from jobico.errors import Unavailable
from jobico.recorder import api
from jobico.recorder.records import Filter
from jobico.recorder.store import Store
from jobico.rpc.api import EMPTY
from tests.recorder.conftest import rec, running
from tests.storage.sync import SyncGate


@pytest.mark.trio
async def test_a_failed_fsync_is_unavailable_and_the_recorder_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    now = time.time()
    async with running(tmp_path) as service:
        assert (await service.append(api.Append([rec("a", at=now)]))).to_wire() == {
            "stored": [True], "refused": []}
        gate.fail_next = OSError(errno.EIO, "Input/output error")
        with pytest.raises(Unavailable, match="Input/output error"):
            await service.append(api.Append([rec("b", at=now + 1)]))
        assert [r.id for r in (await service.query(api.Query())).items] == ["a-1"]
        assert (await service.ok_ids(api.EventIds(("b",)))).ids == ()  # forgotten, not "stored"
        # the executor sends it again: stored now, not refused as a duplicate
        assert (await service.append(api.Append([rec("b", at=now + 1)]))).to_wire() == {
            "stored": [True], "refused": []}
        assert [r.id for r in (await service.query(api.Query())).items] == ["b-1", "a-1"]
        assert dict((await service.stats(EMPTY)).tenants["acme"].counts) == {"ok": 2}
    reopened = Store(tmp_path / ".jobico" / "recorder")
    try:  # on disk: each record once, nothing torn or damaged between them
        assert [r["id"] for r in reopened.query(Filter(), 10)] == ["b-1", "a-1"]
        assert reopened.stats()["damaged"] == 0
    finally:
        reopened.close()


def test_a_store_sync_that_fails_forgets_what_it_did_not_make_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    store = Store(tmp_path / "rec", segment_bytes=1)  # each append starts a new segment
    store.append([rec("a")])
    size = store.stats()["bytes"]
    gate.fail_next = OSError(errno.EIO, "Input/output error")
    with pytest.raises(OSError, match="Input/output"):
        store.append([rec("b"), rec("c")])
    assert store.stats()["bytes"] == size and store.ok_ids(["b", "c"]) == set()
    assert store.append([rec("b")]) == [True]
    store.close()


@pytest.mark.trio
async def test_a_full_disk_is_unavailable_and_nothing_half_written_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    failures = iter([True])

    def full_disk(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)) and next(failures, False):
            real_write(fd, bytes(data[: len(data) // 2]))  # half a record reaches the file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    now = time.time()
    async with running(tmp_path) as service:
        with pytest.raises(Unavailable, match="No space left"):
            await service.append(api.Append([rec("a", at=now)]))
        assert (await service.append(api.Append([rec("a", at=now)]))).to_wire() == {
            "stored": [True], "refused": []}
    reopened = Store(tmp_path / ".jobico" / "recorder")
    try:
        assert [r["id"] for r in reopened.query(Filter(), 10)] == ["a-1"]
        assert reopened.stats()["damaged"] == 0
    finally:
        reopened.close()
