"""Records through Redis against bad entries and a failing Redis (issue 13, item 19).

The inbox reads a stream anyone with access to Redis can write to: an entry
that is not a record, or that the recorder refuses, used to crash it, and the
supervisor's restart read the same entry again. Now it is moved aside with its
reason and the records behind it arrive. Real recorder, real Redis, real sockets.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import coredis
import msgpack
import pytest
import trio

from jobico.caps import MAX_RECORD_BYTES, MAX_RESULT_BYTES
from jobico.component import Context
from jobico.config import Config, QueueConfig
from jobico.errors import Unavailable
from jobico.home import Home
from jobico.recorder import api as recorder_api
from jobico.recorder.records import Filter
from jobico.recorder.redis_records import RecordInbox, RecordRelay
from jobico.recorder.service import RecorderService
from jobico.rpc import MAX_MESSAGE_SIZE, trio_shell
from tests.recorder.conftest import rec
from tests.redis.server import RedisProcess, redis_process

PASSWORD = "pw-Rk44-secret"
STREAM = "jobico:records"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisProcess]:
    with redis_process(tmp_path / "redis", PASSWORD) as process:
        yield process


@pytest.fixture
def home() -> Iterator[Home]:
    root = Path(tempfile.mkdtemp(prefix="jr", dir="/tmp"))  # short: socket paths are limited
    home = Home(root)
    home.ensure()
    yield home
    shutil.rmtree(root, ignore_errors=True)


def context(home: Home, name: str, url: str) -> Context:
    config = dataclasses.replace(Config(), queue=QueueConfig(backend="redis", url=url))
    return Context(home=home, config=config, name=name, log=logging.getLogger(f"test.{name}"))


@pytest.fixture
async def raw(server: RedisProcess) -> AsyncIterator[Any]:
    async with coredis.Redis.from_url(server.url, decode_responses=False) as client:
        yield client


async def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    with trio.move_on_after(timeout):
        while True:
            if await condition():
                return
            await trio.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s")


@pytest.mark.trio
async def test_bad_entries_are_set_aside_and_the_records_behind_them_arrive(
    home: Home, server: RedisProcess, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # one left pending by an earlier run and then deleted: read back with no fields at all
    await raw.xgroup_create(STREAM, "recorder", "0", mkstream=True)
    [left] = [await raw.xadd(STREAM, {"r": msgpack.packb(rec("00000000000000a0"))})]
    await raw.xreadgroup("recorder", "inbox", {STREAM: ">"}, count=1)
    await raw.xdel(STREAM, [left])
    bad = {
        "no r": {"x": "1"},
        "not msgpack": {"r": b"\xc1"},
        "not a map": {"r": msgpack.packb([1, 2])},
        "refused by the recorder": {"r": msgpack.packb({"event_id": "e1"})},
        "over the record cap": {"r": b"\x00" * (MAX_RECORD_BYTES + 1)},
    }
    await raw.xadd(STREAM, {"r": msgpack.packb(rec("0000000000000001"))})
    for fields in bad.values():
        await raw.xadd(STREAM, fields)
    await raw.xadd(STREAM, {"r": msgpack.packb(rec("0000000000000002"))})

    recorder = RecorderService(context(home, "recorder", server.url))
    inbox = RecordInbox(context(home, "records", server.url))

    async def recorded() -> list[str]:
        return sorted(r["event_id"] for r in recorder.store.query(_all(), 100))

    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        await nursery.start(trio_shell.serve, home.socket("recorder"), recorder.methods())
        await nursery.start(inbox.run)  # crashed on the first bad entry before the fix
        await wait_for(lambda: _is(recorded, ["0000000000000001", "0000000000000002"]), "good records")
        await wait_for(lambda: _true(inbox.set_aside == len(bad) + 1), "every bad entry set aside")
        await raw.xadd(STREAM, {"r": msgpack.packb(rec("0000000000000003"))})
        await wait_for(lambda: _true(inbox.moved == 3), "the inbox still follows the stream")
        assert await recorded() == ["0000000000000001", "0000000000000002", "0000000000000003"]
        nursery.cancel_scope.cancel()

    assert await raw.xlen(STREAM) == 0
    aside = await raw.xrange(f"{STREAM}:aside")
    reasons = [e.field_values[b"why"].decode() for e in aside]
    assert len(reasons) == len(bad) + 1
    assert sum("field r (the packed record) is missing" in why for why in reasons) == 2
    assert any(why.startswith("not msgpack") for why in reasons)
    assert any("not a record but a msgpack list" in why for why in reasons)
    assert any("tenant: required" in why for why in reasons), reasons
    assert any(f"over the {MAX_RECORD_BYTES} byte record limit" in why for why in reasons)
    assert caplog.text.count("set aside in jobico:records:aside") == len(bad) + 1


@pytest.mark.trio
async def test_the_relay_refuses_bad_records_one_by_one_and_forwards_the_rest(
    home: Home, server: RedisProcess, raw: Any
) -> None:
    relay = RecordRelay(context(home, "recorder", server.url))
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        records = [
            rec("0000000000000001"),
            "not a record",
            rec("0000000000000002", status="maybe"),
            rec("0000000000000003", result="x" * (MAX_RECORD_BYTES + 1)),
            rec("0000000000000001"),  # a second ok of the same event
        ]
        reply = (await relay.append(recorder_api.Append(records))).to_wire()
        nursery.cancel_scope.cancel()
    assert reply["stored"] == [True, False, False, False, False]
    assert [i for i, _ in reply["refused"]] == [1, 2, 3]
    why = dict(reply["refused"])
    assert "expected a map" in why[1]
    assert "status" in why[2]
    assert f"over the {MAX_RECORD_BYTES} byte limit" in why[3]
    [entry] = await raw.xrange(STREAM)
    assert msgpack.unpackb(entry.field_values[b"r"])["event_id"] == "0000000000000001"


@pytest.mark.trio
async def test_a_backlog_larger_than_one_rpc_message_reaches_the_recorder_in_several_appends(
    home: Home, server: RedisProcess
) -> None:
    """Big records a tenant's guests may legitimately produce: one read of the stream holds
    more than an RPC message may carry (64 MiB), so the inbox must split its appends."""
    relay = RecordRelay(context(home, "relay", server.url))
    recorder = RecorderService(context(home, "recorder", server.url))
    inbox = RecordInbox(context(home, "records", server.url))
    big = "x" * (MAX_RESULT_BYTES - 1024)
    count = (MAX_MESSAGE_SIZE // len(big)) + 6
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        for start in range(0, count, 8):  # as executors append: a few records per call
            batch = [rec(f"{n:016x}", result=big) for n in range(start, min(start + 8, count))]
            assert all((await relay.append(recorder_api.Append(batch))).stored)
        await nursery.start(recorder.run)
        await nursery.start(trio_shell.serve, home.socket("recorder"), recorder.methods())
        await nursery.start(inbox.run)  # over 64 MiB in one append before the fix: a crash, every start
        await wait_for(lambda: _true(inbox.moved == count), f"{count} records of 1 MiB", timeout=120)
        assert recorder.store.ok_ids(f"{n:016x}" for n in range(count)) == {f"{n:016x}" for n in range(count)}
        nursery.cancel_scope.cancel()
    assert inbox.set_aside == 0


@pytest.mark.trio
async def test_redis_down_is_unavailable_for_the_relay_and_a_retry_for_the_inbox_never_the_password(
    home: Home, server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relay = RecordRelay(context(home, "relay", server.url))
    recorder = RecorderService(context(home, "recorder", server.url))
    inbox = RecordInbox(context(home, "records", server.url))
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        await nursery.start(trio_shell.serve, home.socket("recorder"), recorder.methods())
        await nursery.start(relay.run)
        await nursery.start(inbox.run)
        await relay.append(recorder_api.Append([rec("0000000000000001")]))
        await wait_for(lambda: _true(inbox.moved == 1), "the first record")
        server.kill()
        for call in (lambda: relay.append(recorder_api.Append([rec("0000000000000002")])),
                     lambda: relay.ok_ids(recorder_api.EventIds(("0000000000000001",)))):
            with pytest.raises(Unavailable, match="unreachable") as info:  # AttributeError before
                await call()
            assert PASSWORD not in str(info.value)
        await wait_for(lambda: _true("records inbox: redis at redis://:****@" in caplog.text), "a retry")
        server.start()
        again = recorder_api.Append([rec("0000000000000002")])
        await wait_for(lambda: _ok(relay.append(again)), "redis back")
        await wait_for(lambda: _true(inbox.moved == 2), "the inbox to carry on")
        nursery.cancel_scope.cancel()
    assert PASSWORD not in caplog.text


def _all() -> Filter:
    return Filter()


async def _is(get: Any, expected: object) -> bool:
    return bool(await get() == expected)


async def _true(value: bool) -> bool:
    return value


async def _ok(call: Any) -> bool:
    try:
        await call
    except Unavailable:
        await trio.sleep(0.2)
        return False
    return True
