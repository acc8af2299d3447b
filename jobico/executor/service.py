"""The executor component: lease events, run them in the sandbox, report, settle.

Tasks of one trio nursery:

- the catalog follower keeps ``self.catalog`` at ctl's latest version;
- the lease loop keeps up to ``window`` deliveries leased and not yet settled
  (``window`` = 2 x max(executor.batch, max_concurrency)), at most ``per_tenant``
  (half the window) of any one tenant: a tenant with a deep backlog leases in
  batches as large as before, yet never fills the window, so another tenant's
  events are leased as soon as they come, in one batch, ready for the next free
  slot;
- the renewer extends, every ``lease_ms`` / 3, the lease of every delivery this
  executor holds, running or waiting to run: a run longer than the lease is
  never leased to a second worker meanwhile (SPEC §4). A delivery whose lease
  the queue reports lost and that has not started is dropped: its new holder
  runs it;
- dispatch pins each delivery to the job of the catalog current at lease time,
  skips those the recorder already has an ``ok`` for, and queues the rest in
  ``Slots``: up to ``max_concurrency`` worker threads take them one after
  another (one thread hand-off per thread, not per event), a free slot going
  to the waiting tenant with the fewest runs going (``slots.py``);
- the reporter takes finished runs in batches and, in this order, publishes
  ``on_ok``/``on_error`` events, appends the records, then settles with the
  queue. A crash between steps repeats them; each is idempotent. A record over
  the cap or refused by the recorder dead-letters its event (``settle.py``).

Peers that are briefly away are retried with backoff (``Peer.call_until_done``):
an outcome is never dropped. ``shutdown()`` stops leasing and waits until every
leased delivery is settled.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio

from jobico.component import Context
from jobico.errors import JobicoError, UserError
from jobico.executor import settle
from jobico.executor.limits import RunResult
from jobico.executor.lru import LRU
from jobico.executor.outcome import NO_CODE
from jobico.executor.sandbox import LoadedModule, Sandbox
from jobico.executor.slots import Outbox, Slots
from jobico.rpc.follow import follow_catalog
from jobico.rpc.peer import Peer, backoff_s
from jobico.schemas import compile_offline, problems

REPORT_BATCH = 256
LINGER_S = 0.05  # a worker thread with nothing to run waits this long for the next lease's runs
IDLE_POLL_S = (0.005, 0.1)  # between leases that found nothing, unless a settle makes room first
LEASE_WAIT_MS = 500  # the queue holds an empty lease this long; bounds how long shutdown waits
LOADED_MODULES = 64  # compiled modules kept (by hash, ABI and entry); the cache on disk has the rest
VALIDATORS = 256  # chained events' schema validators kept

Work = tuple[dict[str, Any], dict[str, Any], LoadedModule, dict[str, Any]]  # delivery, job, module, catalog


@dataclass(slots=True)
class Done:
    """A delivery ready to report: its run's result, or why it was not run."""

    delivery: dict[str, Any]
    job: dict[str, Any] | None
    catalog: dict[str, Any]
    result: RunResult | None = None
    started_at: float = 0.0
    reason: str = ""  # set when there was no run (no job); empty + no result = already ok


