"""Segment files of the recorder: ``<root>/<number>-<created>.seg``, append-only.

The I/O half of the store, on the shared primitives (``storage.segments`` for
names, ``storage.files`` for appends and syncs). Writes go to the active
segment at once (one ``write`` per batch); durability is a separate step,
``plan_sync`` then ``SyncPlan.run`` (safe in a worker thread) then ``synced``,
or ``rollback`` when the sync failed. Sealed segments stay open for reads until
retention removes them whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobico.storage import segments
from jobico.storage.files import AppendFile, AppendFiles, SyncPlan

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Segment:
    """One open segment file and what the store learned of its records."""

    number: int
    created: float
    file: AppendFile
    records: int = 0
    newest: float = float("-inf")

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def size(self) -> int:
        return self.file.size

    def note(self, records: int, newest: float) -> None:
        """Count ``records`` more, the newest of them started at ``newest``."""
        self.records += records
        self.newest = max(self.newest, newest)

    def read(self, offset: int, length: int) -> bytes:
        return self.file.read(offset, length)


class SegmentDir:
    """The segment files of one recorder folder."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._files = AppendFiles()
        self.segments: dict[int, Segment] = {}
        self.active: Segment | None = None
        self._last_number = 0  # numbers only grow, even once retention removed every segment

    def load(self) -> Iterator[tuple[Segment, bytes, bool]]:
        """Open every segment in order, yielding it with its bytes and whether it is the
        last (which becomes the active one)."""
        found, strays = segments.listed(self.root, stamped=True)
        for path in strays:
            log.warning("%s: not a recorder segment; ignored", path)
        for numbered in found:
            file = self._files.open(numbered.path)
            segment = Segment(numbered.number, float(numbered.created or 0), file)
            self.segments[numbered.number] = segment
            self.reserve(numbered.number)
            self.active = segment
            yield segment, numbered.path.read_bytes(), numbered is found[-1]

    def create(self, now: float) -> Segment:
        """Start a new active segment; its directory entry is made durable by the next sync."""
        number = self._last_number + 1
        file = self._files.open(self.root / segments.name(number, now), new=True)
        segment = Segment(number, float(int(now)), file)
        self.segments[number] = segment
        self.reserve(number)
        self.active = segment
        return segment

    def reserve(self, number: int) -> None:
        """Never ``create`` a segment numbered ``number`` or less (positions saved elsewhere,
        the store's counters, name it)."""
        self._last_number = max(self._last_number, number)

    def write(self, data: bytes) -> None:
        """Append ``data`` whole to the active segment, or cut back what got written.

        Errors: ``OSError`` (disk full...); the segment is then as it was before.
        """
        assert self.active is not None, "create() a segment first"
        self._files.append(self.active.file, data)

    def truncate(self, segment: Segment, size: int) -> None:
        """Cut ``segment`` to ``size`` bytes (a torn tail)."""
        self._files.cut(segment.file, size)

    def plan_sync(self, ticket: int) -> SyncPlan:
        return self._files.plan(ticket)

    def synced(self, plan: SyncPlan) -> None:
        self._files.synced(plan)

    def rollback(self) -> None:
        """Cut every segment back to its durable size (after a failed sync).

        Errors: ``OSError`` when a segment cannot be cut.
        """
        self._files.rollback()

    def pending(self, segment: Segment) -> bool:
        """True while ``segment`` has writes no sync plan has taken yet."""
        return self._files.pending(segment.file)

    def remove(self, segment: Segment) -> None:
        """Delete a whole segment (retention); callers never remove a ``pending`` one."""
        del self.segments[segment.number]
        if self.active is segment:
            self.active = None
        self._files.remove(segment.file)

    def size(self) -> int:
        return sum(s.size for s in self.segments.values())

    def close(self) -> None:
        self._files.close_all()
        self.segments.clear()
        self.active = None
