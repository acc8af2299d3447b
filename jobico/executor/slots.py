"""Everything the executor's worker threads and its trio loop share: the one hand-off.

``Slots`` takes runs from the loop to the threads, ``Outbox`` brings finished runs
back, and ``Going`` says what each thread runs now (for ``status``). Nothing else
in the executor is touched by both sides: the loop's own state (leases held,
runs to report, caches) lives in the modules that own it, and a worker thread
only reads what it was handed.

SPEC §4 Fairness: when several tenants have events waiting, free run slots go
to them in turn, so each of N waiting tenants gets at least 1/N of the slots
and a tenant whose guests spin never holds the slots another is waiting for.
The executor may hold many leased events of one tenant (its lease window), so
the rule is applied here, at the moment a slot frees: ``next_tenant`` gives it
to the waiting tenant with the fewest runs going. Since the runs going add up
to at most the slots, that tenant is never over its share (slots / waiting
tenants) while another one waits.

``Slots`` is the thread-safe queue behind it. Worker threads take one run after
another from it (one thread hand-off per thread, not per event) and exit once
nothing has waited for ``linger`` seconds; ``put`` wakes waiting threads and says
how many more to start. Starting a thread from trio costs a few hundred
microseconds of trio machinery; when threads exited as soon as a lease's runs
were done, restarting them for the next lease was ~10 % of the executor's CPU
(py-spy, batches of 100). ``Outbox`` carries
finished runs back to the trio loop: one wake-up per group of runs, and never
later than ``POST_AFTER_S`` after a run ends (a quick run's result does not wait
behind a slow run on the same thread).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

import trio

W = TypeVar("W")
T = TypeVar("T")

POST_EVERY = 16  # finished runs handed to the trio loop at once ...
POST_AFTER_S = 0.005  # ... or sooner, once the first of them has waited this long


def next_tenant(waiting: Sequence[str], running: Mapping[str, int], last: str | None) -> str:
    """Who gets a free slot: the waiting tenant with the fewest runs going.

    Ties go round robin: to the first tied tenant, in name order, after
    ``last`` (the tenant served before). ``waiting`` is never empty.
    """
    fewest = min(running.get(t, 0) for t in waiting)
    tied = sorted(t for t in waiting if running.get(t, 0) == fewest)
    if last is None:
        return tied[0]
    return next((t for t in tied if t > last), tied[0])


class Slots(Generic[W]):
    """Runnable work by tenant, taken by up to ``slots`` threads in ``next_tenant`` order.

    Each item of work is keyed by an id (an event id) so that work whose lease
    was lost can be withdrawn before it runs (``discard``), also while it is still
    being admitted (its module compiling, up to ``compile_timeout_ms``): ``expect``
    names work on its way, ``admit`` says which of it was withdrawn meanwhile.
    """

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._more = threading.Condition(self._lock)
        self._idle = 0  # threads waiting in ``next`` for work
        self._closed = False
        self._waiting: dict[str, deque[tuple[str, W]]] = {}
        self._count = 0
        self._running: Counter[str] = Counter()
        self._threads = 0
        self._last: str | None = None
        self._expected: set[str] = set()  # on the trio loop only, as are expect/admit/discard
        self._withdrawn: set[str] = set()

    def expect(self, keys: Iterable[str]) -> None:
        """Work for these ids is on its way: a ``discard`` until ``admit`` withdraws it too."""
        self._expected.update(keys)

    def admit(self, keys: Collection[str]) -> set[str]:
        """The work for ``keys`` has arrived; those of them withdrawn meanwhile (not to run)."""
        self._expected.difference_update(keys)
        withdrawn = self._withdrawn.intersection(keys)
        self._withdrawn -= withdrawn
        return withdrawn

    def put(self, work: Iterable[tuple[str, str, W]]) -> int:
        """Queue ``(tenant, id, work)`` items; return how many more threads to start for them
        (beyond the idle ones, which are woken)."""
        with self._lock:
            added = 0
            for tenant, key, item in work:
                self._waiting.setdefault(tenant, deque()).append((key, item))
                added += 1
            self._count += added
            self._more.notify(min(added, self._idle))
            start = min(self._slots - self._threads, max(self._count - self._idle, 0))
            self._threads += start
            return start

    def next(self, finished: str | None, linger: float = 0.0) -> tuple[str, W] | None:
        """A worker thread's turn: report the run of tenant ``finished`` done (if any), take the
        next run, waiting up to ``linger`` seconds for one. None means nothing came and the
        thread must exit (it is no longer counted)."""
        with self._lock:
            if finished is not None:
                self._running[finished] -= 1
            if not self._count and linger > 0 and not self._closed:
                self._idle += 1
                try:
                    self._more.wait_for(lambda: self._count or self._closed, linger)
                finally:
                    self._idle -= 1
            if not self._count:
                self._threads -= 1
                return None
            waiting = self._waiting
            if len(waiting) == 1:  # the common case, without next_tenant's sort
                tenant = self._last = next(iter(waiting))
            else:
                tenant = self._last = next_tenant(list(waiting), self._running, self._last)
            queue = self._waiting[tenant]
            _, item = queue.popleft()
            if not queue:
                del self._waiting[tenant]
            self._count -= 1
            self._running[tenant] += 1
            return tenant, item

    def discard(self, keys: Collection[str]) -> list[str]:
        """Withdraw waiting and expected work by id; the ids withdrawn (running work is not touched)."""
        coming = self._expected.intersection(keys)
        self._expected -= coming
        self._withdrawn |= coming
        gone = list(coming)
        with self._lock:
            for tenant in list(self._waiting):
                kept = deque(entry for entry in self._waiting[tenant] if entry[0] not in keys)
                gone += [key for key, _ in self._waiting[tenant] if key in keys]
                if kept:
                    self._waiting[tenant] = kept
                else:
                    del self._waiting[tenant]
            self._count -= len(gone) - len(coming)
        return gone

    def close(self) -> None:
        """Let idle threads exit now rather than after ``linger``."""
        with self._lock:
            self._closed = True
            self._more.notify_all()

    def running(self) -> dict[str, int]:
        with self._lock:
            return {t: n for t, n in self._running.items() if n}


class Outbox(Generic[T]):
    """Finished runs from worker threads to ``deliver`` on the trio loop, in groups.

    ``put`` runs on any thread; ``run`` is a trio task that delivers a group
    ``POST_AFTER_S`` after its first item, or at once when it has ``POST_EVERY``.
    """

    def __init__(self, token: trio.lowlevel.TrioToken, deliver: Callable[[list[T]], None]) -> None:
        self._token = token
        self._deliver = deliver
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._armed = trio.Event()
        self._full = trio.Event()

    def put(self, item: T) -> None:
        with self._lock:
            self._items.append(item)
            count = len(self._items)
        if count == 1:
            self._token.run_sync_soon(self._arm)
        elif count == POST_EVERY:
            self._token.run_sync_soon(self._fill)

    def _arm(self) -> None:
        self._armed.set()

    def _fill(self) -> None:
        self._full.set()

    async def run(self) -> None:
        """Deliver groups until cancelled."""
        while True:
            await self._armed.wait()
            self._armed = trio.Event()
            with trio.move_on_after(POST_AFTER_S):
                await self._full.wait()
            self._full = trio.Event()
            with self._lock:
                items, self._items = self._items, []
            if items:
                self._deliver(items)


class Going(Generic[T]):
    """What each worker thread runs now, and since when (POSIX seconds): ``status`` reads it
    from the trio loop while the threads start and end runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, tuple[T, float]] = {}

    def start(self, item: T) -> float:
        """On a worker thread: it starts running ``item`` now; that moment, as its record will say."""
        started_at = time.time()
        with self._lock:
            self._by_thread[threading.get_ident()] = (item, started_at)
        return started_at

    def end(self) -> None:
        """On a worker thread: its run ended (before the run is handed to the outbox, so a run
        reported is never listed as going)."""
        with self._lock:
            del self._by_thread[threading.get_ident()]

    def now(self) -> list[tuple[T, float]]:
        with self._lock:
            return list(self._by_thread.values())
