"""The queue component as a real process: RPC methods, and kill -9 after acknowledged enqueues."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico.ctl import api as ctl_api
from jobico.errors import Conflict, NotFound, QueueFull, UserError
from jobico.home import Home
from jobico.queue import api
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY, Empty
from jobico.rpc.dispatch import Methods
from jobico.rpc.errors import ConnectFailed


@pytest.fixture
def home() -> Iterator[Home]:
    root = Path(tempfile.mkdtemp(prefix="jq-"))  # short: Unix socket paths are limited
    yield Home(root)
    shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def queue_process(home: Home) -> AsyncIterator[tuple[trio.Process, trio_shell.Client]]:
    """``python -m jobico.queue`` on ``home``, and a client once it serves."""
    env = {**os.environ, "JOBICO_HOME": str(home.root)}
    proc = await trio.lowlevel.open_process([sys.executable, "-m", "jobico.queue"], env=env)
    try:
        while True:
            try:
                client = await trio_shell.connect(home.socket("queue"), timeout=1)
                break
            except ConnectFailed:
                assert proc.poll() is None, "the queue process exited"
                await trio.sleep(0.05)
        async with client:
            yield proc, client
    finally:
        if proc.poll() is None:
            proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()


@pytest.mark.trio
async def test_kill_9_after_acknowledged_enqueues_loses_nothing(home: Home) -> None:
    accepted: list[str] = []
    with trio.fail_after(30):
        async with queue_process(home) as (proc, client):

            async def send(n: int) -> None:
                items = [b'{"n": %d}' % n] * 5
                reply = await client.call("enqueue", {"tenant": "acme", "event": "e", "items": items})
                accepted.extend(reply["ids"])

            async with trio.open_nursery() as nursery:
                for n in range(100):
                    nursery.start_soon(send, n)
            os.kill(proc.pid, signal.SIGKILL)
        async with queue_process(home) as (_, client):
            assert (await client.call("stats"))["acme"]["depth"] == 500
            found: list[str] = []
            while batch := await client.call("lease", {"worker": "w", "max": 1000}):
                found.extend(d["id"] for d in batch)
                results = [{"id": d["id"], "outcome": "ack"} for d in batch]
                await client.call("settle", {"worker": "w", "results": results})
    assert len(accepted) == 500
    assert sorted(found) == sorted(accepted)


@pytest.mark.trio
async def test_lease_settle_dead_replay_over_rpc(home: Home) -> None:
    with trio.fail_after(30):
        async with queue_process(home) as (_, client):
            async with trio.open_nursery() as nursery:
                leased: list[dict] = []

                async def wait_for_work() -> None:
                    leased.extend(await client.call("lease", {"worker": "w", "max": 5, "wait_ms": 10_000}))

                nursery.start_soon(wait_for_work)
                await trio.sleep(0.1)
                reply = await client.call(
                    "enqueue", {"tenant": "acme", "event": "e", "items": [b"1"], "key": "k"}
                )
            [item] = reply["ids"]
            assert [(d["id"], d["attempt"], d["body"]) for d in leased] == [(item, 1, b"1")]
            again = await client.call(
                "enqueue", {"tenant": "acme", "event": "e", "items": [b"1"], "key": "k"}
            )
            assert again == {"ids": [item], "duplicate": True}
            # An expired lease is redelivered by the sweeper.
            retry = [{"id": item, "outcome": "retry", "delay_ms": 0}]
            assert await client.call("settle", {"worker": "w", "results": retry}) == {
                "applied": [item], "stale": []}
            [short] = await client.call("lease", {"worker": "w", "max": 5, "lease_ms": 100})
            [redelivered] = await client.call("lease", {"worker": "w2", "max": 5, "wait_ms": 5_000})
            assert (short["attempt"], redelivered["id"], redelivered["attempt"]) == (2, item, 2)
            dead = [{"id": item, "outcome": "dead", "reason": "boom"}]
            assert (await client.call("settle", {"worker": "w", "results": dead}))["stale"] == [item]
            await client.call("settle", {"worker": "w2", "results": dead})
            [letter] = await client.call("dead", {"tenant": "acme"})
            assert (letter["id"], letter["reason"], letter["attempt"]) == (item, "boom", 2)
            assert (await client.call("stats"))["acme"] == {
                "depth": 0,
                "inflight": 0,
                "dead": 1,
                "paused": False,
            }
            with pytest.raises(NotFound):
                await client.call("replay", {"ids": ["00000000000000aa"]})
            assert await client.call("replay", {"tenant": "acme"}) == {"ids": [item]}
            [back] = await client.call("lease", {"worker": "w", "max": 5})
            assert (back["id"], back["attempt"]) == (item, 3)


@pytest.mark.trio
async def test_sigterm_flushes_acks_and_pauses(home: Home) -> None:
    with trio.fail_after(30):
        async with queue_process(home) as (proc, client):
            reply = await client.call("enqueue", {"tenant": "acme", "event": "e", "items": [b"1", b"2"]})
            [first, _] = await client.call("lease", {"worker": "w", "max": 2})
            await client.call("settle", {"worker": "w", "results": [{"id": first["id"], "outcome": "ack"}]})
            await client.call("pause", {"tenant": "acme"})
            proc.terminate()
            assert await proc.wait() == 0
        async with queue_process(home) as (_, client):
            assert (await client.call("stats"))["acme"] == {
                "depth": 0,
                "inflight": 1,  # the lease outlives the restart
                "dead": 0,
                "paused": True,
            }
            await client.call("resume", {"tenant": "acme"})
            assert await client.call("lease", {"worker": "w", "max": 5}) == []
            assert await client.call("release", {"worker": "w"}) == {"released": 1}
            [left] = await client.call("lease", {"worker": "w", "max": 5})
            assert left["id"] == reply["ids"][1]


@pytest.mark.trio
async def test_a_renewed_lease_is_not_handed_to_another_worker_across_kill_9(home: Home) -> None:
    with trio.fail_after(30):
        async with queue_process(home) as (proc, client):
            [item] = (await client.call("enqueue", {"tenant": "acme", "event": "e", "items": [b"1"]}))["ids"]
            await client.call("lease", {"worker": "w1", "max": 1, "lease_ms": 1500})
            await trio.sleep(1)
            assert (await client.call("renew", {"worker": "w1", "ids": [item], "lease_ms": 1500}))[
                "renewed"] == [item]
            await client.call("stats")  # the renewal's record is flushed by now (not waited for)
            os.kill(proc.pid, signal.SIGKILL)
        async with queue_process(home) as (_, client):
            assert await client.call("lease", {"worker": "w2", "max": 5, "wait_ms": 1000}) == []
            renewed = await client.call("renew", {"worker": "w1", "ids": [item], "lease_ms": 1500})
            assert renewed == {"renewed": [item], "lost": []}
            ack = [{"id": item, "outcome": "ack"}]
            assert await client.call("settle", {"worker": "w2", "results": ack}) == {
                "applied": [], "stale": [item]}
            assert (await client.call("settle", {"worker": "w1", "results": ack}))["applied"] == [item]
            with pytest.raises(UserError, match="worker"):
                await client.call("settle", {"results": ack})


@pytest.mark.trio
async def test_a_key_reused_for_another_body_is_a_conflict_over_rpc(home: Home) -> None:
    with trio.fail_after(30):
        async with queue_process(home) as (_, client):
            params = {"tenant": "acme", "event": "e", "items": [b"1"], "key": "k", "digest": "aa"}
            first = await client.call("enqueue", params)
            with pytest.raises(Conflict, match="different body"):
                await client.call("enqueue", {**params, "digest": "bb"})
            assert (await client.call("enqueue", params))["ids"] == first["ids"]
            platform = await client.call("enqueue", {**params, "scope": "platform", "digest": None})
            assert not platform["duplicate"]


@pytest.mark.trio
async def test_every_typed_call_reads_what_the_real_queue_answers(home: Home) -> None:
    """The api's functions against ``python -m jobico.queue``: a reply off contract would be BadReply."""
    with trio.fail_after(30):
        async with queue_process(home) as (_, client):
            sent = await api.enqueue(client, api.Enqueue("acme", "e", (b"1", b"2"), "k", "aa"))
            assert not sent.duplicate and len(sent.ids) == 2
            assert (await api.enqueue(client, api.Enqueue("acme", "e", (b"1", b"2"), "k", "aa"))).duplicate
            got = await api.lease(client, api.Lease("w", 5, 60_000, held={"acme": 0}, per_tenant=5))
            assert [(d.id, d.tenant, d.event, d.attempt, d.body) for d in got.items] == [
                (sent.ids[0], "acme", "e", 1, b"1"), (sent.ids[1], "acme", "e", 1, b"2")]
            assert await api.renew(client, api.Renew("w", (sent.ids[0],))) == api.Renewed([sent.ids[0]], [])
            first = sent.ids[0]
            dead = api.Settle("w", (api.Settlement(first, "dead", "boom"),))
            assert await api.settle(client, dead) == api.Settled([first], [])
            assert await api.release(client, api.Release("w")) == api.Released(1)
            [letter] = (await api.dead(client, api.ListDead("acme"))).letters
            assert (letter.id, letter.attempt, letter.body, letter.reason) == (sent.ids[0], 1, b"1", "boom")
            assert await api.pause(client, api.OfTenant("acme")) == api.Paused("acme", True)
            stats = await api.stats(client, EMPTY)
            assert stats.tenants == {"acme": api.TenantStats(1, 0, 1, True)}
            assert await api.resume(client, api.OfTenant("acme")) == api.Paused("acme", False)
            assert await api.replay(client, api.Selection(ids=(sent.ids[0],))) == api.Applied([sent.ids[0]])
            again = (await api.lease(client, api.Lease("w", 5))).items
            await api.settle(client, api.Settle("w", tuple(api.Settlement(d.id, "dead", "x") for d in again)))
            assert await api.purge(client, api.Selection(tenant="acme")) == api.Applied(sorted(sent.ids))
            with pytest.raises(UserError, match=r"results\[0\]: result 'outcome' must be one of"):
                await client.call("settle", {"worker": "w", "results": [{"id": sent.ids[0], "outcome": "?"}]})


