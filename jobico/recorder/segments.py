"""Segment files of the recorder: ``<root>/<number>-<created>.seg``, append-only.

The I/O half of the store. Writes go to the active segment at the end (one
``write`` per batch); durability is a separate step, ``plan_sync`` then
``SyncPlan.run`` (safe in a worker thread: it fsyncs duplicated descriptors,
so the store may rotate or drop segments meanwhile), then ``synced`` — or,
when the fsync failed, ``rollback``: every segment is cut back to what earlier
syncs made durable. After a failed fsync the kernel may have dropped the
unsynced pages while still showing them, so neither retrying the fsync nor
reading the file back tells what is on disk; cutting them off does. Sealed
segments stay open for reads until retention removes them whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_NAME = re.compile(r"^(\d{8})-(\d+)\.seg$")


@dataclass(eq=False, slots=True)
class Segment:
    """One open segment file and what the store learned of its records."""

    number: int
    path: Path
    created: float
    fd: int
    size: int
    synced: int = 0  # bytes made durable by a sync (or found on disk)
    records: int = 0
    newest: float = float("-inf")

    def note(self, records: int, newest: float) -> None:
        """Count ``records`` more, the newest of them started at ``newest``."""
        self.records += records
        self.newest = max(self.newest, newest)

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)


@dataclass(slots=True)
class SyncPlan:
    """What one fsync round makes durable: every write up to ``ticket``, that is
    each segment up to its size in ``sizes``."""

    ticket: int
    fds: list[int] = field(default_factory=list)
    sizes: list[tuple[Segment, int]] = field(default_factory=list)

    def run(self) -> None:
        """fsync and close the duplicated descriptors. Blocking; Errors: ``OSError``."""
        try:
            for fd in self.fds:
                os.fsync(fd)
        finally:
            for fd in self.fds:
                os.close(fd)
            self.fds.clear()


class SegmentDir:
    """The segment files of one recorder folder."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        self.segments: dict[int, Segment] = {}
        self.active: Segment | None = None
        self._last_number = 0  # numbers only grow, even once retention removed every segment
        self._dirty: set[Segment] = set()  # written (or cut) since the last plan
        self._dir_dirty = False  # a segment was created since the last plan

    def load(self) -> Iterator[tuple[Segment, bytes, bool]]:
        """Open every segment in order, yielding it with its bytes and whether it is the
        last (which becomes the active one)."""
        numbered = []
        for path in self.root.iterdir():
            match = _NAME.match(path.name)
            if match:
                numbered.append((int(match[1]), int(match[2]), path))
        numbered.sort()
        for number, created, path in numbered:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            data = path.read_bytes()
            segment = Segment(number, path, float(created), fd, len(data), len(data))
            self.segments[number] = segment
            self.reserve(number)
            self.active = segment
            yield segment, data, number == numbered[-1][0]

    def create(self, now: float) -> Segment:
        """Start a new active segment; its directory entry is made durable by the next sync."""
        number = self._last_number + 1
        path = self.root / f"{number:08d}-{int(now)}.seg"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        segment = Segment(number, path, float(int(now)), fd, 0)
        self.segments[number] = segment
        self.reserve(number)
        self.active = segment
        self._dir_dirty = True
        return segment

    def reserve(self, number: int) -> None:
        """Never ``create`` a segment numbered ``number`` or less (positions saved elsewhere,
        the store's counters, name it)."""
        self._last_number = max(self._last_number, number)

    def write(self, data: bytes) -> None:
        """Append ``data`` whole to the active segment, or cut back what got written.

        Errors: ``OSError`` (disk full...); the segment is then as it was before.
        """
        segment = self.active
        assert segment is not None, "create() a segment first"
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(segment.fd, view):]
        except OSError:
            os.ftruncate(segment.fd, segment.size)
            raise
        segment.size += len(data)
        self._dirty.add(segment)

    def truncate(self, segment: Segment, size: int) -> None:
        """Cut ``segment`` to ``size`` bytes (a torn tail, unsynced writes)."""
        os.ftruncate(segment.fd, size)
        segment.size = size
        segment.synced = min(segment.synced, size)
        self._dirty.add(segment)

    def plan_sync(self, ticket: int) -> SyncPlan:
        plan = SyncPlan(ticket, [os.dup(s.fd) for s in self._dirty],
                        [(s, s.size) for s in self._dirty])
        if self._dir_dirty:
            plan.fds.append(os.dup(self._dir_fd))
        self._dirty.clear()
        self._dir_dirty = False
        return plan

    def synced(self, plan: SyncPlan) -> None:
        """Note what a plan that ran made durable."""
        for segment, size in plan.sizes:
            segment.synced = max(segment.synced, size)

    def rollback(self) -> None:
        """Cut every segment back to its durable size (after a failed fsync); the cuts
        and any new segment's directory entry are synced with the next plan.

        Errors: ``OSError`` when a segment cannot be cut.
        """
        for segment in self.segments.values():
            if segment.size > segment.synced:
                self.truncate(segment, segment.synced)
        self._dir_dirty = True

    def pending(self, segment: Segment) -> bool:
        """True while ``segment`` has writes no sync plan has taken yet."""
        return segment in self._dirty

    def remove(self, segment: Segment) -> None:
        """Delete a whole segment (retention); callers never remove a ``pending`` one."""
        del self.segments[segment.number]
        self._dirty.discard(segment)
        if self.active is segment:
            self.active = None
        os.close(segment.fd)
        segment.path.unlink(missing_ok=True)

    def size(self) -> int:
        return sum(s.size for s in self.segments.values())

    def close(self) -> None:
        for segment in self.segments.values():
            os.close(segment.fd)
        self.segments.clear()
        self.active = None
        os.close(self._dir_fd)
