"""The executor against real sockets: fake ctl, queue and recorder served by trio_shell."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import trio

from jobico.component import Context
from jobico.config import Config, ExecutorConfig
from jobico.ctl import api as ctl_api
from jobico.errors import Unavailable
from jobico.executor.service import ExecutorService
from jobico.home import Home
from jobico.queue import api as queue_api
from jobico.recorder import api as recorder_api
from jobico.rpc import trio_shell
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

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


def eid(name: str) -> str:
    """The event id a test calls ``name``: 16 hex digits, as the queue's ids are ("a1" is
    "0000000000006131"); the fakes read their requests as the real queue and recorder do."""
    return name.encode().hex().rjust(16, "0")


def delivery(
    name: str, event: str, attempt: int = 1, item: Any = None, tenant: str = "acme"
) -> dict[str, Any]:
    """The delivery of event ``eid(name)``; its item is ``{"id": <its event id>}`` unless given."""
    event_id = eid(name)
    body = json.dumps(item if item is not None else {"id": event_id}).encode()
    return {"id": event_id, "tenant": tenant, "event": event, "attempt": attempt, "body": body,
            "enqueued_at": ENQUEUED_AT}  # fmt: skip


class Fakes:
    """ctl, queue and recorder in one object, served as one ``Methods`` table (``methods``);
    ``log`` keeps the order of calls. What they are sent is kept as its wire map."""

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

    def methods(self) -> Methods:
        return (Methods()
                .stream(ctl_api.catalog_stream, self.catalog_stream)
                .call(queue_api.lease, self.lease)
                .call(queue_api.settle, self.settle)
                .call(queue_api.renew, self.renew)
                .call(queue_api.release, self.release)
                .call(queue_api.enqueue, self.enqueue)
                .call(recorder_api.append, self.append)
                .call(recorder_api.ok_ids, self.ok_ids))

    async def catalog_stream(self, request: Empty) -> AsyncGenerator[ctl_api.Catalog, None]:
        yield ctl_api.Catalog.from_wire(self.catalog)
        await trio.sleep_forever()

    async def lease(self, request: queue_api.Lease) -> queue_api.Deliveries:
        self.leases.append(request.to_wire())
        return queue_api.Deliveries(tuple(map(queue_api.Delivery.from_wire, self.take(request.max))))

    def take(self, most: int) -> list[dict[str, Any]]:
        taken, self.pending = self.pending[:most], self.pending[most:]
        if not self.pending:
            self.all_leased.set()
        return taken

    async def settle(self, request: queue_api.Settle) -> queue_api.Settled:
        assert request.worker == "executor-1"
        for result in request.results:
            self.log.append(("settle", result.id))
            self.settled[result.id] = result.to_wire()
        if len(self.settled) >= self.expected:
            self.all_settled.set()
        return queue_api.Settled([r.id for r in request.results], [])

    async def renew(self, request: queue_api.Renew) -> queue_api.Renewed:
        assert request.worker == "executor-1"
        self.renewed += request.ids
        return queue_api.Renewed(list(request.ids), [])

    async def release(self, request: queue_api.Release) -> queue_api.Released:
        return queue_api.Released(0)

    async def enqueue(self, request: queue_api.Enqueue) -> queue_api.EnqueueResult:
        self.log.append(("enqueue", request.key))
        self.enqueued.append(request.to_wire())
        return queue_api.EnqueueResult(["e1"], False)

    async def append(self, request: recorder_api.Append) -> recorder_api.Appended:
        records = [dict(r) for r in request.wire_records()]
        self.appends.append(records)
        for record in records:
            self.log.append(("append", record["event_id"]))
            self.records[record["event_id"]] = record
        return recorder_api.Appended((True,) * len(records))

    async def ok_ids(self, request: recorder_api.EventIds) -> recorder_api.OkIds:
        return recorder_api.OkIds(tuple(i for i in request.event_ids if i in self.ok))


class DownFirst(Fakes):
    """A recorder that is unavailable for its first calls, as while restarting."""

    def __init__(self, *args: Any, failures: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def append(self, request: recorder_api.Append) -> recorder_api.Appended:
        if self.failures:
            self.failures -= 1
            raise Unavailable("recorder restarting")
        return await super().append(request)


async def start(nursery: trio.Nursery, home: Home, fakes: Fakes, **executor: int) -> ExecutorService:
    for name in ("ctl", "queue", "recorder"):
        await nursery.start(trio_shell.serve, home.socket(name), fakes.methods())
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
    ok = fakes.records[eid("a1")]
    a1 = eid("a1")
    assert ok["id"] == f"{a1}-1" and ok["status"] == "ok" and ok["result"] == json.dumps({"id": a1})
    assert ok["package"] == "pkg" and ok["module_sha256"] == guests.sha256(guests.ECHO)
    assert ok["started_at"].endswith("Z") and ok["reason"] is None
    assert ok["accepted_at"] == "2027-01-15T08:00:00.250Z"  # the delivery's enqueued_at
    assert fakes.settled[eid("a1")]["outcome"] == "ack"
    retry = fakes.settled[eid("b1")]
    assert retry["outcome"] == "retry" and 750 <= retry["delay_ms"] <= 1250
    assert fakes.records[eid("b1")]["status"] == "error" and fakes.records[eid("b1")]["code"] == 7
    assert fakes.settled[eid("c1")]["outcome"] == "dead"
    assert {(e["scope"], e["digest"]) for e in fakes.enqueued} == {("platform", None)}
    published = {e["key"]: (e["event"], json.loads(e["items"][0])) for e in fakes.enqueued}
    assert published[f"{a1}:on_ok"] == (
        "welcome",
        {"event_id": a1, "code": 0, "result": json.dumps({"id": a1}), "input": {"id": a1}},
    )
    assert published[f"{eid('c1')}:on_error"][0] == "failed"
    assert f"{eid('b1')}:on_error" not in published  # not the last attempt yet
    for event_id in (eid("a1"), eid("c1")):  # follow-up, then record, then settle
        order = [kind for kind, key in fakes.log if key.startswith(event_id)]
        assert order == ["enqueue", "append", "settle"]


@pytest.mark.trio
async def test_already_ok_events_are_acked_without_running(home: Home) -> None:
    fakes = Fakes([delivery("a1", "greet"), delivery("a2", "greet")], ok={eid("a1")})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert set(fakes.records) == {eid("a2")}
    assert fakes.settled[eid("a1")]["outcome"] == "ack"


@pytest.mark.trio
async def test_a_follow_up_failing_its_schema_is_not_published_but_logged(home: Home) -> None:
    fakes = Fakes([delivery("x1", "chain-bad")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.enqueued == []
    (note,) = fakes.records[eid("x1")]["logs"]
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
    assert fakes.settled[eid("u1")]["outcome"] == "retry" and "'gone'" in fakes.settled[eid("u1")]["reason"]


@pytest.mark.trio
async def test_a_briefly_unavailable_recorder_loses_nothing(home: Home) -> None:
    fakes = DownFirst([delivery("a1", "greet"), delivery("b1", "fails")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.failures == 0
    assert set(fakes.records) == {eid("a1"), eid("b1")}
    assert fakes.log.index(("append", eid("a1"))) < fakes.log.index(("settle", eid("a1")))


@pytest.mark.trio
async def test_shutdown_finishes_in_flight_runs(home: Home) -> None:
    fakes = Fakes([delivery("s1", "spin")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes)
            await fakes.all_leased.wait()
            await service.shutdown()
            assert fakes.settled[eid("s1")]["outcome"] == "retry"
            assert fakes.records[eid("s1")]["status"] == "timeout"
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_module_that_cannot_be_loaded_is_a_recorded_failure(home: Home) -> None:
    fakes = Fakes([delivery("m1", "noblob")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    record = fakes.records[eid("m1")]
    assert (record["status"], record["code"]) == ("error", -1)
    assert "cannot load module 'noblob.wasm'" in record["reason"]
    assert fakes.settled[eid("m1")]["outcome"] == "retry"
