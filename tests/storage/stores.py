"""The two stores on the shared storage package, behind one face, so each shared test runs on both.

A ``Store`` driver puts numbered records through its component's RPC handler
(durable on return), reads its files back as a restart would, and finds where
each record ends on disk. Store-specific policies (what a resend after a failed
sync gives) stay in the stores' own suites.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import trio

from jobico.component import Context
from jobico.config import Config
from jobico.home import Home
from jobico.queue import log_records
from jobico.queue.api import Enqueue
from jobico.queue.file_backend import FileBackend
from jobico.queue.service import QueueService
from jobico.recorder import api as recorder_api
from jobico.recorder import frames as recorder_frames
from jobico.recorder.records import Filter
from jobico.recorder.store import Store
from tests.recorder.conftest import rec, running


class Serving(Protocol):
    async def put(self, n: int) -> list[str]:
        """Store ``1 + n % 3`` records in one call; returns their keys once the reply says
        they are durable."""


class StoreKind(Protocol):
    name: str

    def serving(self, home: Path) -> AbstractAsyncContextManager[Serving]:
        """The store's component on a home at ``home``, serving until the block ends."""

    def folder(self, home: Path) -> Path:
        """Where the store keeps its segments."""

    def ends(self, home: Path) -> dict[str, tuple[str, int]]:
        """Each stored key -> (its segment's path, where its record ends in it)."""

    def reopened(self, home: Path) -> tuple[list[str], list[tuple[Path, int, int]]]:
        """The keys a restart finds (each as often as found), and the damage it skipped:
        (file, offset, length)."""


class _QueueServing:
    def __init__(self, service: QueueService) -> None:
        self._service = service

    async def put(self, n: int) -> list[str]:
        items = [b"%d" % n] * (1 + n % 3)
        reply = await self._service.enqueue(Enqueue(f"t{n % 4}", "e", tuple(items)))
        assert not reply.duplicate and len(reply.ids) == len(items)
        return list(reply.ids)


@asynccontextmanager
async def queue_service(home: Path) -> AsyncIterator[QueueService]:
    """The queue component on a home at ``home``, serving until the block ends."""
    # no ctl serves here: the queue runs without package caps, as before ctl is up
    ctx = Context(home=Home(home), config=Config(), name="queue", log=logging.getLogger("test.queue"))
    service = QueueService(ctx)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            yield service
            await service.shutdown()


class QueueKind:
    name = "queue"

    @asynccontextmanager
    async def serving(self, home: Path) -> AsyncIterator[Serving]:
        async with queue_service(home) as service:
            yield _QueueServing(service)

    def folder(self, home: Path) -> Path:
        return Home(home).queue / "log"

    def ends(self, home: Path) -> dict[str, tuple[str, int]]:
        ends = {}
        for segment in self.folder(home).glob("*.seg"):
            for offset, length, record in log_records.scan(segment.read_bytes()):
                if record[0] == log_records.ITEMS:
                    ends.update((f"{n:016x}", (str(segment), offset + length)) for n, _ in record[7])
        return ends

    def reopened(self, home: Path) -> tuple[list[str], list[tuple[Path, int, int]]]:
        q = FileBackend(Home(home).queue)
        q.recover()
        try:
            damaged = [(p, d.offset, d.length) for p, d in q.damaged]
            return [d.id for d in q.lease("w", 10_000, 30_000)], damaged
        finally:
            q.release("w")  # a look, not a lease: the next restart finds them ready again
            q.close()


class _RecorderServing:
    def __init__(self, service: Any) -> None:
        self._service = service

    async def put(self, n: int) -> list[str]:
        runs = [rec(f"{n:015x}{i}", at=time.time()) for i in range(1 + n % 3)]
        reply = await self._service.append(recorder_api.Append(runs))
        assert reply.to_wire() == {"stored": [True] * len(runs), "refused": []}
        return [_key(run) for run in runs]


class RecorderKind:
    name = "recorder"

    @asynccontextmanager
    async def serving(self, home: Path) -> AsyncIterator[Serving]:
        async with running(home, timeout=30) as service:
            yield _RecorderServing(service)

    def folder(self, home: Path) -> Path:
        return Home(home).recorder

    def ends(self, home: Path) -> dict[str, tuple[str, int]]:
        ends = {}
        for segment in self.folder(home).glob("*.seg"):
            for offset, length, record in recorder_frames.scan(segment.read_bytes()):
                ends[_key(record)] = (str(segment), offset + length)
        return ends

    def reopened(self, home: Path) -> tuple[list[str], list[tuple[Path, int, int]]]:
        store = Store(self.folder(home))
        try:
            damaged = [(p, d.offset, d.length) for p, d in store.damaged]
            stats = store.stats()  # what the recorder reports of it
            assert (stats["damaged"], stats["damaged_bytes"]) == (len(damaged), sum(n for *_, n in damaged))
            return [_key(r) for r in store.query(Filter(), 10_000)], damaged
        finally:
            store.close()


def _key(record: dict[str, Any]) -> str:
    return f"{record['event_id']}-{record['attempt']}"


KINDS = [QueueKind(), RecorderKind()]
