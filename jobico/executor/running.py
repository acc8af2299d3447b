"""Running leased deliveries on the worker threads.

``dispatch`` pins each delivery to the job of the catalog current at lease time,
skips those the recorder already has an ``ok`` for, loads the job's module
(``modules.py``) and queues the rest in ``Slots``: up to ``max_concurrency``
worker threads take them one after another (one thread hand-off per thread, not
per event), a free slot going to the waiting tenant with the fewest runs going.
Finished runs come back through an ``Outbox`` to ``report`` on the trio loop.
What crosses between the loop and the threads is in ``slots.py``, and only there.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import trio

from jobico.component import Context
from jobico.ctl.api import Catalog, Job
from jobico.errors import UserError
from jobico.executor import settle
from jobico.executor.limits import RunResult
from jobico.executor.modules import Modules
from jobico.executor.outcome import NO_CODE
from jobico.executor.reporting import Done
from jobico.executor.sandbox import LoadedModule, Sandbox
from jobico.executor.slots import Going, Outbox, Slots
from jobico.queue.api import Delivery
from jobico.recorder import api as recorder_api
from jobico.rpc.peer import Peer

LINGER_S = 0.05  # a worker thread with nothing to run waits this long for the next lease's runs

Work = tuple[Delivery, Job, LoadedModule, Catalog]
"""What a worker thread is handed: the delivery, its job, its module, the catalog it was leased under."""


class Runner:
    """Runs deliveries on up to ``max_concurrency`` worker threads, started in ``nursery``.

    ``outbox.run`` must run as a task of its own: it brings finished runs to ``report``.
    """

    def __init__(self, ctx: Context, sandbox: Sandbox, slots: Slots[Work], going: Going[Delivery],
                 recorder: Peer, nursery: trio.Nursery, report: Callable[[list[Done]], None]) -> None:
        threads = ctx.config.executor.max_concurrency
        self._log = ctx.log
        self._sandbox = sandbox
        self._slots = slots
        self._going = going
        self._recorder = recorder
        self._nursery = nursery
        self._report = report
        self._threads = trio.CapacityLimiter(threads)
        self.modules = Modules(sandbox, ctx.home.blobs, threads)
        self.outbox: Outbox[Done] = Outbox(trio.lowlevel.current_trio_token(), report)

    def dispatch(self, deliveries: tuple[Delivery, ...], catalog: Catalog) -> None:
        """On the trio loop: run ``deliveries`` as ``catalog`` (the version current now) says."""
        ids = tuple(d.id for d in deliveries)
        self._slots.expect(ids)
        self._nursery.start_soon(self._admit, deliveries, ids, catalog)

    async def _admit(self, deliveries: tuple[Delivery, ...], ids: tuple[str, ...], catalog: Catalog) -> None:
        """Skip deliveries already recorded ok; queue the others for the worker threads, except
        those whose lease was lost while their modules loaded (left to their new holder)."""
        already = set((await recorder_api.ok_ids(self._recorder.retrying, recorder_api.EventIds(ids))).ids)
        done: list[Done] = []
        work: list[tuple[str, str, Work]] = []
        for delivery in deliveries:
            job = catalog.job(delivery.tenant, delivery.event)
            if delivery.id in already:
                done.append(Done(delivery, job, catalog))
            elif job is None:
                why = (f"no job for event {delivery.event!r} of tenant {delivery.tenant!r} "
                       f"in catalog version {catalog.version}")
                done.append(Done(delivery, None, catalog, reason=why))
            else:
                try:
                    loaded = await self.modules.load(job)
                except (UserError, OSError) as exc:
                    failure = _host_failure(f"cannot load module {job.wasm!r}: {exc}")
                    done.append(Done(delivery, job, catalog, failure, time.time()))
                    continue
                work.append((delivery.tenant, delivery.id, (delivery, job, loaded, catalog)))
        withdrawn = self._slots.admit(ids)
        if done := [d for d in done if d.delivery.id not in withdrawn]:
            self._report(done)
        run_slots = functools.partial(trio.to_thread.run_sync, self._run_slots, limiter=self._threads)
        for _ in range(self._slots.put(w for w in work if w[1] not in withdrawn)):
            self._nursery.start_soon(run_slots)

    def _run_slots(self) -> None:
        """On a worker thread: run what ``Slots`` hands out until nothing waits.

        Never raises for a bad event: an unexpected host-side failure is
        recorded as an ``error`` with ``code = -1`` and the reason, so it goes
        through retries and the dead-letter log instead of crashing us.
        """
        sandbox, slots, going, outbox = self._sandbox, self._slots, self._going, self.outbox
        finished: str | None = None
        while (taken := slots.next(finished, LINGER_S)) is not None:
            finished, (delivery, job, loaded, catalog) = taken
            started_at = going.start(delivery)
            try:
                env = settle.wasi_env(delivery) if loaded.abi == "wasi" else None
                result = sandbox.run(loaded, delivery.body, timeout_ms=job.timeout_ms,
                                     memory_mb=job.memory_mb, env=env)
            except Exception as exc:
                self._log.exception("run of event %s failed in the host", delivery.id)
                result = _host_failure(f"executor failure: {type(exc).__name__}: {exc}")
            going.end()
            outbox.put(Done(delivery, job, catalog, result, started_at))


def _host_failure(reason: str) -> RunResult:
    return RunResult("error", NO_CODE, "", [], False, reason, 0.0)
