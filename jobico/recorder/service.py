"""The recorder component: the store behind RPC, group commit, follow streams, retention.

Its contract is ``jobico.recorder.api`` (``append``, ``query``, ``get``, ``attempts``,
``ok_ids``, ``stats``, stream ``follow``), answered as ``methods`` lists. An append is
answered once durable (``commit.py``: ``Unavailable`` when the fsync failed); the
metrics counters (``stats.py``) are kept in ``counters.json`` every ``SAVE_COUNTERS_S``
and on the way out. Records read back from the store were checked when stored, so
they are answered with ``api.Record.of``, not checked again.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from jobico.recorder import api
from jobico.recorder.commit import GroupCommit
from jobico.recorder.follow import Hub
from jobico.recorder.store import DAY, Store
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods
from jobico.storage.files import atomic_write

if TYPE_CHECKING:
    from jobico.component import Context

SWEEP_INTERVAL_S = DAY
SAVE_COUNTERS_S = 1.0  # how much counting a restart redoes from the segments, at most
GC_YOUNG_THRESHOLD = 50_000


def _keep_gc_off_the_index(loaded: bool) -> None:
    """Tune the cyclic GC of the recorder's own process: measured at 7-10 µs a record
    with the defaults, about a tenth of the recorder's CPU per appended record.

    Index entries live until retention and form no cycles, yet each full collection
    walked them all; and with a young generation of 700 objects, every batch's records
    were still alive (so walked) when one ran. So the young generation is collected
    every 50,000 allocations, by when most of a batch's objects are freed, and once
    loaded, what start-up built (imports, the rebuilt index) is frozen out of the scans.
    """
    if loaded:
        gc.freeze()
    else:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class RecorderService:
    """Execution records for one home, in ``<home>/.jobico/recorder/``."""

    def __init__(self, ctx: Context, *, own_process: bool = False) -> None:
        """``own_process``: the service is the process (``python -m jobico.recorder``), so it
        may tune the process-wide GC; never in a test runner's process."""
        self._ctx = ctx
        self._own_process = own_process
        self._hub = Hub()
        self._store: Store | None = None
        self._commit: GroupCommit | None = None

    def methods(self) -> Methods:
        return (Methods()
                .call(api.append, self.append)
                .call(api.query, self.query)
                .call(api.get, self.get)
                .call(api.attempts, self.attempts)
                .call(api.ok_ids, self.ok_ids)
                .call(api.stats, self.stats)
                .stream(api.follow, self.follow))

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the recorder is not running")
        return self._store

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Open the store (rebuilding the index) and apply retention, then serve:
        group commit and a daily retention sweep until cancelled.

        Cancellation: the store is synced and closed on the way out.
        Errors: ``OSError`` when the folder cannot be read, or cannot be cut back after a
        failed fsync (a failed fsync alone is ``Unavailable`` to the appends it covered).
        """
        retention = self._ctx.config.recorder.retention_days
        if self._own_process:
            _keep_gc_off_the_index(loaded=False)
        self._store = await trio.to_thread.run_sync(
            partial(Store, self._ctx.home.recorder, retention_days=retention))
        if self._own_process:
            _keep_gc_off_the_index(loaded=True)
        try:
            self._commit = GroupCommit(self._store, self._hub.publish)
            self._ctx.log.info("recorder: %d records loaded", len(self._store))
            self._sweep()
            async with trio.open_nursery() as nursery:
                await nursery.start(self._commit.run)
                nursery.start_soon(self._sweep_daily)
                nursery.start_soon(self._save_counters)
                task_status.started()
        finally:
            self._store.close()

    def _sweep(self) -> None:
        dropped = self.store.sweep()
        if dropped:
            self._ctx.log.info("retention: dropped %d segments", dropped)

    async def _sweep_daily(self) -> None:
        while True:
            await trio.sleep(SWEEP_INTERVAL_S)
            self._sweep()

    async def _save_counters(self) -> None:
        """Save the metrics counters off the trio thread (an fsync) while records come in.

        A failed save is logged and tried again: the counters stay right in memory,
        and a restart recounts from the last saved position.
        """
        while True:
            await trio.sleep(SAVE_COUNTERS_S)
            pending = self.store.counters_to_save()
            if pending is None:
                continue
            try:
                await trio.to_thread.run_sync(atomic_write, self.store.counters_path, pending[1])
            except OSError as exc:
                self._ctx.log.warning("recorder: cannot save the metrics counters: %s", exc)
                continue
            self.store.counters_saved(pending[0])

    async def shutdown(self) -> None:
        """Make every written record durable before the process stops."""
        if self._commit is not None:
            await self._commit.wait(self.store.written)

    async def status(self) -> dict[str, Any]:
        stats = self.store.stats()
        return {"records": stats["records"], "segments": stats["segments"],
                "bytes": stats["bytes"], "damaged": stats["damaged"],
                "damaged_bytes": stats["damaged_bytes"], "followers": len(self._hub)}

    async def append(self, request: api.Append) -> api.Appended:
        assert self._commit is not None
        stored, refused = await self._commit.append(request.wire_records())
        return api.Appended(tuple(stored), tuple(api.Refused(i, why) for i, why in refused))

    async def query(self, request: api.Query) -> api.Records:
        found = self.store.query(request.where, request.limit, request.before)
        return api.Records(tuple(map(api.Record.of, found)))

    async def get(self, request: api.Get) -> api.Record:
        return api.Record.of(self.store.get(request.id))

    async def attempts(self, request: api.Attempts) -> api.Records:
        return api.Records(tuple(map(api.Record.of, self.store.attempts(request.event_id))))

    async def ok_ids(self, request: api.EventIds) -> api.OkIds:
        return api.OkIds(tuple(sorted(self.store.ok_ids(request.event_ids))))

    async def stats(self, request: Empty) -> api.RecorderStats:
        return api.RecorderStats.from_wire(self.store.stats())

    async def follow(self, request: api.Follow) -> AsyncGenerator[api.Record, None]:
        """Backlog then live records; Errors: ``Unavailable`` for a subscriber left behind."""
        where, backlog = request.where, request.backlog

        def oldest_first() -> list[dict[str, Any]]:
            return self.store.query(where, backlog)[::-1]

        async with aclosing(self._hub.follow(where, oldest_first)) as records:
            async for record in records:
                yield api.Record.of(record)
