"""The executor component: lease events, run them in the sandbox, report, settle.

Three kinds of task share one trio nursery:

- the catalog follower keeps ``self.catalog`` at ctl's latest version;
- the lease loop takes up to ``window`` deliveries from the queue (``window`` =
  max(executor.batch, max_concurrency) leased and not yet settled), pins each to
  the job of the catalog current at lease time, skips those the recorder already
  has an ``ok`` for, and hands the rest of the lease to up to ``max_concurrency``
  worker threads that share it (``trio.to_thread.run_sync`` with a
  ``CapacityLimiter(max_concurrency)``; one hand-off per thread, not per event),
  so neither wasm nor compilation blocks the loop;
- the reporter takes finished runs in batches and, in this order, publishes
  ``on_ok``/``on_error`` events, appends the records, then settles with the
  queue. A crash between steps repeats them; each is idempotent.

Peers that are briefly away are retried with backoff (``Peer.call_until_done``):
an outcome is never dropped. ``shutdown()`` stops leasing and waits until every
leased delivery is settled.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import trio

from jobico.component import Context
from jobico.errors import JobicoError, UserError
from jobico.executor import settle
from jobico.executor.limits import RunResult
from jobico.executor.outcome import NO_CODE
from jobico.executor.peer import Peer, backoff_s
from jobico.executor.sandbox import LoadedModule, Sandbox

REPORT_BATCH = 256
POST_EVERY = 16  # results a worker thread hands back to the trio loop at once ...
POST_AFTER_S = 0.005  # ... or sooner, once the oldest of them has waited this long
IDLE_POLL_S = (0.005, 0.1)  # when the queue answers an empty lease at once
LEASE_WAIT_MS = 500  # the queue holds an empty lease this long; bounds how long shutdown waits


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
        self.window = max(conf.batch, conf.max_concurrency)
        self.limiter = trio.CapacityLimiter(conf.max_concurrency)
        self.queue = Peer("queue", ctx.connect, ctx.log)
        self.recorder = Peer("recorder", ctx.connect, ctx.log)
        self.catalog: dict[str, Any] | None = None
        self.sandbox: Sandbox | None = None
        self.runs: Counter[str] = Counter()
        self._catalog_ready = trio.Event()
        self._outstanding = 0
        self._room = trio.Event()
        self._idle = trio.Event()
        self._stopping = False
        self._waiting = trio.CancelScope()
        self._lease_stopped = trio.Event()
        self._done_in, self._done_out = trio.open_memory_channel[Done](math.inf)
        self._loaded: dict[tuple[str, str, str], LoadedModule] = {}
        self._validators: dict[str, Any] = {}

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. **Cancellation:** waits for runs already on threads."""
        self.sandbox = await trio.to_thread.run_sync(Sandbox, self.ctx.home.cache)
        await self._release_predecessors_leases()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_catalog)
                nursery.start_soon(self._report)
                nursery.start_soon(self._lease_loop, nursery)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await self.queue.aclose()
                await self.recorder.aclose()
            self.sandbox.close()

    async def _release_predecessors_leases(self) -> None:
        """A previous process of this name may have died holding leases: free them now
        so its events run again at once, not after ``lease_ms``. Best effort: with the
        queue not up yet, the leases simply expire."""
        try:
            with trio.move_on_after(2):
                await self.queue.call("release", {"worker": self.ctx.name})
        except JobicoError as exc:
            self.ctx.log.info("could not release earlier leases (%s); they will expire", exc)

    async def shutdown(self) -> None:
        """Stop leasing; return once every leased delivery has been reported and settled."""
        self._stopping = True
        self._waiting.cancel()
        await self._lease_stopped.wait()
        if self._outstanding:
            await self._idle.wait()

    async def status(self) -> dict[str, Any]:
        return {
            "catalog_version": (self.catalog or {}).get("version"),
            "in_flight": self._outstanding,
            "runs": dict(self.runs),
            "compiles": self.sandbox.compiles if self.sandbox else 0,
        }

    # --- catalog -------------------------------------------------------------

    async def _follow_catalog(self) -> None:
        failures = 0
        while True:
            try:
                async with await self.ctx.connect("ctl") as client, client.stream("catalog", {}) as items:
                    async for document in items:
                        self.catalog = document
                        self._catalog_ready.set()
                        failures = 0
            except JobicoError as exc:
                failures += 1
                if failures == 1:  # at start-up ctl may simply not be up yet
                    level = logging.WARNING if self.catalog is not None else logging.INFO
                    self.ctx.log.log(level, "no catalog stream from ctl (%s); reconnecting", exc)
            await trio.sleep(backoff_s(max(failures, 1)))

    # --- leasing and running -------------------------------------------------

    async def _lease_loop(self, nursery: trio.Nursery) -> None:
        """Lease while there is room; ``shutdown`` interrupts only its waits, never a lease call."""
        conf = self.ctx.config.executor
        idle, failures = IDLE_POLL_S[0], 0
        try:
            await self._pause(self._catalog_ready.wait)
            while not self._stopping:
                window = settle.safe_window(
                    self.window, conf.max_concurrency, conf.lease_ms, self.catalog or {}
                )
                free = min(window - self._outstanding, conf.batch)
                if free <= 0:
                    self._room = trio.Event()
                    await self._pause(self._room.wait)
                    continue
                params = {
                    "worker": self.ctx.name,
                    "max": free,
                    "lease_ms": conf.lease_ms,
                    "wait_ms": LEASE_WAIT_MS,
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
                if not deliveries:
                    await self._pause(functools.partial(trio.sleep, idle))
                    idle = min(idle * 2, IDLE_POLL_S[1])
                    continue
                idle = IDLE_POLL_S[0]
                self._outstanding += len(deliveries)
                nursery.start_soon(self._dispatch, nursery, deliveries, self.catalog or {})
        finally:
            self._lease_stopped.set()

    async def _pause(self, wait: Callable[[], Awaitable[object]]) -> None:
        """Wait for ``wait()``, or until ``shutdown`` begins."""
        with trio.CancelScope() as self._waiting:
            if not self._stopping:
                await wait()

    async def _dispatch(
        self, nursery: trio.Nursery, deliveries: list[dict[str, Any]], catalog: dict[str, Any]
    ) -> None:
        """Skip deliveries already recorded ok; run the others on up to ``max_concurrency`` threads."""
        ids = [d["id"] for d in deliveries]
        reply = await self.recorder.call_until_done("ok_ids", {"event_ids": ids})
        already = set(reply) if not isinstance(reply, dict) else {k for k, v in reply.items() if v}
        runnable: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for delivery in deliveries:
            job = (
                catalog.get("tenants", {})
                .get(delivery["tenant"], {})
                .get("events", {})
                .get(delivery["event"])
            )
            if delivery["id"] in already:
                self._done_in.send_nowait(Done(delivery, job, catalog))
            elif job is None:
                why = (
                    f"no job for event {delivery['event']!r} of tenant {delivery['tenant']!r} "
                    f"in catalog version {catalog.get('version')}"
                )
                self._done_in.send_nowait(Done(delivery, None, catalog, reason=why))
            else:
                runnable.append((delivery, job))
        work: deque[tuple[dict[str, Any], dict[str, Any], LoadedModule]] = deque()
        for delivery, job in runnable:
            try:
                work.append((delivery, job, await self._load(job)))
            except (UserError, OSError) as exc:
                self._finished([Done(delivery, job, catalog, _host_failure(
                    f"cannot load module {job.get('wasm')!r}: {exc}"), time.time())])
        token = trio.lowlevel.current_trio_token()
        for _ in range(min(len(work), self.limiter.total_tokens)):
            nursery.start_soon(functools.partial(
                trio.to_thread.run_sync, self._run_all, work, catalog, token, limiter=self.limiter))

    def _run_all(self, work: deque[tuple[dict[str, Any], dict[str, Any], LoadedModule]],
                 catalog: dict[str, Any], token: trio.lowlevel.TrioToken) -> None:
        """On a worker thread: run deliveries from ``work`` until it is empty.

        Several threads share one ``work`` (up to ``max_concurrency``), so a batch
        costs one thread hand-off per thread rather than one per event (measured
        in docs/performance.md). Results go back to the reporter in groups of up
        to ``POST_EVERY``, or as soon as ``POST_AFTER_S`` has passed since the
        oldest one was ready: one wake-up of the trio loop per group, not per
        event. Never raises for a bad event: an unexpected host-side failure is
        recorded as an ``error`` with ``code = -1`` and the reason, so it goes
        through retries and the dead-letter log instead of crashing us.
        """
        sandbox = self.sandbox
        assert sandbox is not None
        ready: list[Done] = []
        oldest = 0.0
        while True:
            try:
                delivery, job, loaded = work.popleft()
            except IndexError:  # empty, or another thread took the last one
                break
            started_at = time.time()
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
            if not ready:
                oldest = time.monotonic()
            ready.append(Done(delivery, job, catalog, result, started_at))
            if len(ready) >= POST_EVERY or time.monotonic() - oldest >= POST_AFTER_S:
                token.run_sync_soon(self._finished, ready)
                ready = []
        if ready:
            token.run_sync_soon(self._finished, ready)

    def _finished(self, done: list[Done]) -> None:
        for item in done:
            assert item.result is not None
            self.runs[item.result.status] += 1
            self._done_in.send_nowait(item)

    async def _load(self, job: dict[str, Any]) -> LoadedModule:
        key = (job["module_sha256"], job.get("abi") or "auto", job.get("entry") or "event")
        loaded = self._loaded.get(key)
        if loaded is None:
            path = self.ctx.home.blobs / f"{key[0]}.wasm"
            sandbox = self.sandbox
            assert sandbox is not None

            def compile_() -> LoadedModule:
                return sandbox.load(path.read_bytes(), key[0], abi=key[1], entry=key[2])

            loaded = self._loaded[key] = await trio.to_thread.run_sync(compile_, limiter=self.limiter)
        return loaded

    # --- reporting -----------------------------------------------------------

    async def _report(self) -> None:
        async for first in self._done_out:
            batch = [first]
            while len(batch) < REPORT_BATCH:
                try:
                    batch.append(self._done_out.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._publish(batch)
            self._outstanding -= len(batch)
            self._room.set()
            if self._stopping and not self._outstanding:
                self._idle.set()

    async def _publish(self, batch: list[Done]) -> None:
        records, settles = [], []
        for done in batch:
            outcome = settle.settlement(done.delivery, done.job, done.result, done.reason)
            settles.append(outcome)
            if done.result is None or done.job is None:
                continue
            entry = settle.record(done.delivery, done.job, done.result, done.started_at)
            follow = settle.chained(done.delivery, done.job, done.result, outcome["outcome"])
            if follow is not None:
                problem = await self._publish_chained(follow, done.catalog)
                if problem:
                    entry["logs"].append({"level": "error", "message": problem})
            records.append(entry)
        if records:
            await self.recorder.call_until_done("append", {"records": records})
        try:
            await self.queue.call_until_done("settle", {"results": settles})
        except JobicoError as exc:  # e.g. leases that expired meanwhile: redelivered, recorded once
            self.ctx.log.warning("settle of %d deliveries refused: %s", len(settles), exc)

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
                validator = self._validators[key] = jsonschema_rs.validator_for(schema)
            errors = [
                f"/{'/'.join(map(str, e.instance_path))}: {e.message}"
                for e in validator.iter_errors(follow.item)
            ]
            if errors:
                return f"follow-up event {follow.event!r} fails its schema: {'; '.join(errors[:5])}"
        params = {
            "tenant": follow.tenant,
            "event": follow.event,
            "items": [json.dumps(follow.item).encode()],
            "key": follow.key,
        }
        try:
            await self.queue.call_until_done("enqueue", params)
        except JobicoError as exc:
            return f"follow-up event {follow.event!r} refused by the queue: {exc}"
        return None


def _host_failure(reason: str) -> RunResult:
    return RunResult("error", NO_CODE, "", [], False, reason, 0.0)