class Ctl:
    """ctl's catalog stream: one version, ``acme``'s events by package, and its packages' limits."""

    def __init__(self, packages: dict[str, tuple[ctl_api.Limits, tuple[str, ...]]]) -> None:
        events = {event: ctl_api.Job("acme", package, event)
                  for package, (_, names) in packages.items() for event in names}
        summaries = {package: ctl_api.PackageSummary(limits=limits)
                     for package, (limits, _) in packages.items()}
        self.catalog = ctl_api.Catalog(1, {"acme": ctl_api.TenantCatalog(events, summaries)})

    def methods(self) -> Methods:
        return Methods().stream(ctl_api.catalog_stream, self.catalogs)

    async def catalogs(self, request: Empty) -> AsyncGenerator[ctl_api.Catalog, None]:
        yield self.catalog
        await trio.sleep_forever()


CONCURRENCY = Ctl({"heavy": (ctl_api.Limits(max_concurrency=1), ("slow",)),
                   "light": (ctl_api.Limits(), ("fast",))})
"""One package capped at one event in flight."""


@pytest.mark.trio
async def test_package_max_concurrency_comes_from_ctls_catalog(home: Home) -> None:
    with trio.fail_after(30):
        home.ensure()
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, home.socket("ctl"), CONCURRENCY.methods())
            async with queue_process(home) as (_, client):
                for event in ("slow", "fast"):
                    await client.call("enqueue", {"tenant": "acme", "event": event, "items": [b"x"] * 3})
                got: list[dict[str, Any]] = []
                while len(got) < 4:  # until the queue has the catalog: then 1 slow + 3 fast
                    got += await client.call("lease", {"worker": "w", "max": 10, "lease_ms": 60_000})
                    assert sum(d["event"] == "slow" for d in got) <= 1 or len(got) == 6, got
                    await trio.sleep(0.05)
                assert sorted(d["event"] for d in got) == ["fast"] * 3 + ["slow"]
            nursery.cancel_scope.cancel()


