from __future__ import annotations

import time
from contextlib import aclosing
from pathlib import Path

import pytest
import trio
import trio.testing

from jobico.errors import NotFound, Unavailable, UserError
from jobico.recorder import api
from jobico.recorder.follow import Hub
from jobico.recorder.index import Entry
from jobico.recorder.records import Filter
from jobico.rpc import trio_shell
from tests.recorder.conftest import T0, rec, running


@pytest.mark.trio
async def test_rpc_methods(tmp_path: Path) -> None:
    async with running(tmp_path) as service:
        call = service.methods().find_call  # as the socket calls them: wire params, wire reply
        now = time.time()  # the daily sweep runs on start: records must be recent to stay
        reply = await call("append")({"records": [rec("e", 1, "error", at=now),
                                                  rec("e", 2, at=now), rec("e", 2)]})
        assert reply == {"stored": [True, True, False], "refused": []}
        newest = await call("query")({"tenant": "acme", "limit": 1})
        assert [r["id"] for r in newest] == ["e-2"]
        assert (await call("get")({"id": "e-1"}))["status"] == "error"
        assert [r["attempt"] for r in await call("attempts")({"event_id": "e"})] == [1, 2]
        assert await call("ok_ids")({"event_ids": ["e", "x"]}) == ["e"]
        assert (await call("stats")(None))["tenants"]["acme"]["counts"] == {
            "error": 1, "ok": 1}
        assert (await service.status())["records"] == 2
        with pytest.raises(NotFound):
            await call("get")({"id": "nope"})
        with pytest.raises(UserError, match="'records' must be an array"):
            await call("append")({"records": "x"})
        with pytest.raises(UserError, match="limit"):
            await call("query")({"limit": -1})
        older = await call("query")({"before": "e-2", "limit": 5})
        assert [r["id"] for r in older] == ["e-1"]
        assert await call("query")({"before": "e-2", "status": "ok"}) == []
        with pytest.raises(NotFound, match="before: no execution record 'gone-1'"):
            await call("query")({"before": "gone-1"})
        with pytest.raises(UserError, match="'before' must be a string"):
            await call("query")({"before": 7})
    async with running(tmp_path) as service:  # restart: all there
        assert len((await service.query(api.Query())).items) == 2


@pytest.mark.trio
async def test_follow_gives_backlog_then_live_matching_records(tmp_path: Path) -> None:
    async with running(tmp_path) as service:
        await service.append(api.Append([rec("a", at=T0), rec("b", at=T0 + 1)]))
        wanted = api.Follow(Filter(tenant="acme", statuses=frozenset({"ok"})), backlog=5)
        async with aclosing(service.follow(wanted)) as items:
            assert [(await items.__anext__()).id for _ in range(2)] == ["a-1", "b-1"]
            await service.append(api.Append([rec("c", tenant="beta"), rec("d", status="trap"),
                                             rec("e")]))
            await service.append(api.Append([rec("f")]))
            assert [(await items.__anext__()).id for _ in range(2)] == ["e-1", "f-1"]
        assert len(service._hub) == 0


@pytest.mark.trio
async def test_follow_rejects_bad_filters(tmp_path: Path) -> None:
    async with running(tmp_path) as service:
        follow = service.methods().find_stream("follow")
        for wrong in ({"limit": 3}, {"before": "a-1"}):  # live records are never before one
            with pytest.raises(UserError, match="unknown filter"):
                async with aclosing(follow(wrong)) as items:
                    await items.__anext__()


@pytest.mark.trio
async def test_a_slow_follower_is_dropped_not_buffered_forever() -> None:
    hub = Hub(buffer=2)
    entry = Entry(T0, 1, "a-1", "a", "acme", "pkg", "signup", 1, "ok", None, 1.0, 1, 0, 0)
    received: list[str] = []
    with trio.fail_after(5):
        async with aclosing(hub.follow(Filter(), list)) as items:
            async with trio.open_nursery() as nursery:
                async def first() -> None:
                    received.append((await items.__anext__())["id"])
                nursery.start_soon(first)
                await trio.testing.wait_all_tasks_blocked()
                hub.publish([(entry, {"id": f"r{i}"}) for i in range(5)])
            assert received == ["r0"] and len(hub) == 0
            assert [(await items.__anext__())["id"] for _ in range(2)] == ["r1", "r2"]
            with pytest.raises(Unavailable, match="fell more than 2 records behind"):
                await items.__anext__()


@pytest.mark.trio
async def test_shutdown_makes_written_records_durable(tmp_path: Path) -> None:
    async with running(tmp_path) as service:
        written = service.store.write([rec("a")])
        await service.shutdown()
        assert service.store.durable >= written.ticket
        assert [r.id for r in (await service.query(api.Query())).items] == ["a-1"]


@pytest.mark.trio
async def test_follow_and_errors_over_the_rpc_socket(tmp_path: Path) -> None:
    async with running(tmp_path) as service, trio.open_nursery() as nursery:
        path = tmp_path / "r.sock"
        await nursery.start(trio_shell.serve, path, service.methods())
        async with await trio_shell.connect(path) as client:
            # backlog: whether the append lands before or after the stream subscribes,
            # "b" arrives exactly once
            async with client.stream("follow", {"event": "signup", "backlog": 10}) as items:
                await client.call("append", {"records": [rec("a", event="other"), rec("b")]})
                await client.call("append", {"records": [rec("c")]})
                assert [(await items.__anext__())["id"] for _ in range(2)] == ["b-1", "c-1"]
            with pytest.raises(NotFound, match="'zz'"):
                await client.call("get", {"id": "zz"})
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_the_retention_sweep_runs_on_start(tmp_path: Path) -> None:
    eight_days_ago = time.time() - 8 * 86400
    async with running(tmp_path) as service:  # retention_days defaults to 7
        service.store.write([rec("old", at=eight_days_ago)], now=eight_days_ago)
        await service.append(api.Append([rec("new", at=time.time())]))  # a new segment
        assert len((await service.query(api.Query())).items) == 2
    async with running(tmp_path) as service:
        assert [r.id for r in (await service.query(api.Query())).items] == ["new-1"]
