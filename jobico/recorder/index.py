"""The in-memory index over stored records: by id, event id, tenant, event, status and time.

Pure: it holds small ``Entry`` summaries and where each record sits on disk,
never the records themselves (results and logs can be a MiB each). Every list
is kept sorted by ``(started, seq)`` so a query walks it newest first and stops
at ``limit``. It also decides idempotency: a record is admitted unless its id
or its (event id, attempt) is already stored, or it is a second ``ok``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
        return cls(started, seq, record["id"], record["event_id"], record["tenant"],
                   record["package"], record["event"], record["attempt"], record["status"],
                   record["reason"], record["duration_ms"], segment, offset, length)

    def searchable(self) -> str:
        """The text a ``text`` filter looks in, lower-cased."""
        fields = (self.id, self.event_id, self.tenant, self.package, self.event,
                  self.status, self.reason or "")
        return " ".join(fields).lower()


def _key(entry: Entry) -> tuple[float, int]:
    return (entry.started, entry.seq)


class Index:
    """Lookups and newest-first queries over entries; not thread-safe (one trio thread)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._by_id: dict[str, Entry] = {}
        self._by_event_id: dict[str, list[Entry]] = {}
        self._ok: set[str] = set()
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
        event_id = record["event_id"]
        if record["status"] == "ok" and event_id in self._ok:
            return False
        return all(e.attempt != record["attempt"] for e in self._by_event_id.get(event_id, ()))

    def add(self, entry: Entry, *, keep_sorted: bool = True) -> None:
        """Index ``entry``; a bulk load passes ``keep_sorted=False`` then calls ``sort()``."""
        self._by_id[entry.id] = entry
        self._by_event_id.setdefault(entry.event_id, []).append(entry)
        if entry.status == "ok":
            self._ok.add(entry.event_id)
        for sorted_list in (self._all,
                            self._by_tenant.setdefault(entry.tenant, []),
                            self._by_event.setdefault(entry.event, []),
                            self._by_status.setdefault(entry.status, [])):
            if not keep_sorted or not sorted_list or _key(sorted_list[-1]) <= _key(entry):
                sorted_list.append(entry)
            else:  # out of order by a little (runs end in another order than they start)
                insort(sorted_list, entry, key=_key)

    def sort(self) -> None:
        """Restore time order after adds with ``keep_sorted=False`` (one Timsort per list)."""
        self._all.sort(key=_key)
        for lists in (self._by_tenant, self._by_event, self._by_status):
            for sorted_list in lists.values():
                sorted_list.sort(key=_key)

    def get(self, record_id: str) -> Entry | None:
        return self._by_id.get(record_id)

    def attempts(self, event_id: str) -> list[Entry]:
        """Every stored run of one event, by attempt."""
        return sorted(self._by_event_id.get(event_id, ()), key=lambda e: (e.attempt, e.seq))

    def ok_ids(self, event_ids: Iterable[str]) -> set[str]:
        return {event_id for event_id in event_ids if event_id in self._ok}

    def query(self, where: Filter, limit: int, max_seq: int | None = None) -> list[Entry]:
        """Up to ``limit`` matching entries, newest ``started`` first.

        Walks the shortest list among those the filter names, from ``until``
        down to ``since``; entries with ``seq > max_seq`` (not yet durable) are skipped.
        """
        candidates = self._candidates(where)
        end = len(candidates)
        if where.until is not None:
            end = bisect_left(candidates, (where.until, -1), key=_key)
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
        return removed
