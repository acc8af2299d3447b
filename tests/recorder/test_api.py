"""The recorder's contract (``jobico.recorder.api``): what crosses the socket, both ways."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico.errors import UserError
from jobico.recorder import api
from jobico.recorder.records import Filter, iso_utc, normalize
from jobico.recorder.store import Store
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY
from jobico.rpc.errors import BadReply
from tests.recorder.conftest import T0, rec, running


def executor_record(**change: Any) -> dict[str, Any]:
    """A record in the shape and key order ``jobico.executor.settle.record`` builds."""
    return {"id": "00000000000000e1-2", "event_id": "00000000000000e1", "tenant": "acme", "package": "pkg",
            "event": "signup", "attempt": 2, "status": "error", "reason": "exit code 1", "truncated": False,
            "code": 1, "result": "{}", "logs": [{"level": "info", "message": "hi"}],
            "accepted_at": "2023-11-14T22:13:19.500Z", "started_at": "2023-11-14T22:13:20.123Z",
            "duration_ms": 3.25, "module_sha256": "ab" * 32, **change}


def test_a_record_goes_out_exactly_as_the_store_keeps_it() -> None:
    """``to_wire`` is the stored map, key order included: ``--json`` prints what it printed."""
    stored, _ = normalize(executor_record(), 0, T0)
    record = api.Record.from_wire(executor_record())
    assert list(record.to_wire().items()) == list(stored.items())
    assert api.Record.of(stored) == record
    assert (record.attempt, record.reason, record.accepted_at) == (
        2, "exit code 1", "2023-11-14T22:13:19.500000Z")


def test_a_record_keeps_fields_it_does_not_know_and_a_missing_accepted_at() -> None:
    stored, _ = normalize(rec(worker="executor-2"), 0, T0)
    record = api.Record.from_wire(stored)
    assert record.to_wire()["worker"] == "executor-2" and record.accepted_at is None
    assert record.to_wire() == stored
    older = {k: v for k, v in stored.items() if k != "accepted_at"}  # stored before SPEC §5 named it
    assert api.Record.of(older).accepted_at is None


def test_every_spec_field_reads_typed() -> None:
    record = api.Record.from_wire(executor_record(accepted_at=None, reason=None, status="ok", code=0))
    assert (record.id, record.event_id, record.tenant, record.package, record.event, record.attempt,
            record.status, record.reason, record.truncated, record.code, record.result, record.logs,
            record.accepted_at, record.started_at, record.duration_ms, record.module_sha256) == (
        "00000000000000e1-2", "00000000000000e1", "acme", "pkg", "signup", 2, "ok", None, False, 0, "{}",
        (api.LogLine("info", "hi"),), None, "2023-11-14T22:13:20.123000Z", 3.25, "ab" * 32)


def test_a_record_off_contract_names_its_field() -> None:
    with pytest.raises(UserError, match=r"^attempt: required"):
        api.Record.from_wire(executor_record(attempt=0))
    with pytest.raises(UserError, match=r"^records\[1\]: status"):
        api.Records.from_wire([executor_record(), executor_record(status="fine")])


@pytest.mark.parametrize("request_", [
    api.Query(),
    api.Query(Filter(tenant="acme", event="signup", statuses=frozenset({"ok"}), since=T0, until=T0 + 1,
                     text="Boom"), limit=10_000, before="e-1"),
    api.Query(Filter(statuses=frozenset({"trap", "error"})), limit=0),
    api.Follow(),
    api.Follow(Filter(tenant="acme", statuses=frozenset({"ok", "error"})), backlog=10),
])
def test_requests_read_back_as_they_were_sent(request_: api.Query | api.Follow) -> None:
    assert type(request_).from_wire(request_.to_wire()) == request_


def test_a_filter_goes_out_as_today_one_status_as_a_string() -> None:
    query = api.Query(Filter(tenant="acme", statuses=frozenset({"error"}), since=T0), limit=20)
    assert query.to_wire() == {"tenant": "acme", "status": "error", "since": T0, "limit": 20}
    assert api.Follow().to_wire() == {}


@pytest.mark.parametrize(("read", "params", "message"), [
    (api.Query.from_wire, {"limit": 10_001}, "'limit' must be from 0 to 10000"),
    (api.Query.from_wire, {"limit": True}, "'limit' must be an integer"),
    (api.Query.from_wire, {"before": ""}, "'before' must be a non-empty string"),
    (api.Query.from_wire, {"status": []}, "'status' must be a status or a non-empty array"),
    (api.Query.from_wire, {"status": ["ok", 3]}, "'status': int is not one of"),
    (api.Query.from_wire, {"since": [1]}, "'since': expected an ISO 8601 time"),
    (api.Query.from_wire, {"backlog": 1}, "unknown filter backlog"),
    (api.Query.from_wire, "tenant=acme", "params must be a map, got str"),
    (api.Follow.from_wire, {"backlog": -1}, "'backlog' must be from 0"),
    (api.Get.from_wire, {"id": ""}, "'id' must be a non-empty string"),
    (api.Get.from_wire, {}, "'id' must be a string, is missing"),
    (api.Attempts.from_wire, {"event_id": 5}, "'event_id' must be a string, got int"),
    (api.EventIds.from_wire, {"event_ids": ["a", 5]}, r"event_ids\[1\]: must be a string"),
    (api.Append.from_wire, {"records": {"a": 1}}, "'records' must be an array, got dict"),
])
def test_bad_params_name_the_field(read: Any, params: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read(params)


def test_an_append_sends_records_and_wire_maps_alike_and_reads_none() -> None:
    typed = api.Record.from_wire(executor_record())
    append = api.Append([typed, executor_record(attempt=3)])
    assert append.to_wire() == {"records": [typed.to_wire(), executor_record(attempt=3)]}
    assert api.Append.from_wire({"records": [7, {"x": 1}]}).records == (7, {"x": 1})  # the store refuses them


def test_replies_read_back_as_they_were_sent(tmp_path: Path) -> None:
    appended = api.Appended((True, False, False), (api.Refused(2, "record 2: status: ..."),))
    assert appended.to_wire() == {"stored": [True, False, False], "refused": [[2, "record 2: status: ..."]]}
    assert api.Appended.from_wire(appended.to_wire()) == appended
    assert api.OkIds.from_wire(["a", "b"]).to_wire() == ["a", "b"]
    store = Store(tmp_path / "recorder")
    try:
        store.append([rec("a", attempt=2, accepted_at=iso_utc(T0 - 1)),
                      rec("b", tenant="beta", status="trap")])
        wire = store.stats()
    finally:
        store.close()
    stats = api.RecorderStats.from_wire(wire)
    assert stats.to_wire() == wire
    assert stats.tenants["acme"].retries == 1 and stats.tenants["acme"].wait_ms.count == 0
    assert stats.tenants["acme"].latency_ms.count == 1 and dict(stats.tenants["beta"].counts) == {"trap": 1}


@pytest.mark.parametrize(("read", "reply", "message"), [
    (api.Appended.from_wire, {"stored": [1]}, r"reply.stored\[0\]: must be true or false"),
    (api.Appended.from_wire, {"stored": [], "refused": [[0]]}, r"reply.refused\[0\]: a refusal must be"),
    (api.RecorderStats.from_wire, {"records": 1}, "stats 'segments' must be an integer"),
])
def test_replies_off_contract_name_the_field(read: Any, reply: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read(reply)


@pytest.mark.trio
async def test_every_method_over_a_socket_with_the_typed_functions(tmp_path: Path) -> None:
    """What the CLI, the TUI and the listener do: the api's functions on a real client."""
    async with running(tmp_path) as service, trio.open_nursery() as nursery:
        path = tmp_path / "r.sock"
        await nursery.start(trio_shell.serve, path, service.methods())
        async with await trio_shell.connect(path) as client:
            now = time.time()  # the daily sweep runs on start: records must be recent to stay
            async with api.follow(client, api.Follow(Filter(tenant="acme"), backlog=5)) as followed:
                appended = await api.append(client, api.Append([
                    rec("e", 1, "error", at=now), api.Record.from_wire(rec("e", 2, at=now)), {"tenant": 1}]))
                assert appended.stored == (True, True, False) and appended.refused[0].index == 2
                assert [(await followed.__anext__()).id for _ in range(2)] == ["e-1", "e-2"]
            found = await api.query(client, api.Query(Filter(statuses=frozenset({"error"}))))
            assert [r.reason for r in found.items] == ["error"]
            assert (await api.get(client, api.Get("e-2"))).status == "ok"
            assert [r.attempt for r in (await api.attempts(client, api.Attempts("e"))).items] == [1, 2]
            assert (await api.ok_ids(client, api.EventIds(("e", "x")))).ids == ("e",)
            assert dict((await api.stats(client, EMPTY)).tenants["acme"].counts) == {"error": 1, "ok": 1}
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_reply_off_contract_is_a_bad_reply_naming_the_method() -> None:
    class Broken:
        async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
            return [{"id": "x"}]

    with pytest.raises(BadReply, match=r"'query' answered off contract: records\[0\]: event_id"):
        await api.query(Broken(), api.Query())
