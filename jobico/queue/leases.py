"""Leases that outlive the queue process: a log of who holds which item until when.

A queue restart (a kill -9 included) must not hand an event that is running in
an executor to a second worker (SPEC §4: an event never runs twice at the same
time). So every lease and renewal is appended here with its holder and
deadline, and every release and expiry with the ids it freed; ``load`` reads it
back on start. The group commit's flusher writes it with the item log, but no
call waits for it: a lease is answered at once, so one granted in the last
moments before a crash may be lost, and that event may then run again (at
least once, as before).

Only a crash of the queue *process* needs this log: a power cut stops the
executors too, and each restarted executor releases its predecessor's leases.
The page cache survives the process, so the log is written without fsync, and
as a plain stream of msgpack arrays: a torn tail (a write cut by the kill) ends
the stream and is dropped. Appends never follow a torn tail, because each start
begins a new *generation* file holding the recovered leases, and a write that
fails is cut back off (``storage.files``); a generation is also started when the
current one has grown past ``ROTATE_BYTES``, and older generations are deleted
once the new one is written.

    leases/00000001.log   [LEASE, worker, deadline, lease_ms, [[id, attempt], ...]]
                          [FREE, [id, ...]]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgpack

from jobico.storage import segments
from jobico.storage.files import AppendFile, AppendFiles

LEASE = 1
FREE = 2
ROTATE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Lease:
    """One item's lease as last journaled."""

    worker: str
    deadline: float
    lease_ms: int
    attempt: int


LeaseGroup = tuple[str, float, int, list[tuple[int, int]]]  # worker, deadline, lease_ms, [(id, attempt)]


def load(folder: Path, log: logging.Logger) -> tuple[dict[int, Lease], int]:
    """The leases held when the log was last written, by item id, and the newest generation number."""
    leases: dict[int, Lease] = {}
    generations, _ = segments.listed(folder, suffix=_SUFFIX)
    for generation in generations:
        path = generation.path
        data = path.read_bytes()
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(data), 1))
        try:
            unpacker.feed(data)
            for record in unpacker:
                _apply(leases, record)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            log.warning("%s: unreadable lease record (%s); later records of this file ignored", path, exc)
    return leases, generations[-1].number if generations else 0


def _apply(leases: dict[int, Lease], record: object) -> None:
    if not isinstance(record, list) or not record:
        raise ValueError(f"not a record: {record!r:.80}")
    if record[0] == LEASE and len(record) == 5:
        _, worker, deadline, lease_ms, pairs = record
        for number, attempt in pairs:
            leases[number] = Lease(worker, deadline, lease_ms, attempt)
    elif record[0] == FREE and len(record) == 2:
        for number in record[1]:
            leases.pop(number, None)
    else:
        raise ValueError(f"unknown record kind {record[0]!r}")


_SUFFIX = ".log"


class LeaseLog:
    """Buffers lease records on the owner's thread; ``write`` (the flusher's thread) appends them."""

    def __init__(self, folder: Path, log: logging.Logger) -> None:
        self._folder = folder
        self._log = log
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._buf: list[tuple[int, bytes]] = []  # (generation, record)
        self._generation = 0
        self._size = 0  # bytes of the current generation, buffered or written
        self._drop_below = 0  # once the buffer is written, older generations than this go
        self._files = AppendFiles(fsync=False)  # a process crash keeps the page cache
        self._file: tuple[int, AppendFile] | None = None  # (generation, file) being appended to

    def leased(self, groups: Sequence[LeaseGroup]) -> None:
        with self._lock:
            for worker, deadline, lease_ms, pairs in groups:
                self._push(msgpack.packb([LEASE, worker, deadline, lease_ms, pairs]))

    def freed(self, ids: list[int]) -> None:
        with self._lock:
            self._push(msgpack.packb([FREE, ids]))

    def full(self) -> bool:
        """Whether the current generation is worth rewriting as a snapshot."""
        return self._size > ROTATE_BYTES

    def rotate(self, groups: Sequence[LeaseGroup], after: int = 0) -> None:
        """Start a new generation holding just ``groups`` (the leases held now).

        ``after``: the newest generation on disk, when starting up.
        """
        with self._lock:
            self._generation = max(self._generation, after) + 1
            self._size = 0
            self._drop_below = self._generation
            for worker, deadline, lease_ms, pairs in groups:
                self._push(msgpack.packb([LEASE, worker, deadline, lease_ms, pairs]))

    def _push(self, data: bytes) -> None:
        self._buf.append((self._generation, data))
        self._size += len(data)

    def pending(self) -> bool:
        return bool(self._buf) or bool(self._drop_below)

    def write(self) -> None:
        """Append what is buffered; after a rotation, delete the older generations.

        A disk error drops the records (logged): at worst those leases are not
        kept over a restart, as before this log existed; it never holds up the
        item log, which is written next.
        """
        with self._writing:
            with self._lock:
                batch, self._buf = self._buf, []
                drop_below, self._drop_below = self._drop_below, 0
            chunks: dict[int, list[bytes]] = {}
            for generation, data in batch:
                chunks.setdefault(generation, []).append(data)
            try:
                for generation, parts in chunks.items():
                    self._files.append(self._open(generation), b"".join(parts))
                if drop_below:  # only now: the new generation holds every lease
                    for old in segments.listed(self._folder, suffix=_SUFFIX)[0]:
                        if old.number < drop_below:
                            old.path.unlink()
            except OSError as exc:
                self._log.error("lease log %s: %s; these leases would not survive a restart",
                                self._folder, exc)

    def _open(self, generation: int) -> AppendFile:
        if self._file is not None and self._file[0] == generation:
            return self._file[1]
        file = self._files.open(self._folder / segments.name(generation, suffix=_SUFFIX))
        if self._file is not None:
            self._files.close(self._file[1])
        self._file = (generation, file)
        return file

    def close(self) -> None:
        self.write()
        with self._writing:
            self._files.close_all()
            self._file = None
