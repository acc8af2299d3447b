"""Records as an executor would send them, a store on a temporary folder, a running service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from jobico.config import Config
from jobico.home import Home
from jobico.recorder.service import RecorderService
from jobico.recorder.store import Store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def rec(event_id: str = "0000000000000001", attempt: int = 1, status: str = "ok",
        tenant: str = "acme", event: str = "signup", at: float = T0, **extra: Any
        ) -> dict[str, Any]:
    """One execution record; ``at`` is its started_at in epoch seconds."""
    return {"event_id": event_id, "attempt": attempt, "status": status, "tenant": tenant,
            "package": "pkg", "event": event, "started_at": at, "duration_ms": 3.5,
            "result": f"result of {event_id}", "code": 0 if status == "ok" else 1,
            "logs": [{"level": "info", "message": "hi"}], "module_sha256": "ab" * 32,
            **extra}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "recorder")
    yield s
    s.close()


@asynccontextmanager
async def running(tmp_path: Path, timeout: float = 10) -> AsyncIterator[RecorderService]:
    """The recorder service on ``tmp_path``, serving until the block ends."""
    ctx = SimpleNamespace(home=Home(tmp_path), config=Config(), name="recorder",
                          log=logging.getLogger("test.recorder"))
    service = RecorderService(ctx)
    with trio.fail_after(timeout):
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            yield service
            nursery.cancel_scope.cancel()
