"""Group commit: one sync makes many writers' records durable, and what a failed sync means.

A writer that has written (or buffered) its records holds a *ticket* and awaits
``wait(ticket)``; it is released once a sync round made its ticket durable,
never before: an answer means fsync'd. Adaptive, with no timer (DESIGN.md
measured 83k records/s this way against 21k/s for a fixed 2 ms timer): a round
starts as soon as someone waits or ``kick``s, and when it ends the next one
starts at once while the store has more pending, so under light load a commit
costs one sync and under heavy load each sync carries all that arrived during
the last. A round's blocking part (the queue's writes, every store's fsyncs)
runs in a worker thread, so the trio thread keeps taking requests meanwhile.

When a sync fails — one policy for every store:

- each writer waiting for a ticket that is not durable gets ``Unavailable`` and
  may send again; the store keeps serving (a bad sync is no reason to die);
- the files are cut back to what earlier syncs made durable
  (``files.AppendFiles.rollback``) and the next round writes afresh; the fsync
  is never merely retried: after a failure the kernel may report success for
  pages it dropped;
- the next round comes ``RETRY_AFTER_ERROR_S`` later, not at once, so a failing
  disk is not hammered;
- what becomes of the records that were not made durable is the store's part
  (``Durable.abandon``), and either way sending again is safe: the queue keeps
  them buffered and writes them again (an enqueue answered Unavailable may still
  be delivered, at least once; resent with its idempotency key it gets the same
  ids); the recorder forgets them (an append answered Unavailable stored
  nothing, and sending it again stores it).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import trio

from jobico.errors import Unavailable

RETRY_AFTER_ERROR_S = 0.5


class Plan(Protocol):
    def run(self) -> None:
        """Make the round's records durable. Blocking, in a worker thread; Errors: ``OSError``."""


P = TypeVar("P", bound=Plan)


class Durable(Protocol[P]):
    """What a store gives its group commit; called on the trio thread, but for ``Plan.run``."""

    def pending(self) -> bool:
        """Whether some written ticket is not durable yet."""

    def begin_sync(self) -> P:
        """Take what the next round makes durable."""

    def end_sync(self, plan: P) -> int:
        """Note a round that ran; returns the highest ticket now durable."""

    def abandon(self) -> str:
        """After a failed round: cut the files back and keep or forget what was not durable;
        returns what the writers should know, appended to their ``Unavailable``."""


@dataclass(eq=False, slots=True)
class _Waiter:
    event: trio.Event
    error: Exception | None = None


class GroupCommit(Generic[P]):
    """Releases ``wait``-ers as their tickets become durable; ``run`` starts the rounds.

    ``name`` names the store in logs and errors ("queue", "recorder"); ``durable`` is
    the highest ticket already durable (what the store found on disk).
    """

    def __init__(self, store: Durable[P], name: str, log: logging.Logger, durable: int = 0) -> None:
        self._store = store
        self._name = name
        self._log = log
        self.durable = durable
        self._waiters: list[tuple[int, int, _Waiter]] = []
        self._order = itertools.count()
        self._wanted = trio.Event()
        self.syncs = 0
        self.sync_seconds = 0.0  # time spent in rounds' threads, for status and benchmarks

    async def wait(self, ticket: int) -> None:
        """Return once ``ticket`` is durable.

        Cancellation: safe; what was written stays and becomes durable with a later round.
        Errors: ``Unavailable`` when the round that was to make it durable failed.
        """
        if ticket <= self.durable:
            return
        waiter = _Waiter(trio.Event())
        heapq.heappush(self._waiters, (ticket, next(self._order), waiter))
        self.kick()
        await waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error

    def kick(self) -> None:
        """Have a round start if anything is pending (``wait`` does this too)."""
        if not self._wanted.is_set():
            self._wanted.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run rounds whenever kicked, until cancelled.

        Cancellation: a round already begun ends first (a sync is never abandoned).
        Errors: ``OSError`` only when, after a failed sync, the files cannot even be
        cut back (nothing then tells what is on disk).
        """
        task_status.started()
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            await self.drain()

    async def drain(self) -> None:
        """Run rounds until nothing is pending (also at shutdown, once ``run`` is over)."""
        while self._store.pending():
            if not await self._round():
                await trio.sleep(RETRY_AFTER_ERROR_S)

    async def _round(self) -> bool:
        """One sync round, shielded: once its plan is taken it must run and be accounted."""
        with trio.CancelScope(shield=True):
            plan = self._store.begin_sync()
            try:
                self.sync_seconds += await trio.to_thread.run_sync(_timed, plan)
            except OSError as exc:
                self._fail(exc)
                return False
            self.syncs += 1
            self.durable = max(self.durable, self._store.end_sync(plan))
        while self._waiters and self._waiters[0][0] <= self.durable:
            heapq.heappop(self._waiters)[2].event.set()
        return True

    def _fail(self, exc: OSError) -> None:
        """Fail every waiter: none of their tickets is durable (policy in the module docstring)."""
        advice = self._store.abandon()
        self._log.error("%s storage failed: %s%s (the files are cut back to their last sync)",
                        self._name, exc, advice)
        error = Unavailable(f"{self._name} storage failed: {exc}{advice}")
        for _, _, waiter in self._waiters:
            waiter.error = error
            waiter.event.set()
        self._waiters.clear()


def _timed(plan: Plan) -> float:
    start = time.perf_counter()
    plan.run()
    return time.perf_counter() - start
