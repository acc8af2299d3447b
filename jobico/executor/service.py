"""The executor component: lease events, run them in the sandbox, report, settle.

The service wires its parts together, one module per job, as tasks of one
trio nursery:

- ``ctl_api.follow_catalog`` keeps ``self.catalog`` at ctl's latest version;
- ``leasing.Leases`` leases with back pressure, renews what it holds, and
  withdraws deliveries whose lease was lost;
- ``running.Runner`` pins each delivery to its job, loads its module
  (``modules.py``) and runs it on a worker thread (``slots.py``: the one place
  the threads and the trio loop share anything);
- ``reporting.Reporter`` publishes follow-up events (``chaining.py``), appends
  the records, then settles with the queue (``settle.py`` says how).

``shutdown()`` stops leasing and waits until every leased delivery is settled.
"""

from __future__ import annotations

import functools
from typing import Any

import trio

from jobico.component import Context
from jobico.ctl import api as ctl_api
from jobico.executor.chaining import Chaining
from jobico.executor.compiler import CompileLimits
from jobico.executor.leasing import Leases
from jobico.executor.reporting import Reporter
from jobico.executor.running import Runner, Work
from jobico.executor.sandbox import Sandbox
from jobico.executor.slots import Going, Slots
from jobico.queue.api import Delivery
from jobico.rpc.dispatch import Methods
from jobico.rpc.peer import Peer


class ExecutorService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queue = Peer("queue", ctx.connect, ctx.log)
        self.recorder = Peer("recorder", ctx.connect, ctx.log)
        self.catalog: ctl_api.Catalog | None = None
        self.sandbox: Sandbox | None = None
        self.slots: Slots[Work] = Slots(ctx.config.executor.max_concurrency)
        self.going: Going[Delivery] = Going()
        self.leases = Leases(ctx, self.queue, self.slots)
        self.chaining = Chaining(self.queue)
        self.reporter = Reporter(ctx, self.queue, self.recorder, self.chaining, self.leases.forget)
        self.runner: Runner | None = None
        self._catalog_ready = trio.Event()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. **Cancellation:** waits for runs already on threads."""
        config = self.ctx.config.executor
        sandbox = functools.partial(Sandbox, self.ctx.home.cache, slots=config.max_concurrency,
                                    limits=CompileLimits.of(config))
        self.sandbox = await trio.to_thread.run_sync(sandbox)
        try:
            async with trio.open_nursery() as nursery:
                runner = self.runner = Runner(self.ctx, self.sandbox, self.slots, self.going, self.recorder,
                                              nursery, self.reporter.add)
                nursery.start_soon(ctl_api.follow_catalog, functools.partial(self.ctx.connect, "ctl"),
                                   self._adopt_catalog, self.ctx.log)
                nursery.start_soon(runner.outbox.run)
                nursery.start_soon(self.reporter.run)
                nursery.start_soon(self.leases.renew)
                nursery.start_soon(self.leases.withdraw_on_cancel)
                nursery.start_soon(self.leases.lease, self._catalog_ready.wait, self._leased)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await self.queue.aclose()
                await self.recorder.aclose()
            self.sandbox.close()

    def methods(self) -> Methods:
        """The executor serves no method of its own: it calls the others. Its socket answers
        ``status`` (``component_methods``), fed by ``status`` below."""
        return Methods()

    async def shutdown(self) -> None:
        """Stop leasing; return once every leased delivery has been reported and settled."""
        await self.leases.stop()

    async def status(self) -> dict[str, Any]:
        """What this executor holds and runs now. ``running_events`` lists each run going
        (``event_id``, ``tenant``, ``attempt``, and ``started_at`` in POSIX seconds, as its
        record will say): where an operator or a test sees what a kill would interrupt."""
        started = [{"event_id": d.id, "tenant": d.tenant, "attempt": d.attempt, "started_at": at}
                   for d, at in self.going.now()]
        return {
            "catalog_version": self.catalog.version if self.catalog is not None else None,
            "in_flight": len(self.leases),
            "running": self.slots.running(),
            "running_events": started,
            "runs": dict(self.reporter.runs),
            "compiles": self.sandbox.compiles if self.sandbox else 0,
        }

    async def _adopt_catalog(self, catalog: ctl_api.Catalog) -> None:
        self.catalog = catalog
        self._catalog_ready.set()

    def _leased(self, deliveries: tuple[Delivery, ...]) -> None:
        """Each delivery runs as the catalog current at lease time says."""
        assert self.runner is not None and self.catalog is not None  # leasing waits for both
        self.runner.dispatch(deliveries, self.catalog)
