"""The executor with the real queue (memory backend) and recorder on real sockets.

Only ctl is a stand-in (it serves a fixed catalog). This checks the executor
against the other components' actual RPC shapes, not just against our reading
of docs/internals.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import trio

from jobico.component import Context, component_methods
from jobico.config import Config, ExecutorConfig, QueueConfig
from jobico.ctl import api as ctl_api
from jobico.executor.service import ExecutorService
from jobico.home import Home
from jobico.queue.service import QueueService
from jobico.recorder.service import RecorderService
from jobico.rpc import trio_shell
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

from .test_service import CATALOG

# greet ok -> welcome ok; fails: 2 attempts (the retry ~1 s later), dead -> failed ok
EXPECTED_RUNS = 5


async def catalog_stream(request: Empty) -> AsyncGenerator[ctl_api.Catalog, None]:
    yield ctl_api.Catalog.from_wire(CATALOG)
    await trio.sleep_forever()


CTL = Methods().stream(ctl_api.catalog_stream, catalog_stream)


def context(home: Home, name: str) -> Context:
    config = dataclasses.replace(
        Config(),
        executor=ExecutorConfig(max_concurrency=2, batch=8),
        queue=QueueConfig(backend="memory", fsync=False),
    )
    return Context(home=home, config=config, name=name, log=logging.getLogger(f"test.{name}"))


async def serve(nursery: trio.Nursery, home: Home, name: str, service: Any) -> None:
    await nursery.start(service.run)
    await nursery.start(trio_shell.serve, home.socket(name), component_methods(context(home, name), service))


@pytest.mark.trio
async def test_events_flow_through_queue_executor_and_recorder(home: Home) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, home.socket("ctl"), CTL)
            await serve(nursery, home, "queue", QueueService(context(home, "queue")))
            await serve(nursery, home, "recorder", RecorderService(context(home, "recorder")))
            await nursery.start(ExecutorService(context(home, "executor-1")).run)
            async with await trio_shell.connect(home.socket("queue")) as queue:
                for event in ("greet", "fails"):
                    items = [json.dumps({"who": event}).encode()]
                    await queue.call(
                        "enqueue", {"tenant": "acme", "event": event, "items": items, "key": None}
                    )
                async with await trio_shell.connect(home.socket("recorder")) as recorder:
                    records: list[dict[str, Any]] = []
                    while len(records) < EXPECTED_RUNS:
                        await trio.sleep(0.05)
                        records = await recorder.call("query", {"tenant": "acme", "limit": 50})
                    dead = await queue.call("dead", {"tenant": "acme"})
            nursery.cancel_scope.cancel()
    by_event: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: r["attempt"]):
        by_event.setdefault(record["event"], []).append(record["status"])
    assert by_event == {
        "greet": ["ok"],
        "fails": ["error", "error"],
        "welcome": ["ok"],
        "failed": ["ok"],
    }
    welcome = next(r for r in records if r["event"] == "welcome")
    assert json.loads(welcome["result"])["input"] == {"who": "greet"}
    assert [d["event"] for d in dead] == ["fails"]
