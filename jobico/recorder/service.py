"""The recorder component: the store behind RPC, group commit, follow streams, retention.

RPC (docs/internals.md, recorder): ``append {"records"}`` -> ``{"stored": [bool],
"refused": [[index, reason]]}`` once durable (a malformed record, or one over
``caps.MAX_RECORD_BYTES`` encoded, is refused on its own; ``Unavailable`` when the
fsync failed, see ``commit.py``); ``query {filters, "limit", "before"}`` -> records newest
first, after the record ``before`` names when given (paging); ``get {"id"}``;
``attempts {"event_id"}`` -> every run of an event; ``ok_ids {"event_ids"}`` ->
the ids that already have an ``ok``; ``stats`` -> the store's size and the metrics
counters (``stats.py``: runs, retries, run time, queue wait and end-to-end latency,
kept in ``counters.json`` every ``SAVE_COUNTERS_S`` and on the way out);
stream ``follow {filters, "backlog"}`` -> the last ``backlog`` matching records
(oldest first), then every new one as it becomes durable. ``follow`` takes no
``before``: what it streams live is newer than any record, so it would match none.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from jobico.errors import UserError
from jobico.recorder.commit import GroupCommit
from jobico.recorder.follow import Hub
from jobico.recorder.records import Filter, count_param
from jobico.recorder.store import DAY, Store
from jobico.repo.files import atomic_write

if TYPE_CHECKING:
    from jobico.component import Context

SWEEP_INTERVAL_S = DAY
SAVE_COUNTERS_S = 1.0  # how much counting a restart redoes from the segments, at most
GC_YOUNG_THRESHOLD = 50_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def _params(params: object) -> Mapping[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise UserError(f"expected a map of parameters, got {type(params).__name__}")
    return params


def _string(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise UserError(f"{key}: required, a non-empty string")
    return value


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

    async def rpc_append(self, params: object) -> dict[str, list[Any]]:
        records = _params(params).get("records")
        if not isinstance(records, list):
            raise UserError("records: required, a list of execution records")
        assert self._commit is not None
        stored, refused = await self._commit.append(records)
        return {"stored": stored, "refused": [list(r) for r in refused]}

    async def rpc_query(self, params: object) -> list[dict[str, Any]]:
        given = _params(params)
        where = Filter.from_params(given, counts=("limit", "before"))
        before = given.get("before")
        if before is not None and (not isinstance(before, str) or not before):
            raise UserError(f"before: expected an execution id, got {before!r}")
        return self.store.query(where, count_param(given, "limit", DEFAULT_LIMIT, MAX_LIMIT),
                                before)

    async def rpc_get(self, params: object) -> dict[str, Any]:
        return self.store.get(_string(_params(params), "id"))

    async def rpc_attempts(self, params: object) -> list[dict[str, Any]]:
        return self.store.attempts(_string(_params(params), "event_id"))

    async def rpc_ok_ids(self, params: object) -> list[str]:
        event_ids = _params(params).get("event_ids")
        if not isinstance(event_ids, list) or not all(isinstance(i, str) for i in event_ids):
            raise UserError("event_ids: required, a list of event id strings")
        return sorted(self.store.ok_ids(event_ids))

    async def rpc_stats(self, params: object) -> dict[str, Any]:
        return self.store.stats()

    async def stream_follow(self, params: object) -> AsyncIterator[dict[str, Any]]:
        """Backlog then live records; Errors: ``Unavailable`` for a subscriber left behind."""
        given = _params(params)
        where = Filter.from_params(given, counts=("backlog",))
        backlog = count_param(given, "backlog", 0, MAX_LIMIT)

        def oldest_first() -> list[dict[str, Any]]:
            return self.store.query(where, backlog)[::-1]

        async with aclosing(self._hub.follow(where, oldest_first)) as records:
            async for record in records:
                yield record
