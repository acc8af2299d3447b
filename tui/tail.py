"""Where a followed tail continues after its stream broke. Pure, so it is tested
without a screen ("load older" needs nothing here: the recorder pages with ``before``).

Records reach the recorder in the order runs *end*, but are filtered and paged by
``started_at``. A follow started again therefore asks for a backlog reaching
``margin_s`` before the newest start seen (a run that ended during the break may
have started before the last record shown) and drops what was already shown, by id.
"""

from __future__ import annotations

import heapq
from dataclasses import replace

from jobico.recorder.records import iso_utc
from tui.source import Record, RecordFilter
from tui.times import epoch

RESUME_MARGIN_S = 60.0  # longer than the default run timeout (2 s) and any append retry
SEEN_MAX = 50_000  # ids remembered (~5 MB); beyond, the resume point moves up
BACKLOG = 10_000  # the most a recorder `follow` replays (recorder MAX_LIMIT)
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect number ``attempt`` (1, 2, ...)."""
    return BACKOFF_S[min(max(attempt, 1), len(BACKOFF_S)) - 1]


class TailCursor:
    """The records shown lately, and the filter that resumes after them.

    Every record shown goes through ``fresh``. ``resume`` narrows a filter to start
    ``margin_s`` before the newest start seen (never before ``opened``, the wall time
    the list was first queried, minus the margin): each record the backlog repeats
    started after that point, so its id is still remembered and ``fresh`` drops it.
    """

    def __init__(self, opened: float, margin_s: float = RESUME_MARGIN_S,
                 keep: int = SEEN_MAX) -> None:
        self._margin = margin_s
        self._keep = keep
        self._newest = opened
        self._floor = opened - margin_s
        self._seen: set[str] = set()
        self._by_start: list[tuple[float, str]] = []

    def fresh(self, record: Record) -> bool:
        """True the first time ``record`` is seen (then it is remembered), False after."""
        if record.id in self._seen:
            return False
        started = epoch(record.started_at) or 0.0
        self._newest = max(self._newest, started)
        self._floor = max(self._floor, self._newest - self._margin)
        self._seen.add(record.id)
        heapq.heappush(self._by_start, (started, record.id))
        self._forget()
        return True

    def _forget(self) -> None:
        """Drop ids that started before the resume point; past ``keep`` ids, raise it."""
        heap = self._by_start
        while heap and (heap[0][0] < self._floor or len(heap) > self._keep):
            started, rid = heapq.heappop(heap)
            self._seen.discard(rid)
            if started >= self._floor:  # dropped for room: resume no earlier than the rest
                self._floor = heap[0][0] if heap else started

    @property
    def since(self) -> float:
        """Where a resumed follow starts (epoch seconds of ``started_at``, inclusive)."""
        return self._floor

    def resume(self, filt: RecordFilter) -> RecordFilter:
        """``filt`` starting at the resume point (or later, if the filter itself does)."""
        own = epoch(filt.since)
        if own is not None and own >= self._floor:
            return filt
        return replace(filt, since=iso_utc(self._floor))