class ExecutorService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        conf = ctx.config.executor
        self.window = 2 * max(conf.batch, conf.max_concurrency)
        self.per_tenant = self.window // 2
        self.limiter = trio.CapacityLimiter(conf.max_concurrency)
        # Compiles have their own threads: a run thread holds its token for as long as
        # work waits, so a new module would otherwise compile only once the backlog is done.
        self.compiles = trio.CapacityLimiter(conf.max_concurrency)
        self.slots: Slots[Work] = Slots(conf.max_concurrency)
        self.queue = Peer("queue", ctx.connect, ctx.log)
        self.recorder = Peer("recorder", ctx.connect, ctx.log)
        self.catalog: dict[str, Any] | None = None
        self.sandbox: Sandbox | None = None
        self.runs: Counter[str] = Counter()
        self._catalog_ready = trio.Event()
        self._held: dict[str, str] = {}  # event id -> tenant: leased and not yet settled
        self._held_by: Counter[str] = Counter()
        self._started: dict[int, tuple[dict[str, Any], float]] = {}  # thread -> (delivery, started_at)
        self._started_lock = threading.Lock()
        self._room = trio.Event()
        self._idle = trio.Event()
        self._stopping = False
        self._waiting = trio.CancelScope()
        self._lease_stopped = trio.Event()
        self._done: deque[Done] = deque()  # ready to report, in order; ``_done_ready`` set when added
        self._done_ready = trio.Event()
        self._outbox: Outbox[Done] | None = None
        self._loaded: LRU[tuple[str, str, str], LoadedModule] = LRU(LOADED_MODULES)
        self._validators: LRU[str, Any] = LRU(VALIDATORS)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. **Cancellation:** waits for runs already on threads."""
        slots = self.ctx.config.executor.max_concurrency  # the runs going at once, at most
        sandbox = functools.partial(Sandbox, self.ctx.home.cache, slots=slots)
        self.sandbox = await trio.to_thread.run_sync(sandbox)
        self._outbox = Outbox(trio.lowlevel.current_trio_token(), self._finished)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow_catalog, functools.partial(self.ctx.connect, "ctl"),
                                   self._adopt_catalog, self.ctx.log)
                nursery.start_soon(self._outbox.run)
                nursery.start_soon(self._report)
                nursery.start_soon(self._renew_loop)
                nursery.start_soon(self._withdraw_on_cancel)
                nursery.start_soon(self._lease_loop, nursery)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await self.queue.aclose()
                await self.recorder.aclose()
            self.sandbox.close()

    async def _release_predecessors_leases(self) -> None:
        """A previous process of this name may have died holding leases: free them so its
        events run again at once, not after ``lease_ms`` (leases outlive a queue restart, so
        this matters when both restart). Retried until the queue answers, before the first
        lease: a release after it would give back this process's own leases."""
        try:
            await self.queue.call_until_done("release", {"worker": self.ctx.name})
        except JobicoError as exc:
            self.ctx.log.warning("could not release earlier leases (%s); they will expire", exc)

    async def shutdown(self) -> None:
        """Stop leasing; return once every leased delivery has been reported and settled."""
        self._stopping = True
        self._waiting.cancel()
        await self._lease_stopped.wait()
        if self._held:
            await self._idle.wait()

    async def status(self) -> dict[str, Any]:
        """What this executor holds and runs now. ``running_events`` lists each run going
        (``event_id``, ``tenant``, ``attempt``, and ``started_at`` in POSIX seconds, as its
        record will say): where an operator or a test sees what a kill would interrupt."""
        with self._started_lock:
            going = list(self._started.values())
        started = [{"event_id": d["id"], "tenant": d["tenant"], "attempt": d["attempt"], "started_at": at}
                   for d, at in going]
        return {
            "catalog_version": (self.catalog or {}).get("version"),
            "in_flight": len(self._held),
            "running": self.slots.running(),
            "running_events": started,
            "runs": dict(self.runs),
            "compiles": self.sandbox.compiles if self.sandbox else 0,
        }

    async def _adopt_catalog(self, document: dict[str, Any]) -> None:
        self.catalog = document
        self._catalog_ready.set()

    # --- leases --------------------------------------------------------------

    async def _lease_loop(self, nursery: trio.Nursery) -> None:
        """Lease while there is room; ``shutdown`` interrupts only its waits, never a lease call."""
        conf = self.ctx.config.executor
        idle, failures = IDLE_POLL_S[0], 0
        try:
            await self._pause(self._release_predecessors_leases)
            await self._pause(self._catalog_ready.wait)
            while not self._stopping:
                free = min(self.window - len(self._held), conf.batch)
                room = self._room = trio.Event()  # set by the next settle
                if free <= 0:
                    await self._pause(room.wait)
                    continue
                params = {
                    "worker": self.ctx.name,
                    "max": free,
                    "lease_ms": conf.lease_ms,
                    # Holding some, ask and return at once: a long poll would keep these
                    # ``held`` counts while settles lower them, and so wait for nothing.
                    "wait_ms": 0 if self._held else LEASE_WAIT_MS,
                    "held": {tenant: n for tenant, n in self._held_by.items() if n},
                    "per_tenant": self.per_tenant,
                }
                try:
                    deliveries = await self.queue.call("lease", params)
                except JobicoError as exc:
                    failures += 1
                    if failures == 1:
                        self.ctx.log.warning("lease from the queue failed (%s); retrying", exc)
                    await self._pause(functools.partial(trio.sleep, backoff_s(failures)))
                    continue
                failures = 0
                if not deliveries:  # again after the next settle, or a short while
                    await self._pause(functools.partial(_wait, room, idle))
                    idle = min(idle * 2, IDLE_POLL_S[1])
                    continue
                idle = IDLE_POLL_S[0]
                for delivery in deliveries:
                    self._held[delivery["id"]] = delivery["tenant"]
                    self._held_by[delivery["tenant"]] += 1
                nursery.start_soon(self._dispatch, nursery, deliveries, self.catalog or {})
        finally:
            self._lease_stopped.set()

    async def _pause(self, wait: Callable[[], Awaitable[object]]) -> None:
        """Wait for ``wait()``, or until ``shutdown`` begins."""
        with trio.CancelScope() as self._waiting:
            if not self._stopping:
                await wait()

    async def _renew_loop(self) -> None:
        """Every ``lease_ms`` / 3, renew every lease held; sooner again after a failure
        (the queue restarting, say: its recovered leases wait for exactly this)."""
        lease_ms = self.ctx.config.executor.lease_ms
        interval = lease_ms / 3000
        failures = 0
        while True:
            await trio.sleep(min(interval, backoff_s(failures)) if failures else interval)
            if not self._held:
                continue
            try:
                reply = await self.queue.call(
                    "renew", {"worker": self.ctx.name, "ids": list(self._held), "lease_ms": lease_ms}
                )
            except JobicoError as exc:
                failures += 1
                if failures == 1:
                    self.ctx.log.warning("renewing %d leases failed (%s); retrying", len(self._held), exc)
                continue
            failures = 0
            self._lost((reply.get("lost") or []) if isinstance(reply, dict) else [])

    def _lost(self, ids: list[str]) -> None:
        """Leases the queue says another worker may hold now: withdraw those not started."""
        lost = {i for i in ids if i in self._held}
        if not lost:
            return
        dropped = self.slots.discard(lost)
        self.ctx.log.warning("lost the lease of %d events; %d not started are left to their new holder",
                             len(lost), len(dropped))
        self._forget(dropped)

    def _forget(self, ids: Iterable[str]) -> None:
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

    async def _withdraw_on_cancel(self) -> None:
        """On cancellation, runs not yet started are dropped (their leases lapse), so the
        worker threads finish what they run and exit instead of draining the backlog."""
        try:
            await trio.sleep_forever()
        finally:
            self.slots.discard(set(self._held))
            self.slots.close()

    # --- running -------------------------------------------------------------

    async def _dispatch(
        self, nursery: trio.Nursery, deliveries: list[dict[str, Any]], catalog: dict[str, Any]
    ) -> None:
        """Skip deliveries already recorded ok; queue the others for the worker threads."""
        ids = [d["id"] for d in deliveries]
        reply = await self.recorder.call_until_done("ok_ids", {"event_ids": ids})
        already = set(reply) if not isinstance(reply, dict) else {k for k, v in reply.items() if v}
        work: list[tuple[str, str, Work]] = []
        for delivery in deliveries:
            job = (
                catalog.get("tenants", {})
                .get(delivery["tenant"], {})
                .get("events", {})
                .get(delivery["event"])
            )
            if delivery["id"] in already:
                self._hand_back([Done(delivery, job, catalog)])
            elif job is None:
                why = (
                    f"no job for event {delivery['event']!r} of tenant {delivery['tenant']!r} "
                    f"in catalog version {catalog.get('version')}"
                )
                self._hand_back([Done(delivery, None, catalog, reason=why)])
            else:
                try:
                    loaded = await self._load(job)
                except (UserError, OSError) as exc:
                    failure = _host_failure(f"cannot load module {job.get('wasm')!r}: {exc}")
                    self._finished([Done(delivery, job, catalog, failure, time.time())])
                    continue
                work.append((delivery["tenant"], delivery["id"], (delivery, job, loaded, catalog)))
        run_slots = functools.partial(trio.to_thread.run_sync, self._run_slots, limiter=self.limiter)
        for _ in range(self.slots.put(work)):
            nursery.start_soon(run_slots)

    def _run_slots(self) -> None:
        """On a worker thread: run what ``Slots`` hands out until nothing waits.

        Never raises for a bad event: an unexpected host-side failure is
        recorded as an ``error`` with ``code = -1`` and the reason, so it goes
        through retries and the dead-letter log instead of crashing us.
        """
        sandbox, outbox = self.sandbox, self._outbox
        assert sandbox is not None and outbox is not None
        finished: str | None = None
        thread = threading.get_ident()
        while (taken := self.slots.next(finished, LINGER_S)) is not None:
            finished, (delivery, job, loaded, catalog) = taken
            started_at = time.time()
            with self._started_lock:
                self._started[thread] = (delivery, started_at)
            try:
                result = sandbox.run(
                    loaded,
                    bytes(delivery["body"]),
                    timeout_ms=int(job.get("timeout_ms") or 2000),
                    memory_mb=int(job.get("memory_mb") or 64),
                    env=settle.wasi_env(delivery) if loaded.abi == "wasi" else None,
                )
            except Exception as exc:
                self.ctx.log.exception("run of event %s failed in the host", delivery["id"])
                result = _host_failure(f"executor failure: {type(exc).__name__}: {exc}")
            with self._started_lock:
                del self._started[thread]
            outbox.put(Done(delivery, job, catalog, result, started_at))

    def _finished(self, done: list[Done]) -> None:
        for item in done:
            assert item.result is not None
            self.runs[item.result.status] += 1
        self._hand_back(done)

    def _hand_back(self, done: list[Done]) -> None:
        """On the trio loop: queue these for the reporter."""
        self._done.extend(done)
        self._done_ready.set()

    async def _load(self, job: dict[str, Any]) -> LoadedModule:
        key = (job["module_sha256"], job.get("abi") or "auto", job.get("entry") or "event")
        loaded = self._loaded.get(key)
        if loaded is None:
            path = self.ctx.home.blobs / f"{key[0]}.wasm"
            sandbox = self.sandbox
            assert sandbox is not None

            def compile_() -> LoadedModule:
                return sandbox.load(path.read_bytes(), key[0], abi=key[1], entry=key[2])

            loaded = self._loaded.put(key, await trio.to_thread.run_sync(compile_, limiter=self.compiles))
        return loaded

    # --- reporting -----------------------------------------------------------

    async def _report(self) -> None:
        ready = self._done
        while True:
            await self._done_ready.wait()
            self._done_ready = trio.Event()
            while ready:
                batch = [ready.popleft() for _ in range(min(len(ready), REPORT_BATCH))]
                await self._publish(batch)
                self._forget(done.delivery["id"] for done in batch)

    async def _publish(self, batch: list[Done]) -> None:
        records: list[dict[str, Any]] = []
        owners: list[int] = []  # records[i] is the run of batch[owners[i]]
        settles = []
        for index, done in enumerate(batch):
            outcome = settle.settlement(done.delivery, done.job, done.result, done.reason)
            settles.append(outcome)
            if done.result is None or done.job is None:
                continue
            entry = settle.record(done.delivery, done.job, done.result, done.started_at)
            too_big = settle.oversize(settle.encoded_size(entry))
            if too_big:  # the recorder would refuse it: never send it, never retry it
                entry = settle.refused(entry, too_big)
                settles[index] = settle.dead_letter(done.delivery, entry["reason"])
            elif follow := settle.chained(done.delivery, done.job, done.result, outcome["outcome"]):
                problem = await self._publish_chained(follow, done.catalog)
                if problem:
                    entry["logs"].append({"level": "error", "message": problem})
            records.append(entry)
            owners.append(index)
        if records:
            refusals = await self._append(records)
            if refusals:
                small = [settle.refused(records[i], reason) for i, reason in refusals.items()]
                for i, entry in zip(refusals, small, strict=True):
                    settles[owners[i]] = settle.dead_letter(batch[owners[i]].delivery, entry["reason"])
                self.ctx.log.warning("the recorder refused %d records; their events are dead-lettered: %s",
                                     len(small), small[0]["reason"])
                if again := await self._append(small):
                    self.ctx.log.error("the recorder refused even the short records: %s",
                                       next(iter(again.values())))
        try:
            reply = await self.queue.call_until_done("settle", {"worker": self.ctx.name, "results": settles})
        except JobicoError as exc:
            self.ctx.log.warning("settle of %d deliveries refused: %s", len(settles), exc)
            return
        stale = reply.get("stale") if isinstance(reply, dict) else None
        if stale:  # our lease had lapsed and another worker holds them: it settles them
            self.ctx.log.warning("%d results were stale, e.g. event %s", len(stale), stale[0])
        applied = set(reply.get("applied") or ()) if isinstance(reply, dict) else set()
        self._log_failures(batch, settles, applied)

    def _log_failures(self, batch: list[Done], settles: list[dict[str, Any]], applied: set[str]) -> None:
        """One line per retry or dead letter, with the event's ids as fields (``log.format = "json"``)
        so an operator can follow an event through the logs; ``%r`` keeps guest text on one line."""
        for done, entry in zip(batch, settles, strict=True):
            if entry["outcome"] == "ack" or entry["id"] not in applied:
                continue
            d = done.delivery
            fields = {"event_id": d["id"], "tenant": d["tenant"], "event": d["event"],
                      "attempt": int(d["attempt"]), "reason": entry["reason"]}
            if entry["outcome"] == "retry":
                self.ctx.log.info("event %s (%s/%s) attempt %d failed, retry in %d ms: %r", d["id"],
                                  d["tenant"], d["event"], fields["attempt"], entry["delay_ms"],
                                  entry["reason"], extra={**fields, "delay_ms": entry["delay_ms"]})
            else:
                self.ctx.log.warning("event %s (%s/%s) dead-lettered after attempt %d: %r", d["id"],
                                     d["tenant"], d["event"], fields["attempt"], entry["reason"],
                                     extra=fields)

    async def _append(self, records: list[dict[str, Any]]) -> dict[int, str]:
        """Append in calls of at most ``settle.MAX_APPEND_BYTES``; the refused records, by index."""
        refusals: dict[int, str] = {}
        for part in settle.chunks([settle.encoded_size(entry) for entry in records], settle.MAX_APPEND_BYTES):
            reply = await self.recorder.call_until_done("append", {"records": [records[i] for i in part]})
            for index, reason in (reply.get("refused") or []) if isinstance(reply, dict) else []:
                refusals[part[index]] = str(reason)
        return refusals

    async def _publish_chained(self, follow: settle.Chained, catalog: dict[str, Any]) -> str | None:
        """Enqueue an on_ok/on_error event; return why it was not published, if so."""
        target = catalog.get("tenants", {}).get(follow.tenant, {}).get("events", {}).get(follow.event)
        if target is None:
            return (
                f"follow-up event {follow.event!r} is not defined for tenant {follow.tenant!r}: not published"
            )
        schema = target.get("schema")
        if schema is not None:
            key = target.get("schema_sha256") or repr(schema)
            validator = self._validators.get(key)
            if validator is None:
                try:  # offline: a $ref to a file or URL is never fetched
                    validator = self._validators.put(key, compile_offline(schema))
                except ValueError as exc:
                    first = str(exc).splitlines()[0]
                    return f"follow-up event {follow.event!r}: its schema does not compile offline: {first}"
            errors = problems(validator, follow.item, 5)
            if errors:
                return f"follow-up event {follow.event!r} fails its schema: {'; '.join(errors)}"
        params = {
            "tenant": follow.tenant,
            "event": follow.event,
            "items": [json.dumps(follow.item).encode()],
            "key": follow.key,
            "scope": "platform",  # "<event id>:on_ok" can never collide with a sender's key
            "digest": None,
        }
        try:
            await self.queue.call_until_done("enqueue", params)
        except JobicoError as exc:
            return f"follow-up event {follow.event!r} refused by the queue: {exc}"
        return None


async def _wait(event: trio.Event, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await event.wait()


def _host_failure(reason: str) -> RunResult:
    return RunResult("error", NO_CODE, "", [], False, reason, 0.0)
