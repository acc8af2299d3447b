"""The file backend's journal: records buffered at once, written and synced by ``flush``.

Each change is encoded as a record (``log_records.py``) into a buffer on the
caller's thread; ``flush`` — run by the group commit's flusher thread
(``commit.py``) — writes and syncs a slice of that buffer, on the shared
primitives of ``storage.files``. The layout under the queue folder:

    log/00000001.seg      the shared log (``storage.segments``): ITEMS and DONE records of every tenant
    dead/<tenant>.log     the tenant's dead letters: DEAD and UNDEAD records
    keys/<hour>.log       idempotency keys by hour of acceptance (whole files expire)
    leases/00000001.log   the lease log (``leases.py``), written by the same flushes
    paused.json           the paused tenants

One shared log rather than one per tenant so that a commit is one write and
one fsync however many tenants it carries. A segment is deleted once it and
every older segment hold no live item and the records that finished them are
durable: deleting in order keeps every DONE record until the items it names
are gone. So that a few long-lived items (a paused tenant's, say) cannot pin
every later segment, each rotation offers the oldest segment's stragglers for
copying forward (``stragglers``): the owner re-journals them, which finishes
the old copies like a retry does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from jobico.errors import UserError
from jobico.queue import log_records as records
from jobico.queue.api import DeadLetter
from jobico.queue.keys import IDEMPOTENCY_TTL_S
from jobico.queue.leases import LeaseGroup, LeaseLog
from jobico.storage import segments
from jobico.storage.files import AppendFile, AppendFiles, atomic_write

SEGMENT_BYTES = 64 * 1024 * 1024
STRAGGLERS_MAX = 1024  # copy forward at most this many items to free the oldest segment
KEY_BUCKET_S = 3600
Target = tuple[str, object]  # ("log", segment) | ("dead", tenant) | ("keys", hour)


def segment_path(root: Path, number: int) -> Path:
    return root / "log" / segments.name(number)


def expired_key_files(root: Path, horizon: float) -> list[Path]:
    """Key files of hours before ``horizon`` (an hour number): all their keys are stale."""
    folder = root / "keys"
    if not folder.is_dir():
        return []
    return [p for p in folder.glob("*.log") if p.stem.isdigit() and int(p.stem) < horizon]


class FileJournal:
    """Buffers records, writes them on ``flush``, rotates and deletes log segments; holds the
    lease log too. The lease log is written first: a lease whose item record is not yet on
    disk names an attempt the item never reaches on recovery, and is ignored there.

    Appending methods run on the owner's thread; ``flush`` may run on another
    one at the same time (one flush at a time): a lock guards the buffer and
    the segment accounting, and only ``flush`` touches the files.
    """

    def __init__(
        self,
        root: Path,
        log: logging.Logger,
        *,
        fsync: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self._clock = clock
        self._swept_hour = 0.0
        self._fsync = fsync
        self._rollover = segments.Rollover(segment_bytes)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._buf: deque[tuple[int, Target, bytes]] = deque()
        self._seq = 0
        self._durable = 0
        self._files = AppendFiles(fsync=fsync)
        self._open: dict[Target, AppendFile] = {}
        self.leases = LeaseLog(root / "leases", log)
        # Segment accounting (all under _lock).
        self._segments: list[int] = []  # existing or buffered segments, oldest first
        self._seg = 0  # segment receiving appends
        self._seg_size = 0  # bytes appended to it so far, buffered or not
        self._seg_of: dict[int, int] = {}  # live item id -> its segment
        self._live: dict[int, int] = {}  # segment -> live items in it
        self._touched: dict[int, int] = {}  # segment -> last commit that changed it
        self._last_id = 0
        self._rotated = False
        self._closed = False

    def adopt(self, segments: list[int], seg_of: dict[int, int], last_id: int) -> None:
        """Take over the accounting of the segments found on start; appends go to a new one."""
        self._segments = sorted(segments)
        self._seg_of = dict(seg_of)
        self._live = {seg: 0 for seg in self._segments}
        for seg in seg_of.values():
            self._live[seg] += 1
        self._seg = (self._segments[-1] if self._segments else 0) + 1
        self._seg_size = 0
        self._last_id = last_id

    # -- appending (owner thread) ------------------------------------------------------------

    def items(self, batch: records.ItemsBatch) -> int:
        """Journal ``batch``: one ITEMS record, or several for a batch over the record limit.

        Errors: ``UserError`` when a record could not hold it (an item, or its key's ids,
        too big): raised before anything is journaled, so nothing is half-queued.
        """
        if batch.key is not None and not records.key_fits(batch.tenant, batch.key, len(batch.items)):
            raise UserError(f"{len(batch.items)} items under one idempotency key are more than a "
                            "queue record holds; send them in smaller batches")
        parts = records.items_frames(batch)
        with self._lock:
            seg_of = self._seg_of
            for data, items in parts:
                seg = self._log_segment(len(data))
                seq = self._push(("log", seg), data)
                for number, _ in items:
                    old = seg_of.get(number)
                    if old is not None:
                        self._finish(old, seq)
                    seg_of[number] = seg
                self._live[seg] += len(items)
            self._last_id = max(self._last_id, max(number for number, _ in batch.items))
            return seq

    def done(self, ids: list[int]) -> int:
        data = records.done_record(ids)
        with self._lock:
            seq = self._push(("log", self._log_segment(len(data))), data)
            for number in ids:
                old = self._seg_of.pop(number, None)
                if old is not None:
                    self._finish(old, seq)
            return seq

    def stragglers(self) -> list[int]:
        """After a rotation: the few live items holding the oldest segment, if worth moving.

        Checked once per rotation, as it scans every live item.
        """
        with self._lock:
            if not self._rotated:
                return []
            self._rotated = False
            oldest = self._segments[0]
            if len(self._segments) < 3 or not 0 < self._live[oldest] <= STRAGGLERS_MAX:
                return []
            return [number for number, seg in self._seg_of.items() if seg == oldest]

    def dead(self, tenant: str, letters: Sequence[DeadLetter]) -> int:
        data = b"".join(
            records.dead_record(int(d.id, 16), d.event, d.attempt, d.enqueued_at, d.dead_at, d.reason, d.body)
            for d in letters
        )
        with self._lock:
            return self._push(("dead", tenant), data)

    def undead(self, tenant: str, ids: list[int]) -> int:
        with self._lock:
            return self._push(("dead", tenant), records.undead_record(ids))

    def key(self, tenant: str, key: records.KeyField, ids: list[int], at: float) -> int:
        with self._lock:
            return self._push(("keys", int(at // KEY_BUCKET_S)), records.key_record(tenant, key, ids, at))

    def leased(self, groups: Sequence[LeaseGroup]) -> None:
        self.leases.leased(groups)

    def freed(self, ids: list[int]) -> None:
        self.leases.freed(ids)

    def leases_full(self) -> bool:
        return self.leases.full()

    def rotate_leases(self, groups: Sequence[LeaseGroup]) -> None:
        self.leases.rotate(groups)

    def paused(self, tenants: set[str]) -> None:
        """Rewritten whole and at once: it is tiny and rarely changes."""
        atomic_write(self.root / "paused.json", json.dumps(sorted(tenants)).encode(), fsync=self._fsync)

    def _log_segment(self, size: int) -> int:
        """The segment the next ``size`` bytes go to, starting a new one when full."""
        if self._rollover.due(self._seg_size, size):
            self._seg += 1
            self._seg_size = 0
            self._rotated = True
        if self._seg_size == 0:
            mark = records.mark_record(self._last_id)
            self._segments.append(self._seg)
            self._live[self._seg] = 0
            self._seg_size = len(mark)
            self._push(("log", self._seg), mark)
        self._seg_size += size
        return self._seg

    def _push(self, target: Target, data: bytes) -> int:
        self._seq += 1
        self._buf.append((self._seq, target, data))
        if target[0] == "log":
            self._touched[target[1]] = self._seq  # type: ignore[index]
        return self._seq

    def _finish(self, seg: int, seq: int) -> None:
        self._live[seg] -= 1
        self._touched[seg] = seq

    # -- flushing (flusher thread) -------------------------------------------------------------

    def pending(self) -> bool:
        return bool(self._buf) or self.leases.pending()

    def flush(self, max_records: int, max_bytes: int) -> int:
        """Write the lease log, then write and sync the oldest buffered records, up to about
        the given amounts.

        Returns the highest durable commit. Errors: ``OSError`` from the disk;
        the slice is then put back, the files cut back to their last sync, and the
        next flush writes it again (``storage.commit`` has the policy).
        """
        self.leases.write()
        with self._flushing:
            with self._lock:
                batch = [] if self._closed else self._take(max_records, max_bytes)
            if not batch:
                return self._durable
            self._write(batch)
            with self._lock:
                self._durable = batch[-1][0]
                victims = self._deletable()
            self._delete(victims)
            return self._durable

    def _take(self, max_records: int, max_bytes: int) -> list[tuple[int, Target, bytes]]:
        batch: list[tuple[int, Target, bytes]] = []
        size = 0
        while self._buf and (not batch or (len(batch) < max_records and size < max_bytes)):
            entry = self._buf.popleft()
            batch.append(entry)
            size += len(entry[2])
        return batch

    def _write(self, batch: list[tuple[int, Target, bytes]]) -> None:
        chunks: dict[Target, list[bytes]] = {}
        for _, target, data in batch:
            chunks.setdefault(target, []).append(data)
        try:
            for target, parts in chunks.items():
                self._files.append(self._file(target), b"".join(parts))
            plan = self._files.plan()
            plan.run()
        except OSError:
            with self._lock:
                self._buf.extendleft(reversed(batch))
            self._files.rollback()
            raise
        self._files.synced(plan)

    def _file(self, target: Target) -> AppendFile:
        file = self._open.get(target)
        if file is None:
            file = self._open[target] = self._files.open(self._path(target))
        return file

    def _drop(self, target: Target, path: Path) -> None:
        """Delete a whole file, open or not."""
        file = self._open.pop(target, None)
        if file is not None:
            self._files.close(file)
        path.unlink(missing_ok=True)

    def _path(self, target: Target) -> Path:
        kind, name = target
        if kind == "log":
            return segment_path(self.root, name)  # type: ignore[arg-type]
        return self.root / kind / f"{name}.log"

    def _deletable(self) -> list[int]:
        """Oldest segments that are finished and whose finishing records are durable."""
        victims = []
        for seg in self._segments:
            if seg >= self._seg or self._live[seg] or self._touched.get(seg, 0) > self._durable:
                break
            victims.append(seg)
        for seg in victims:
            self._segments.remove(seg)
            del self._live[seg]
            self._touched.pop(seg, None)
        return victims

    def _delete(self, numbers: list[int]) -> None:
        for seg in numbers:
            self._drop(("log", seg), segment_path(self.root, seg))
        self._expire_keys()

    def _expire_keys(self) -> None:
        """Once an hour, delete the key files whose every key is past 24 h."""
        horizon = (self._clock() - IDEMPOTENCY_TTL_S) // KEY_BUCKET_S
        if horizon == self._swept_hour:
            return
        self._swept_hour = horizon
        for path in expired_key_files(self.root, horizon):
            self._drop(("keys", int(path.stem)), path)

    def close(self) -> None:
        """Flush everything, then close the files; later appends are never written."""
        while self.pending() and not self._closed:
            self.flush(1 << 30, 1 << 30)
        with self._flushing:
            self._closed = True
            self._files.close_all()
            self._open.clear()
        self.leases.close()
