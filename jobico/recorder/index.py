"""The in-memory index over stored records: by id, event id, tenant, event, status and time.

Pure: it holds small ``Entry`` summaries and where each record sits on disk,
never the records themselves (results and logs can be a MiB each). Every list
is kept sorted by ``started`` (ties in ``seq`` order) so a query walks it newest
first and stops at ``limit``; that order, ``(started, seq)``, is also where a query
given a ``before`` entry resumes, so pages never skip or repeat records that started
in the same microsecond. It also decides idempotency: a record is admitted
unless its id or its (event id, attempt) is already stored, or it is a second ``ok``.

Per record it is on the append path and on the start-up rebuild, so adding is
cheap: entries are placed a batch at a time (grouped per list, then appended or
merged at the end of each), and the few names records repeat (tenant, package,
event, status) are interned so a million entries do not each carry their own copies.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from jobico.recorder.records import Filter


@dataclass(slots=True, eq=False)
class Entry:
    """What the index knows of one record, and where its frame is on disk."""

    started: float
    seq: int
    id: str
    event_id: str
    tenant: str
    package: str
    event: str
    attempt: int
    status: str
    reason: str | None
    duration_ms: float
    segment: int
    offset: int
    length: int

    @classmethod
    def of(cls, record: Mapping[str, Any], started: float, seq: int,
           segment: int, offset: int, length: int) -> Entry:
        """The entry of a checked record (``normalize``d, or as stored: ``package`` a string)."""
        intern = sys.intern
        return cls(started, seq, record["id"], record["event_id"], intern(record["tenant"]),
                   intern(record["package"]), intern(record["event"]), record["attempt"],
                   intern(record["status"]), record["reason"], record["duration_ms"],
                   segment, offset, length)

    def searchable(self) -> str:
        """The text a ``text`` filter looks in, lower-cased."""
        fields = (self.id, self.event_id, self.tenant, self.package, self.event,
                  self.status, self.reason or "")
        return " ".join(fields).lower()


_started = attrgetter("started")
_order = attrgetter("started", "seq")  # every list's order, and where a page resumes
_TAIL = 4096  # newest entries a batch may be re-sorted with
_NEAR_END = 256


def _after(entries: list[Entry], started: float) -> int:
    """The index after every entry started no later than ``started``; looks near the end
    first, where a new batch nearly always lands (8 probes instead of ~20)."""
    low = len(entries) - _NEAR_END
    if low <= 0 or entries[low].started > started:
        low = 0
    return bisect_right(entries, started, low, key=_started)


def _merge(entries: list[Entry], new: list[Entry]) -> None:
    """Merge ``new`` (each with a higher ``seq`` than any in ``entries``) into ``entries``,
    keeping ``started`` order and, among equal times, ``seq`` order.

    Runs end in another order than they start, so a batch often overlaps the newest
    entries: those are re-sorted together with it (one C-level Timsort of two runs)
    rather than placed one bisect at a time. A run that started long ago (a timeout)
    is placed on its own, so it does not drag a long tail into the sort.
    """
    new = sorted(new, key=_started) if len(new) > 1 else new
    if not entries or entries[-1].started <= new[0].started:
        entries += new
        return
    first = 0
    while first < len(new):
        cut = _after(entries, new[first].started)
        if len(entries) - cut <= _TAIL:
            break
        entries.insert(cut, new[first])
        first += 1
    else:
        return
    tail = entries[cut:]
    tail += new[first:]
    tail.sort(key=_started)
    entries[cut:] = tail


class Index:
    """Lookups and newest-first queries over entries; not thread-safe (one trio thread)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._by_id: dict[str, Entry] = {}
        self._by_event_id: dict[str, tuple[Entry, ...]] = {}  # a tuple: most events run once
        self._all: list[Entry] = []
        self._by_tenant: dict[str, list[Entry]] = {}
        self._by_event: dict[str, list[Entry]] = {}
        self._by_status: dict[str, list[Entry]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def admits(self, record: Mapping[str, Any]) -> bool:
        """False when storing ``record`` would record a run twice (see module doc)."""
        if record["id"] in self._by_id:
            return False
        runs = self._by_event_id.get(record["event_id"])
        if runs:
            attempt, ok = record["attempt"], record["status"] == "ok"
            for run in runs:
                if run.attempt == attempt or (ok and run.status == "ok"):
                    return False
        return True

    def add(self, entry: Entry) -> None:
        """Make ``entry`` known to ``admits``, ``get`` and ``attempts`` at once, so a duplicate
        later in the same batch is refused; ``place`` then puts the batch in time order."""
        self._by_id[entry.id] = entry
        runs = self._by_event_id.get(entry.event_id)
        self._by_event_id[entry.event_id] = (entry,) if runs is None else (*runs, entry)

    def place(self, entries: list[Entry], *, keep_sorted: bool = True) -> None:
        """Put ``add``ed entries (a batch, newer ``seq`` than any placed) in the time-ordered
        lists queries walk; a bulk load passes ``keep_sorted=False`` then calls ``sort()``."""
        tenants: defaultdict[str, list[Entry]] = defaultdict(list)
        events: defaultdict[str, list[Entry]] = defaultdict(list)
        statuses: defaultdict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            tenants[entry.tenant].append(entry)
            events[entry.event].append(entry)
            statuses[entry.status].append(entry)
        merge = _merge if keep_sorted else list.extend
        if entries:
            merge(self._all, entries)
        for grouped, lists in ((tenants, self._by_tenant), (events, self._by_event),
                               (statuses, self._by_status)):
            for key, new in grouped.items():
                merge(lists.setdefault(key, []), new)

    def sort(self) -> None:
        """Restore time order after adds with ``keep_sorted=False`` (one Timsort per list;
        stable, so entries started at the same moment stay in ``seq`` order)."""
        self._all.sort(key=_started)
        for lists in (self._by_tenant, self._by_event, self._by_status):
            for sorted_list in lists.values():
                sorted_list.sort(key=_started)

    def get(self, record_id: str) -> Entry | None:
        return self._by_id.get(record_id)

    def attempts(self, event_id: str) -> list[Entry]:
        """Every stored run of one event, by attempt."""
        return sorted(self._by_event_id.get(event_id, ()), key=lambda e: (e.attempt, e.seq))

    def ok_ids(self, event_ids: Iterable[str]) -> set[str]:
        runs = self._by_event_id
        return {event_id for event_id in event_ids
                if any(run.status == "ok" for run in runs.get(event_id, ()))}

    def query(self, where: Filter, limit: int, max_seq: int | None = None,
              before: Entry | None = None) -> list[Entry]:
        """Up to ``limit`` matching entries, newest ``started`` first (ties newest ``seq``
        first), only those after ``before`` in that order when given.

        Walks the shortest list among those the filter names, from ``until`` (or
        ``before``, whichever comes first) down to ``since``; entries with
        ``seq > max_seq`` (not yet durable) are skipped. ``before`` need not match
        the filter: it is a place in the order, found by its ``(started, seq)``.
        """
        candidates = self._candidates(where)
        end = len(candidates)
        if where.until is not None:
            end = bisect_left(candidates, where.until, key=_started)
        if before is not None:
            end = min(end, bisect_left(candidates, _order(before), key=_order))
        found: list[Entry] = []
        for i in range(end - 1, -1, -1):
            if len(found) >= limit:
                break
            entry = candidates[i]
            if where.since is not None and entry.started < where.since:
                break
            if (max_seq is None or entry.seq <= max_seq) and where.matches(entry):
                found.append(entry)
        return found

    def _candidates(self, where: Filter) -> list[Entry]:
        lists = [self._all]
        if where.tenant is not None:
            lists.append(self._by_tenant.get(where.tenant, []))
        if where.event is not None:
            lists.append(self._by_event.get(where.event, []))
        if where.statuses is not None and len(where.statuses) == 1:
            (status,) = where.statuses
            lists.append(self._by_status.get(status, []))
        return min(lists, key=len)

    def discard(self, drop: Callable[[Entry], bool]) -> list[Entry]:
        """Remove every entry for which ``drop`` is true (retention, failed writes); O(n)."""
        kept: list[Entry] = []
        removed: list[Entry] = []
        for entry in self._all:
            (removed if drop(entry) else kept).append(entry)
        if removed:
            self._reset()
            for entry in kept:
                self.add(entry)
            self.place(kept)
        return removed