DEPTH = Ctl({"flow": (ctl_api.Limits(max_queue_depth=2), ("signup", "welcome")),
             "free": (ctl_api.Limits(max_queue_depth=0), ("other",)),
             "gate": (ctl_api.Limits(max_queue_depth=1), ("gate",))})
"""acme's package ``flow`` (two events) holds at most 2 items, and ``gate`` 1, which tells a
test the queue has this catalog."""


@pytest.mark.trio
async def test_package_max_queue_depth_comes_from_ctls_catalog(home: Home) -> None:
    def items(event: str, n: int) -> dict[str, Any]:
        return {"tenant": "acme", "event": event, "items": [b"x"] * n}

    with trio.fail_after(30):
        home.ensure()
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, home.socket("ctl"), DEPTH.methods())
            async with queue_process(home) as (_, client):
                await client.call("enqueue", items("gate", 1))
                while True:  # until the queue has the catalog: then the gate is full
                    try:
                        await client.call("enqueue", items("gate", 1))
                    except QueueFull:
                        break
                    await trio.sleep(0.05)
                await client.call("enqueue", items("signup", 1))
                await client.call("enqueue", items("welcome", 1))
                with pytest.raises(QueueFull, match="tenant acme package flow queue is full: 2 of 2"):
                    await client.call("enqueue", items("signup", 1))
                await client.call("enqueue", items("other", 5))  # 0: unlimited
            nursery.cancel_scope.cancel()
