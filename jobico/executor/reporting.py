"""Reporting finished runs: publish follow-ups, append the records, then settle with the queue.

The reporter takes what is ready in batches of up to ``REPORT_BATCH`` and, in this
order, publishes ``on_ok``/``on_error`` events (``chaining.py``), appends the
records to the recorder, then settles with the queue. A crash between steps
repeats them; each is idempotent. A record over the cap or refused by the
recorder dead-letters its event (``settle.py``). Peers that are briefly away are
retried with backoff (``Peer.retrying``): an outcome is never dropped.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio

from jobico.component import Context
from jobico.ctl.api import Catalog, Job
from jobico.errors import JobicoError
from jobico.executor import settle
from jobico.executor.chaining import Chaining
from jobico.executor.limits import RunResult
from jobico.queue import api as queue_api
from jobico.recorder import api as recorder_api
from jobico.rpc.peer import Peer

REPORT_BATCH = 256


@dataclass(slots=True)
class Done:
    """A delivery ready to report: its run's result, or why it was not run."""

    delivery: queue_api.Delivery
    job: Job | None
    catalog: Catalog  # the version it was leased under: its follow-up is published as that one says
    result: RunResult | None = None
    started_at: float = 0.0
    reason: str = ""  # set when there was no run (no job); empty + no result = already ok


class Reporter:
    """Reports what ``add`` hands it, in order; ``forget`` is told each batch is settled."""

    def __init__(self, ctx: Context, queue: Peer, recorder: Peer, chaining: Chaining,
                 forget: Callable[[Iterable[str]], None]) -> None:
        self._ctx = ctx
        self._queue = queue
        self._recorder = recorder
        self._chaining = chaining
        self._forget = forget
        self.runs: Counter[str] = Counter()  # runs by status, for ``status``
        self._ready: deque[Done] = deque()
        self._added = trio.Event()

    def add(self, done: Iterable[Done]) -> None:
        """On the trio loop: queue these for reporting."""
        for item in done:
            if item.result is not None:
                self.runs[item.result.status] += 1
            self._ready.append(item)
        self._added.set()

    async def run(self) -> None:
        """Report until cancelled."""
        ready = self._ready
        while True:
            await self._added.wait()
            self._added = trio.Event()
            while ready:
                batch = [ready.popleft() for _ in range(min(len(ready), REPORT_BATCH))]
                await self._report(batch)
                self._forget(done.delivery.id for done in batch)

    async def _report(self, batch: list[Done]) -> None:
        records: list[dict[str, Any]] = []
        sizes: list[int] = []  # records[i] encoded, in bytes: measured once, for the cap and the chunks
        owners: list[int] = []  # records[i] is the run of batch[owners[i]]
        settles: list[queue_api.Settlement] = []
        for index, done in enumerate(batch):
            outcome = settle.settlement(done.delivery, done.job, done.result, done.reason)
            settles.append(outcome)
            if done.result is None or done.job is None:
                continue
            entry = settle.record(done.delivery, done.job, done.result, done.started_at)
            size = settle.encoded_size(entry)
            too_big = settle.oversize(size)
            if too_big:  # the recorder would refuse it: never send it, never retry it
                entry = settle.refused(entry, too_big)
                size = settle.encoded_size(entry)
                settles[index] = settle.dead_letter(done.delivery, entry["reason"])
            elif follow := settle.chained(done.delivery, done.job, done.result, outcome.outcome):
                problem = await self._chaining.publish(follow, done.catalog)
                if problem:
                    entry["logs"].append({"level": "error", "message": problem})
                    size = settle.encoded_size(entry)
            records.append(entry)
            sizes.append(size)
            owners.append(index)
        if records:
            refusals = await self._append(records, sizes)
            if refusals:
                small = [settle.refused(records[i], reason) for i, reason in refusals.items()]
                for i, entry in zip(refusals, small, strict=True):
                    settles[owners[i]] = settle.dead_letter(batch[owners[i]].delivery, entry["reason"])
                self._ctx.log.warning("the recorder refused %d records; their events are dead-lettered: %s",
                                      len(small), small[0]["reason"])
                if again := await self._append(small, [settle.encoded_size(entry) for entry in small]):
                    self._ctx.log.error("the recorder refused even the short records: %s",
                                        next(iter(again.values())))
        request = queue_api.Settle(self._ctx.name, tuple(settles))
        try:
            reply = await queue_api.settle(self._queue.retrying, request)
        except JobicoError as exc:
            self._ctx.log.warning("settle of %d deliveries refused: %s", len(settles), exc)
            return
        if reply.stale:  # our lease had lapsed and another worker holds them: it settles them
            self._ctx.log.warning("%d results were stale, e.g. event %s", len(reply.stale), reply.stale[0])
        self._log_failures(batch, settles, set(reply.applied))

    async def _append(self, records: list[dict[str, Any]], sizes: list[int]) -> dict[int, str]:
        """Append in calls of at most ``settle.MAX_APPEND_BYTES`` (``sizes``: each record's,
        encoded); the refused records, by index."""
        refusals: dict[int, str] = {}
        for part in settle.chunks(sizes, settle.MAX_APPEND_BYTES):
            request = recorder_api.Append([records[i] for i in part])
            reply = await recorder_api.append(self._recorder.retrying, request)
            for refusal in reply.refused:
                refusals[part[refusal.index]] = refusal.reason
        return refusals

    def _log_failures(
        self, batch: list[Done], settles: list[queue_api.Settlement], applied: set[str]
    ) -> None:
        """One line per retry or dead letter, with the event's ids as fields (``log.format = "json"``)
        so an operator can follow an event through the logs; ``%r`` keeps guest text on one line."""
        log = self._ctx.log
        for done, entry in zip(batch, settles, strict=True):
            if entry.outcome == "ack" or entry.id not in applied:
                continue
            d = done.delivery
            fields = {"event_id": d.id, "tenant": d.tenant, "event": d.event, "attempt": d.attempt,
                      "reason": entry.reason}
            if entry.outcome == "retry":
                log.info("event %s (%s/%s) attempt %d failed, retry in %d ms: %r", d.id, d.tenant, d.event,
                         d.attempt, entry.delay_ms, entry.reason,
                         extra={**fields, "delay_ms": entry.delay_ms})
            else:
                log.warning("event %s (%s/%s) dead-lettered after attempt %d: %r", d.id, d.tenant, d.event,
                            d.attempt, entry.reason, extra=fields)
