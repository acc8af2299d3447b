"""The leases an executor holds: leasing with back pressure, renewing, giving up.

- The lease loop keeps up to ``window`` deliveries leased and not yet settled
  (``window`` = 2 x max(executor.batch, max_concurrency)), at most ``per_tenant``
  (half the window) of any one tenant: a tenant with a deep backlog leases in
  batches as large as before, yet never fills the window, so another tenant's
  events are leased as soon as they come, in one batch, ready for the next free
  slot.
- The renewer extends, every ``lease_ms`` / 3, the lease of every delivery this
  executor holds, running or waiting to run: a run longer than the lease is
  never leased to a second worker meanwhile (SPEC §4). A delivery whose lease
  the queue reports lost and that has not started is withdrawn from ``Slots``:
  its new holder runs it.
- ``stop`` ends leasing and waits until every delivery held is settled.

Everything here runs on the trio loop; the worker threads never see it.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import trio

from jobico.component import Context
from jobico.errors import JobicoError
from jobico.executor.slots import Slots
from jobico.queue import api as queue_api
from jobico.rpc.peer import Peer, backoff_s

IDLE_POLL_S = (0.005, 0.1)  # between leases that found nothing, unless a settle makes room first
LEASE_WAIT_MS = 500  # the queue holds an empty lease this long; bounds how long ``stop`` waits

Leased = Callable[[tuple[queue_api.Delivery, ...]], None]
"""Takes a lease's deliveries at once, on the trio loop (they are held until ``forget``)."""


class Leases:
    """The deliveries this executor holds: leased, and not yet settled or given up."""

    def __init__(self, ctx: Context, queue: Peer, slots: Slots[Any]) -> None:
        conf = ctx.config.executor
        self.window = 2 * max(conf.batch, conf.max_concurrency)
        self.per_tenant = self.window // 2
        self._ctx = ctx
        self._queue = queue
        self._slots = slots
        self._held: dict[str, str] = {}  # event id -> tenant
        self._held_by: Counter[str] = Counter()
        self._room = trio.Event()  # set by the next settle
        self._idle = trio.Event()  # set once stopping and nothing is held
        self._stopping = False
        self._waiting = trio.CancelScope()
        self._stopped = trio.Event()

    def __len__(self) -> int:
        return len(self._held)

    async def lease(self, ready: Callable[[], Awaitable[object]], leased: Leased) -> None:
        """Lease while there is room, once ``ready()`` returns (the first catalog is in);
        ``stop`` interrupts only its waits, never a lease call."""
        conf = self._ctx.config.executor
        idle, failures = IDLE_POLL_S[0], 0
        try:
            await self._pause(self._release_predecessors_leases)
            await self._pause(ready)
            while not self._stopping:
                free = min(self.window - len(self._held), conf.batch)
                room = self._room = trio.Event()
                if free <= 0:
                    await self._pause(room.wait)
                    continue
                # Holding some, ask and return at once: a long poll would keep these
                # ``held`` counts while settles lower them, and so wait for nothing.
                held = {tenant: n for tenant, n in self._held_by.items() if n}
                request = queue_api.Lease(self._ctx.name, free, conf.lease_ms,
                                          0 if self._held else LEASE_WAIT_MS, held, self.per_tenant)
                try:
                    deliveries = (await queue_api.lease(self._queue, request)).items
                except JobicoError as exc:
                    failures += 1
                    if failures == 1:
                        self._ctx.log.warning("lease from the queue failed (%s); retrying", exc)
                    await self._pause(functools.partial(trio.sleep, backoff_s(failures)))
                    continue
                failures = 0
                if not deliveries:  # again after the next settle, or a short while
                    await self._pause(functools.partial(_wait, room, idle))
                    idle = min(idle * 2, IDLE_POLL_S[1])
                    continue
                idle = IDLE_POLL_S[0]
                for delivery in deliveries:
                    self._held[delivery.id] = delivery.tenant
                    self._held_by[delivery.tenant] += 1
                leased(deliveries)
        finally:
            self._stopped.set()

    async def _release_predecessors_leases(self) -> None:
        """A previous process of this name may have died holding leases: free them so its
        events run again at once, not after ``lease_ms`` (leases outlive a queue restart, so
        this matters when both restart). Retried until the queue answers, before the first
        lease: a release after it would give back this process's own leases."""
        try:
            await queue_api.release(self._queue.retrying, queue_api.Release(self._ctx.name))
        except JobicoError as exc:
            self._ctx.log.warning("could not release earlier leases (%s); they will expire", exc)

    async def _pause(self, wait: Callable[[], Awaitable[object]]) -> None:
        """Wait for ``wait()``, or until ``stop`` begins."""
        with trio.CancelScope() as self._waiting:
            if not self._stopping:
                await wait()

    async def renew(self) -> None:
        """Every ``lease_ms`` / 3, renew every lease held; sooner again after a failure
        (the queue restarting, say: its recovered leases wait for exactly this)."""
        lease_ms = self._ctx.config.executor.lease_ms
        interval = lease_ms / 3000
        failures = 0
        while True:
            await trio.sleep(min(interval, backoff_s(failures)) if failures else interval)
            if not self._held:
                continue
            request = queue_api.Renew(self._ctx.name, tuple(self._held), lease_ms)
            try:
                reply = await queue_api.renew(self._queue, request)
            except JobicoError as exc:
                failures += 1
                if failures == 1:
                    self._ctx.log.warning("renewing %d leases failed (%s); retrying", len(self._held), exc)
                continue
            failures = 0
            self._lost(reply.lost)

    def _lost(self, ids: Collection[str]) -> None:
        """Leases the queue says another worker may hold now: withdraw those not started."""
        lost = {i for i in ids if i in self._held}
        if not lost:
            return
        dropped = self._slots.discard(lost)
        self._ctx.log.warning("lost the lease of %d events; %d not started are left to their new holder",
                              len(lost), len(dropped))
        self.forget(dropped)

    def forget(self, ids: Iterable[str]) -> None:
        """These deliveries are settled (or given up): make room for more."""
        for event_id in ids:
            tenant = self._held.pop(event_id, None)
            if tenant is not None:
                self._held_by[tenant] -= 1
                if not self._held_by[tenant]:
                    del self._held_by[tenant]
        self._room.set()
        if self._stopping and not self._held:
            self._idle.set()

    async def withdraw_on_cancel(self) -> None:
        """On cancellation, runs not yet started are dropped (their leases lapse), so the
        worker threads finish what they run and exit instead of draining the backlog."""
        try:
            await trio.sleep_forever()
        finally:
            self._slots.discard(set(self._held))
            self._slots.close()

    async def stop(self) -> None:
        """Stop leasing; return once every delivery held has been settled (``forget``)."""
        self._stopping = True
        self._waiting.cancel()
        await self._stopped.wait()
        if self._held:
            await self._idle.wait()


async def _wait(event: trio.Event, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await event.wait()
