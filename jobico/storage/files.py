"""Append-only files whose writes become durable together: one sync for many files.

A store appends to its files (``AppendFiles.append``: the bytes go in whole,
or what got written is cut back off), then makes them durable as a separate
step: ``plan`` takes every file written or cut since the last plan at its size
now, plus the folders that gained an entry (a new file's name must survive a
crash too); ``SyncPlan.run`` syncs them, in any thread, on duplicated
descriptors (so the store may go on appending, or remove a file, meanwhile);
``synced`` notes what it made durable. When a sync fails, ``rollback`` cuts
every file back to what earlier syncs made durable: after a failed fsync the
kernel may have dropped the unsynced pages while still showing them, so neither
retrying the fsync nor reading the file back tells what is on disk; cutting
them off does. What a store does with the writes it lost is its own policy
(``storage.commit``).

Not thread-safe: one thread at a time calls the methods of ``AppendFiles``;
only a ``SyncPlan`` runs elsewhere.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jobico.private import FILE_MODE

_FLAGS = os.O_RDWR | os.O_APPEND


@dataclass(eq=False, slots=True)
class AppendFile:
    """One open append-only file: bytes written to it, and bytes a sync made durable."""

    path: Path
    fd: int
    size: int
    synced: int  # made durable by a sync, or found on disk when opened

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)


@dataclass(slots=True)
class SyncPlan:
    """What one sync makes durable: each file up to its size in ``sizes``, and ``folders``;
    for a store that numbers its writes, every write up to ``ticket``."""

    ticket: int = 0
    fds: list[int] = field(default_factory=list)  # duplicated: files, then folders
    files: int = 0  # how many of ``fds`` are files (fdatasync) rather than folders (fsync)
    sizes: list[tuple[AppendFile, int]] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)

    def run(self) -> None:
        """Sync, then close the duplicated descriptors. Blocking, any thread; Errors: ``OSError``."""
        try:
            for index, fd in enumerate(self.fds):
                if index < self.files:
                    os.fdatasync(fd)  # the data and the size that reads it back: enough for appends
                else:
                    os.fsync(fd)
        finally:
            for fd in self.fds:
                os.close(fd)
            self.fds.clear()


class AppendFiles:
    """The append-only files of one store; ``fsync=False`` makes every write count as durable
    (for tests and for data a power cut may lose)."""

    def __init__(self, *, fsync: bool = True) -> None:
        self._fsync = fsync
        self._open: set[AppendFile] = set()
        self._dirty: set[AppendFile] = set()  # written or cut since the last plan
        self._folders: set[Path] = set()  # with a new entry no sync has made durable yet

    def open(self, path: Path, *, new: bool = False) -> AppendFile:
        """Open ``path`` for appending, creating it (and its folder) if missing, mode 0600.

        Errors: ``FileExistsError`` when ``new`` and it exists; ``OSError``.
        """
        try:
            fd = os.open(path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if new:
                raise
            fd = os.open(path, _FLAGS)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent.parent)
            return self.open(path, new=new)
        else:
            self._folders.add(path.parent)
        size = os.fstat(fd).st_size
        file = AppendFile(path, fd, size, size)
        self._open.add(file)
        return file

    def append(self, file: AppendFile, data: bytes) -> None:
        """Write ``data`` whole at the end of ``file``, or cut back what got written.

        Errors: ``OSError`` (disk full...); the file is then as it was before.
        """
        view = memoryview(data)
        try:
            while view:
                written = os.write(file.fd, view)
                if not written:
                    raise OSError(errno.ENOSPC, f"no byte written to {file.path}")
                view = view[written:]
        except OSError:
            os.ftruncate(file.fd, file.size)
            raise
        file.size += len(data)
        self._dirty.add(file)

    def cut(self, file: AppendFile, size: int) -> None:
        """Cut ``file`` to ``size`` bytes (a torn tail, writes a sync did not make durable)."""
        os.ftruncate(file.fd, size)
        file.size = size
        file.synced = min(file.synced, size)
        self._dirty.add(file)

    def plan(self, ticket: int = 0) -> SyncPlan:
        """Take what the next sync makes durable (the writes up to ``ticket``); ``run`` it,
        then report it to ``synced``."""
        plan = SyncPlan(ticket, sizes=[(f, f.size) for f in self._dirty], folders=set(self._folders))
        self._dirty.clear()
        if self._fsync:
            plan.fds = [os.dup(f.fd) for f, _ in plan.sizes]
            plan.files = len(plan.fds)
            plan.fds += [os.open(folder, os.O_RDONLY | os.O_DIRECTORY) for folder in plan.folders]
        return plan

    def synced(self, plan: SyncPlan) -> None:
        """Note what a plan that ran made durable."""
        for file, size in plan.sizes:
            file.synced = max(file.synced, size)
        self._folders -= plan.folders

    def pending(self, file: AppendFile) -> bool:
        """Whether ``file`` has writes no plan has taken yet."""
        return file in self._dirty

    def rollback(self) -> None:
        """After a failed sync: cut every file back to its durable size; the next plan syncs
        the cuts (and, again, the new entries of the failed one).

        Errors: ``OSError`` when a file cannot be cut (nothing then tells what is on disk).
        """
        for file in self._open:
            if file.size > file.synced:
                self.cut(file, file.synced)

    def close(self, file: AppendFile) -> None:
        """Stop appending to ``file``; what no plan took is never synced."""
        self._open.discard(file)
        self._dirty.discard(file)
        os.close(file.fd)

    def remove(self, file: AppendFile) -> None:
        """Close and delete ``file`` whole (a segment no longer needed)."""
        self.close(file)
        file.path.unlink(missing_ok=True)

    def close_all(self) -> None:
        for file in list(self._open):
            self.close(file)


def atomic_write(target: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``target`` with ``data`` (mode 0600) so readers, and a crash, see the old file
    or the new one, never a mix.

    A dot-named temp file in the same, existing folder (the repo's watcher ignores
    dot names) is written, synced, renamed over the target, and the folder synced so
    the rename survives a crash too; ``fsync=False`` (a queue with ``queue.fsync``
    off) skips both syncs, never the rename.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            out.write(data)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if fsync:
        folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def truncate(path: Path, size: int, *, fsync: bool = True) -> None:
    """Cut the file at ``path`` to ``size`` bytes, durably (a torn tail found on open)."""
    with path.open("r+b") as handle:
        handle.truncate(size)
        if fsync:
            os.fsync(handle.fileno())
