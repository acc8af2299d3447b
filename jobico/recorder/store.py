"""The record store: segments on disk plus the index rebuilt from them on open.

Synchronous and single-threaded (the service calls it from the trio thread);
only ``SyncPlan.run`` may go to a worker thread. Writing and making durable
are two steps so that many concurrent appends share one fsync:
``write`` returns a ticket, and a record is durable once ``durable >= ticket``.
``append`` does both for callers that do not batch (tests, benchmarks).

Queries, ``get`` and follow only see durable records; idempotency sees every
written one, so two concurrent appends of the same run store it once. When an
fsync fails, ``abandon`` forgets every write not yet durable and cuts it off
the files, so its appender can send it again (``storage.commit`` has the policy).

On open, a damaged record in the middle of a segment is skipped and reported
(logged as an error, counted in ``stats``), never a reason to drop the records
after it; a torn tail of the last segment is cut (``storage.recovery``).

The metrics counters (``stats.py``) count each record once, when it becomes
durable, and never count down. ``save_counters`` keeps them in ``counters.json``
with the position (segment, offset) after the last record counted; on open only
the records past that position are counted on top, so a restart, even after
``kill -9``, neither loses nor repeats a count. Without that file (a new home, or
one from before it existed) the retained records are counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from jobico.errors import NotFound, UserError
from jobico.recorder import frames
from jobico.recorder.index import Entry, Index
from jobico.recorder.records import Filter, normalize, parse_time
from jobico.recorder.segments import Segment, SegmentDir
from jobico.recorder.stats import Stats
from jobico.storage.files import SyncPlan, atomic_write
from jobico.storage.frames import Damage
from jobico.storage.recovery import Recovery
from jobico.storage.segments import Rollover

DAY = 86400.0
REPLY_MAX_BYTES = 32 * 1024 * 1024  # half the RPC message limit: room for msgpack overhead
COUNTERS_FILE = "counters.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Written:
    stored: list[bool]  # per record: False for a duplicate run or a refused record
    refused: list[tuple[int, str]]  # (position, reason) of each record refused on its own
    ticket: int  # durable once Store.durable >= ticket


def _framed(raw: object, position: int, now: float) -> tuple[dict[str, Any], float, bytes]:
    """A checked record, its start time and its frame.

    Errors: ``UserError`` naming the record: malformed, a value msgpack cannot carry,
    or over ``caps.MAX_RECORD_BYTES`` encoded.
    """
    record, started = normalize(raw, position, now)
    try:
        return record, started, frames.encode(record)
    except (TypeError, ValueError, UserError) as exc:  # a value msgpack cannot carry; too big
        raise UserError(f"record {position}: {exc}") from None


class Store:
    """Append-only, idempotent execution records with newest-first queries."""

    def __init__(self, root: Path, *, retention_days: float = 7.0,
                 segment_bytes: int = 32 * 1024 * 1024, segment_age_s: float = DAY) -> None:
        """Open ``root`` and rebuild the index, cutting a torn tail off the last segment.

        Errors: ``OSError`` when the folder cannot be read or written.
        """
        self.retention_days = retention_days
        self._rollover = Rollover(segment_bytes, segment_age_s)
        self._dir = SegmentDir(root)
        self._index = Index()
        self.counters_path = root / COUNTERS_FILE
        self._stats, self._counted = _saved_counters(self.counters_path)
        self._saved = self._counted
        self._dir.reserve(self._counted[0])  # a segment number counted is never used again
        self._seq = 0
        self.durable = 0
        self._planned = 0  # the ticket of the last sync plan (written before it is in it)
        self._pending: list[tuple[Entry, dict[str, Any]]] = []
        self._recovery = Recovery(log)
        for segment, data, last in self._dir.load():
            self._load(segment, data, last)
        self._index.sort()
        self.durable = self._planned = self._seq

    def __len__(self) -> int:
        return len(self._index)

    @property
    def written(self) -> int:
        """The ticket of the last write: durable once ``durable`` reaches it."""
        return self._seq

    @property
    def damaged(self) -> list[tuple[Path, Damage]]:
        """The damaged records skipped on open, by file (for stats)."""
        return self._recovery.damaged

    def _load(self, segment: Segment, data: bytes, last: bool) -> None:
        """Index the records of one segment; only the last one may have a torn tail to cut."""
        loaded: list[Entry] = []
        uncounted: list[tuple[Entry, dict[str, Any]]] = []
        cut = partial(self._dir.truncate, segment) if last else None
        for offset, length, record in self._recovery.records(segment.path, frames.scan(data), cut):
            try:
                started = parse_time(record["started_at"], "started_at")
                admitted = self._index.admits(record)
                entry = Entry.of(record, started, self._seq + 1, segment.number, offset, length)
            except (KeyError, TypeError, UserError) as exc:  # not a record this version writes
                damage = Damage(offset, length, f"not an execution record ({exc})")
                self._recovery.damage(segment.path, damage)
                continue
            if admitted:
                self._seq += 1
                self._index.add(entry)
                loaded.append(entry)
                if (segment.number, offset) >= self._counted:
                    uncounted.append((entry, record))
        self._index.place(loaded, keep_sorted=False)
        self._count(uncounted)
        self._note(loaded, segment)

    def _count(self, runs: list[tuple[Entry, dict[str, Any]]]) -> None:
        """Count durable records in the metrics, in the order they were written (a record
        rolled back is never counted)."""
        add = self._stats.add
        for entry, record in runs:
            add(entry.tenant, entry.status, entry.attempt, entry.duration_ms, entry.started,
                _seconds(record.get("accepted_at")))
        if runs:
            last = runs[-1][0]
            self._counted = (last.segment, last.offset + last.length)

    @staticmethod
    def _note(entries: list[Entry], segment: Segment) -> None:
        """Tell retention about records written to ``segment``, as soon as they are written."""
        segment.note(len(entries), max((e.started for e in entries), default=segment.newest))

    def write(self, records: Iterable[object], now: float | None = None) -> Written:
        """Check every record, then write the new ones in one write (not yet durable).

        A record that is malformed or over ``caps.MAX_RECORD_BYTES`` encoded is
        refused on its own (listed in ``refused``); the others are written.
        Errors: ``OSError`` from the disk (nothing is written).
        """
        now = time.time() if now is None else now
        checked: list[tuple[int, dict[str, Any], float, bytes]] = []
        refused: list[tuple[int, str]] = []
        for i, raw in enumerate(records):
            try:
                checked.append((i, *_framed(raw, i, now)))
            except UserError as exc:
                refused.append((i, str(exc)))
        stored = [False] * (len(checked) + len(refused))
        chunks: list[bytes] = []
        entries: list[Entry] = []
        kept: list[dict[str, Any]] = []
        segment: Segment | None = None
        offset = 0
        for k, (i, record, started, frame) in enumerate(checked):
            if not self._index.admits(record):
                continue
            if segment is None:
                segment = self._segment_for(now, sum(len(c[3]) for c in checked[k:]))
                offset = segment.size
            stored[i] = True
            self._seq += 1
            entry = Entry.of(record, started, self._seq, segment.number, offset, len(frame))
            self._index.add(entry)  # now, so a duplicate later in this batch is refused
            entries.append(entry)
            kept.append(record)
            chunks.append(frame)
            offset += len(frame)
        if segment is not None:
            self._index.place(entries)
            try:
                self._dir.write(b"".join(chunks))
            except OSError:
                failed = {id(entry) for entry in entries}
                self._index.discard(lambda e: id(e) in failed)
                raise
            self._note(entries, segment)
            self._pending.extend(zip(entries, kept, strict=True))
        return Written(stored, refused, self._seq)

    def _segment_for(self, now: float, adding: int) -> Segment:
        """The segment a batch of ``adding`` bytes (at most) goes to: a batch is never split."""
        active = self._dir.active
        if active is None or self._rollover.due(active.size, adding, active.created, now):
            return self._dir.create(now)
        return active

    def pending(self) -> bool:
        """Whether some write is in no sync plan yet (any thread may ask)."""
        return self._seq > self._planned

    def begin_sync(self) -> SyncPlan:
        """Take what has been written so far; run the plan (any thread), then ``end_sync``."""
        self._planned = self._seq
        return self._dir.plan_sync(self._seq)

    def end_sync(self, plan: SyncPlan) -> list[tuple[Entry, dict[str, Any]]]:
        """Mark ``plan`` durable; returns the records that just became durable, in order."""
        self._dir.synced(plan)
        self.durable = max(self.durable, plan.ticket)
        cut = 0
        while cut < len(self._pending) and self._pending[cut][0].seq <= self.durable:
            cut += 1
        done, self._pending = self._pending[:cut], self._pending[cut:]
        self._count(done)
        return done

    def abandon(self) -> int:
        """After a failed sync: forget every write not yet durable and cut it off the
        files, so that sending it again stores it. Returns how many records that was.

        Errors: ``OSError`` when a file cannot be cut (the store is then unusable).
        """
        lost = {id(entry) for entry, _ in self._pending}
        self._pending.clear()
        if lost:
            self._index.discard(lambda e: id(e) in lost)
        self._dir.rollback()
        self._planned = self.durable  # the cuts are for the next plan to sync
        return len(lost)

    def sync(self) -> list[tuple[Entry, dict[str, Any]]]:
        """Make everything written durable, blocking.

        Errors: ``OSError``; what was not durable is then ``abandon``ed.
        """
        plan = self.begin_sync()
        try:
            plan.run()
        except OSError:
            self.abandon()
            raise
        return self.end_sync(plan)

    def append(self, records: Iterable[object]) -> list[bool]:
        """``write`` then ``sync``: returns once the records are on disk."""
        written = self.write(records)
        self.sync()
        return written.stored

    def query(self, where: Filter, limit: int, before: str | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` durable records matching ``where``, newest ``started_at`` first;
        with ``before`` (a record id), only the records after that one in this order, so
        the last id of a page continues it exactly (SPEC §5 ``--before``).

        Stops early past ``REPLY_MAX_BYTES`` of records (always returning at least
        one), so a reply fits an RPC message even when results are a MiB each.
        Errors: ``NotFound`` naming ``before`` when no durable record has that id
        (never stored, or dropped by retention).
        """
        anchor = None if before is None else self._durable_entry(before, "before: ")
        found, total = [], 0
        for entry in self._index.query(where, limit, self.durable, anchor):
            total += entry.length
            if found and total > REPLY_MAX_BYTES:
                break
            found.append(self._read(entry))
        return found

    def get(self, record_id: str) -> dict[str, Any]:
        """Errors: ``NotFound`` naming the id."""
        return self._read(self._durable_entry(record_id))

    def _durable_entry(self, record_id: str, field: str = "") -> Entry:
        """Errors: ``NotFound`` naming the id (after ``field``, when given)."""
        entry = self._index.get(record_id)
        if entry is None or entry.seq > self.durable:
            raise NotFound(f"{field}no execution record {record_id!r}")
        return entry

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        """Every durable run of one event by attempt (empty when unknown)."""
        return [self._read(e) for e in self._index.attempts(event_id) if e.seq <= self.durable]

    def ok_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` already have an ``ok`` record (written, durable or not)."""
        return self._index.ok_ids(event_ids)

    def _read(self, entry: Entry) -> dict[str, Any]:
        segment = self._dir.segments[entry.segment]
        record = frames.decode(segment.read(entry.offset, entry.length))
        record.setdefault("accepted_at", None)  # records written before SPEC §5 named it
        return record

    def sweep(self, now: float | None = None) -> int:
        """Drop whole segments whose newest record is older than ``retention_days``.

        Returns how many were dropped; a segment with unsynced writes is kept.
        """
        cutoff = (time.time() if now is None else now) - self.retention_days * DAY
        old = [s for s in self._dir.segments.values()
               if s.newest < cutoff and not self._dir.pending(s)]
        if old:
            numbers = {s.number for s in old}
            self._index.discard(lambda e: e.segment in numbers)
            for segment in old:
                log.info("retention: removing %s (%d records)", segment.path, segment.records)
                self._dir.remove(segment)
        return len(old)

    def stats(self) -> dict[str, Any]:
        return {"records": len(self._index), "segments": len(self._dir.segments),
                "bytes": self._dir.size(), "damaged": len(self.damaged),
                "damaged_bytes": sum(d.length for _, d in self.damaged), **self._stats.as_dict()}

    def counters_to_save(self) -> tuple[tuple[int, int], bytes] | None:
        """The counters as ``save_counters`` writes them, with the position they cover;
        None when nothing was counted since the last save. Cheap: call it on the store's
        thread, write the bytes on any."""
        if self._counted == self._saved:
            return None
        doc = {"through": list(self._counted), **self._stats.as_dict()}
        return self._counted, json.dumps(doc, separators=(",", ":")).encode()

    def counters_saved(self, through: tuple[int, int]) -> None:
        self._saved = max(self._saved, through)

    def save_counters(self) -> None:
        """Write ``counters.json`` (atomically) if anything was counted since the last save.

        Errors: ``OSError`` from the disk.
        """
        pending = self.counters_to_save()
        if pending is not None:
            atomic_write(self.counters_path, pending[1])
            self.counters_saved(pending[0])

    def close(self) -> None:
        """Sync what is written, save the counters and release every file.

        Errors: ``OSError`` from the sync or the save.
        """
        try:
            self.sync()
            self.save_counters()
        finally:
            self._dir.close()


def _seconds(value: object) -> float | None:
    """Epoch seconds of a stored time; None when absent (or unreadable: only metrics use it)."""
    if value is None:
        return None
    try:
        return parse_time(value, "accepted_at")
    except UserError:
        return None


def _saved_counters(path: Path) -> tuple[Stats, tuple[int, int]]:
    """The counters ``save_counters`` left and the position they cover; fresh ones counting
    from the first record when there is no such file or it cannot be read (said in the log)."""
    try:
        doc = json.loads(path.read_bytes())
        segment, offset = doc["through"]
        return Stats.from_dict(doc), (int(segment), int(offset))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: cannot read the saved metrics counters (%s); counting the retained "
                    "records again", path, exc)
    return Stats(), (0, 0)

