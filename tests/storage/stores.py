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
from jobico.queue.file_backend import FileBackend
from jobico.queue.service import QueueService
from jobico.recorder import frames as recorder_frames
from jobico.recorder.records import Filter
from jobico.recorder.store import Store
from tests.recorder.conftest import rec, running


class Serving(Protocol):
    async def put(self, n: int) -> list[str]:
        """Store record ``n``; returns the keys the reply names, once it says they are durable."""


class StoreKind(Protocol):
    name: str

    def serving(self, home: Path) -> AbstractAsyncContextManager[Serving]:
        """The store's component on a home at ``home``, serving until the block ends."""

    def folder(self, home: Path) -> Path:
        """Where the store keeps its segments."""

    def ends(self, home: Path) -> dict[str, tuple[str, int]]:
        """Each stored key -> (its segment's path, where its record ends in it)."""

    def reopened(self, home: Path) -> tuple[list[str], int]:
        """The keys a restart finds (each as often as found), and how many damaged records."""


class _QueueServing:
    def __init__(self, service: QueueService) -> None:
        self._service = service

    async def put(self, n: int) -> list[str]:
        reply = await self._service.rpc_enqueue({"tenant": f"t{n % 4}", "event": "e", "items": [b"%d" % n]})
        assert not reply["duplicate"] and len(reply["ids"]) == 1
        return list(reply["ids"])


class QueueKind:
    name = "queue"

    @asynccontextmanager
    async def serving(self, home: Path) -> AsyncIterator[Serving]:
        # no ctl serves here: the queue runs without package caps, as before ctl is up
        ctx = Context(home=Home(home), config=Config(), name="queue", log=logging.getLogger("test.queue"))
        service = QueueService(ctx)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                yield _QueueServing(service)
                await service.shutdown()

    def folder(self, home: Path) -> Path:
        return Home(home).queue / "log"

    def ends(self, home: Path) -> dict[str, tuple[str, int]]:
        ends = {}
        for segment in self.folder(home).glob("*.seg"):
            for offset, length, record in log_records.scan(segment.read_bytes()):
                if record[0] == log_records.ITEMS:
                    ends.update((f"{n:016x}", (str(segment), offset + length)) for n, _ in record[7])
        return ends

    def reopened(self, home: Path) -> tuple[list[str], int]:
        q = FileBackend(Home(home).queue)
        q.recover()
        try:
            return [d.id for d in q.lease("w", 10_000, 30_000)], len(q.damaged)
        finally:
            q.close()


class _RecorderServing:
    def __init__(self, service: Any) -> None:
        self._service = service

    async def put(self, n: int) -> list[str]:
        event_id = f"{n:016x}"
        reply = await self._service.rpc_append({"records": [rec(event_id, at=time.time())]})
        assert reply == {"stored": [True], "refused": []}
        return [event_id]


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
                ends[record["event_id"]] = (str(segment), offset + length)
        return ends

    def reopened(self, home: Path) -> tuple[list[str], int]:
        store = Store(self.folder(home))
        try:
            return [r["event_id"] for r in store.query(Filter(), 10_000)], store.stats()["damaged"]
        finally:
            store.close()


KINDS = [QueueKind(), RecorderKind()]
