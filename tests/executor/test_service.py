"""The executor against real sockets: fake ctl, queue and recorder served by trio_shell."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from jobico.component import Context
from jobico.config import Config, ExecutorConfig
from jobico.errors import Unavailable
from jobico.executor.service import ExecutorService
from jobico.home import Home
from jobico.rpc import trio_shell

from . import guests

SCHEMA = {"type": "object", "required": ["event_id", "code", "result", "input"]}


def job(event: str, module: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "tenant": "acme", "package": "pkg", "event": event, "schema": None, "schema_sha256": None,
        "wasm": f"{event}.wasm", "module_sha256": guests.sha256(module), "abi": "auto",
        "entry": "event", "timeout_ms": 300, "memory_mb": 16, "max_attempts": 2, "on_ok": None,
        "on_error": None, **extra,
    }  # fmt: skip


CATALOG = {
    "version": 7,
    "tenants": {
        "acme": {
            "events": {
                "greet": job("greet", guests.ECHO, on_ok="welcome"),
                "fails": job("fails", guests.FAIL, on_error="failed"),
                "spin": job("spin", guests.SPIN),
                "noblob": job("noblob", guests.TRAP),  # its blob is never written
                "chain-bad": job("chain-bad", guests.ECHO, on_ok="strict"),
                "welcome": job("welcome", guests.ECHO, schema=SCHEMA, schema_sha256="s1"),
                "failed": job("failed", guests.ECHO, schema=SCHEMA, schema_sha256="s1"),
                "strict": job("strict", guests.ECHO, schema={"required": ["nope"]}, schema_sha256="s2"),
            },
            "packages": {},
        },
        "globex": {"events": {"greet": job("greet", guests.ECHO)}, "packages": {}},
    },
}


ENQUEUED_AT = 1_800_000_000.25


def delivery(
    event_id: str, event: str, attempt: int = 1, item: Any = None, tenant: str = "acme"
) -> dict[str, Any]:
    body = json.dumps(item if item is not None else {"id": event_id}).encode()
    return {"id": event_id, "tenant": tenant, "event": event, "attempt": attempt, "body": body,
            "enqueued_at": ENQUEUED_AT}  # fmt: skip


class Fakes:
    """ctl, queue and recorder in one object; ``log`` keeps the order of calls."""

    def __init__(self, pending: list[dict[str, Any]], ok: set[str] = frozenset(),  # type: ignore[assignment]
                 catalog: dict[str, Any] = CATALOG) -> None:
        self.catalog = catalog
        self.pending = pending
        self.ok = set(ok)
        self.log: list[tuple[str, Any]] = []
        self.settled: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.enqueued: list[dict[str, Any]] = []
        self.all_settled = trio.Event()
        self.all_leased = trio.Event()
        self.expected = len(pending)
        self.leases: list[dict[str, Any]] = []  # the params of every lease call
        self.renewed: list[str] = []
        self.appends: list[list[dict[str, Any]]] = []

    async def stream_catalog(self, params: Any) -> AsyncIterator[dict[str, Any]]:
        yield self.catalog
        await trio.sleep_forever()

    async def rpc_lease(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.leases.append(params)
        taken, self.pending = self.pending[: params["max"]], self.pending[params["max"] :]
        if not self.pending:
            self.all_leased.set()
        return taken

    async def rpc_settle(self, params: dict[str, Any]) -> dict[str, Any]:
        assert params["worker"] == "executor-1"
        for result in params["results"]:
            self.log.append(("settle", result["id"]))
            self.settled[result["id"]] = result
        if len(self.settled) >= self.expected:
            self.all_settled.set()
        return {"applied": [r["id"] for r in params["results"]], "stale": []}

    async def rpc_renew(self, params: dict[str, Any]) -> dict[str, Any]:
        assert params["worker"] == "executor-1"
        self.renewed += params["ids"]
        return {"renewed": params["ids"], "lost": []}

    async def rpc_release(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"released": 0}

    async def rpc_enqueue(self, params: dict[str, Any]) -> dict[str, Any]:
        self.log.append(("enqueue", params["key"]))
        self.enqueued.append(params)
        return {"ids": ["e1"], "duplicate": False}

    async def rpc_append(self, params: dict[str, Any]) -> dict[str, Any]:
        self.appends.append(params["records"])
        for record in params["records"]:
            self.log.append(("append", record["event_id"]))
            self.records[record["event_id"]] = record
        return {"stored": [True] * len(params["records"])}

    async def rpc_ok_ids(self, params: dict[str, Any]) -> list[str]:
        return [i for i in params["event_ids"] if i in self.ok]


class DownFirst(Fakes):
    """A recorder that is unavailable for its first calls, as while restarting."""

    def __init__(self, *args: Any, failures: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def rpc_append(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise Unavailable("recorder restarting")
        return await super().rpc_append(params)


async def start(nursery: trio.Nursery, home: Home, fakes: Fakes, **executor: int) -> ExecutorService:
    for name in ("ctl", "queue", "recorder"):
        await nursery.start(trio_shell.serve, home.socket(name), fakes)
    conf = ExecutorConfig(**{"max_concurrency": 2, "batch": 8, **executor})
    config = dataclasses.replace(Config(), executor=conf)
    ctx = Context(home=home, config=config, name="executor-1", log=logging.getLogger("test"))
    service = ExecutorService(ctx)
    await nursery.start(service.run)
    return service


@pytest.mark.trio
async def test_runs_records_publishes_and_settles(home: Home) -> None:
    fakes = Fakes([delivery("a1", "greet"), delivery("b1", "fails"), delivery("c1", "fails", attempt=2)])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    ok = fakes.records["a1"]
    assert ok["id"] == "a1-1" and ok["status"] == "ok" and ok["result"] == '{"id": "a1"}'
    assert ok["package"] == "pkg" and ok["module_sha256"] == guests.sha256(guests.ECHO)
    assert ok["started_at"].endswith("Z") and ok["reason"] is None
    assert ok["accepted_at"] == "2027-01-15T08:00:00.250Z"  # the delivery's enqueued_at
    assert fakes.settled["a1"]["outcome"] == "ack"
    retry = fakes.settled["b1"]
    assert retry["outcome"] == "retry" and 750 <= retry["delay_ms"] <= 1250
    assert fakes.records["b1"]["status"] == "error" and fakes.records["b1"]["code"] == 7
    assert fakes.settled["c1"]["outcome"] == "dead"
    assert {(e["scope"], e["digest"]) for e in fakes.enqueued} == {("platform", None)}
    published = {e["key"]: (e["event"], json.loads(e["items"][0])) for e in fakes.enqueued}
    assert published["a1:on_ok"] == (
        "welcome",
        {"event_id": "a1", "code": 0, "result": '{"id": "a1"}', "input": {"id": "a1"}},
    )
    assert published["c1:on_error"][0] == "failed"
    assert "b1:on_error" not in published  # not the last attempt yet
    for event_id in ("a1", "c1"):  # follow-up, then record, then settle
        order = [kind for kind, key in fakes.log if key.startswith(event_id)]
        assert order == ["enqueue", "append", "settle"]


@pytest.mark.trio
async def test_already_ok_events_are_acked_without_running(home: Home) -> None:
    fakes = Fakes([delivery("a1", "greet"), delivery("a2", "greet")], ok={"a1"})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert set(fakes.records) == {"a2"}
    assert fakes.settled["a1"]["outcome"] == "ack"


@pytest.mark.trio
async def test_a_follow_up_failing_its_schema_is_not_published_but_logged(home: Home) -> None:
    fakes = Fakes([delivery("x1", "chain-bad")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.enqueued == []
    (note,) = fakes.records["x1"]["logs"]
    assert note["level"] == "error" and "'strict'" in note["message"] and "nope" in note["message"]


@pytest.mark.trio
async def test_an_unknown_event_is_retried_without_a_record(home: Home) -> None:
    fakes = Fakes([delivery("u1", "gone")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.records == {}
    assert fakes.settled["u1"]["outcome"] == "retry" and "'gone'" in fakes.settled["u1"]["reason"]


@pytest.mark.trio
async def test_a_briefly_unavailable_recorder_loses_nothing(home: Home) -> None:
    fakes = DownFirst([delivery("a1", "greet"), delivery("b1", "fails")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.failures == 0
    assert set(fakes.records) == {"a1", "b1"}
    assert fakes.log.index(("append", "a1")) < fakes.log.index(("settle", "a1"))


@pytest.mark.trio
async def test_shutdown_finishes_in_flight_runs(home: Home) -> None:
    fakes = Fakes([delivery("s1", "spin")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes)
            await fakes.all_leased.wait()
            await service.shutdown()
            assert fakes.settled["s1"]["outcome"] == "retry"
            assert fakes.records["s1"]["status"] == "timeout"
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_module_that_cannot_be_loaded_is_a_recorded_failure(home: Home) -> None:
    fakes = Fakes([delivery("m1", "noblob")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    record = fakes.records["m1"]
    assert (record["status"], record["code"]) == ("error", -1)
    assert "cannot load module 'noblob.wasm'" in record["reason"]
    assert fakes.settled["m1"]["outcome"] == "retry"
