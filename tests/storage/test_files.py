"""Append-only files: whole appends or none, one sync plan for many files, cut back after a failed sync."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jobico.storage import files
from jobico.storage.files import AppendFiles
from tests.storage.sync import SyncGate


def synced_paths(gate: SyncGate) -> list[str]:
    return sorted(path for _, path, _ in gate.log)


def test_one_plan_syncs_every_file_written_and_the_folder_of_each_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    (tmp_path / "old.log").write_bytes(b"old")
    store = AppendFiles()
    old, new = store.open(tmp_path / "old.log"), store.open(tmp_path / "sub" / "new.log")
    store.append(old, b"1")
    store.append(new, b"22")
    plan = store.plan(ticket=7)
    assert plan.ticket == 7 and (old.synced, new.synced) == (3, 0)  # nothing durable before it ran
    plan.run()
    store.synced(plan)
    assert (old.size, old.synced, new.size, new.synced) == (4, 4, 2, 2)
    # the new folder's entry in tmp_path and the new file's entry in it, not old.log's folder twice
    assert synced_paths(gate) == sorted([str(tmp_path / "old.log"), str(tmp_path / "sub" / "new.log"),
                                         str(tmp_path), str(tmp_path / "sub")])
    gate.log.clear()
    store.plan().run()  # nothing written since: nothing to sync
    assert gate.log == []
    store.close_all()


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = AppendFiles()
    file = store.open(tmp_path / "a.log")
    store.append(file, b"before")
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        store.append(file, b"x" * 100)
    monkeypatch.undo()
    assert (tmp_path / "a.log").read_bytes() == b"before" and file.size == 6
    store.append(file, b"after")
    assert file.read(0, 11) == b"beforeafter"
    store.close_all()


def test_after_a_failed_sync_every_file_is_cut_back_to_its_last_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    store = AppendFiles()
    a = store.open(tmp_path / "a.log")
    store.append(a, b"durable")
    plan = store.plan()
    plan.run()
    store.synced(plan)
    b = store.open(tmp_path / "b.log")  # a new entry in the folder: synced with the next plan
    store.append(a, b" lost")
    store.append(b, b"lost too")
    gate.fail_next = OSError(errno.EIO, "Input/output error")
    with pytest.raises(OSError, match="Input/output"):
        store.plan().run()
    store.rollback()
    assert (tmp_path / "a.log").read_bytes() == b"durable" and (tmp_path / "b.log").read_bytes() == b""
    gate.log.clear()
    plan = store.plan()  # the cuts are synced, and the folder entry the failed plan did not make durable
    plan.run()
    store.synced(plan)
    assert synced_paths(gate) == sorted([str(tmp_path / "a.log"), str(tmp_path / "b.log"), str(tmp_path)])
    store.close_all()


def test_a_plan_runs_on_its_own_descriptors_while_files_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    store = AppendFiles()
    file = store.open(tmp_path / "a.log")
    store.append(file, b"x")
    assert store.pending(file)
    plan = store.plan()
    assert not store.pending(file)
    store.remove(file)  # as retention may do while a sync runs in another thread
    plan.run()
    assert not (tmp_path / "a.log").exists() and len(gate.log) == 2  # the file, then its folder
    store.close_all()


def test_without_fsync_nothing_is_synced_and_writes_count_as_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SyncGate(tmp_path, monkeypatch, shut=False)
    store = AppendFiles(fsync=False)
    file = store.open(tmp_path / "a.log")
    store.append(file, b"abc")
    plan = store.plan()
    plan.run()
    store.synced(plan)
    assert gate.log == [] and file.synced == 3
    store.close_all()


def test_a_new_file_is_new(tmp_path: Path) -> None:
    store = AppendFiles()
    store.open(tmp_path / "a.seg", new=True)
    with pytest.raises(FileExistsError):
        store.open(tmp_path / "a.seg", new=True)
    assert oct((tmp_path / "a.seg").stat().st_mode & 0o777) == "0o600"
    store.close_all()


def test_atomic_write_and_truncate(tmp_path: Path) -> None:
    path = tmp_path / "paused.json"
    files.atomic_write(path, b"[1]")
    files.atomic_write(path, b"[2, 3]", fsync=False)
    assert path.read_bytes() == b"[2, 3]" and [p.name for p in tmp_path.iterdir()] == ["paused.json"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    files.truncate(path, 2, fsync=False)
    assert path.read_bytes() == b"[2"
