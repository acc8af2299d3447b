"""The queue component as a real process: RPC methods, and kill -9 after acknowledged enqueues."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from jobico.errors import NotFound
from jobico.home import Home
from jobico.rpc import trio_shell
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
                await client.call("settle", {"results": [{"id": d["id"], "outcome": "ack"} for d in batch]})
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
            await client.call("settle", {"results": [{"id": item, "outcome": "retry", "delay_ms": 0}]})
            [short] = await client.call("lease", {"worker": "w", "max": 5, "lease_ms": 100})
            [redelivered] = await client.call("lease", {"worker": "w2", "max": 5, "wait_ms": 5_000})
            assert (short["attempt"], redelivered["id"], redelivered["attempt"]) == (2, item, 2)
            await client.call("settle", {"results": [{"id": item, "outcome": "dead", "reason": "boom"}]})
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
            await client.call("settle", {"results": [{"id": first["id"], "outcome": "ack"}]})
            await client.call("pause", {"tenant": "acme"})
            proc.terminate()
            assert await proc.wait() == 0
        async with queue_process(home) as (_, client):
            assert (await client.call("stats"))["acme"] == {
                "depth": 1,
                "inflight": 0,
                "dead": 0,
                "paused": True,
            }
            assert await client.call("lease", {"worker": "w", "max": 5}) == []
            await client.call("resume", {"tenant": "acme"})
            [left] = await client.call("lease", {"worker": "w", "max": 5})
            assert left["id"] == reply["ids"][1]
