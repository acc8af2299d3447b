"""``python -m jobico.recorder`` as a real process: kill -9 loses no acknowledged record."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import trio

from jobico.home import Home
from jobico.rpc import trio_shell
from jobico.rpc.errors import ConnectFailed, ConnectionLost
from tests.recorder.conftest import rec


async def start(home: Path, log: Path) -> tuple[trio.Process, trio_shell.Client]:
    env = {**os.environ, "JOBICO_HOME": str(home)}
    with log.open("ab") as errors:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "jobico.recorder"], env=env, stderr=errors)
    while True:
        try:
            return process, await trio_shell.connect(Home(home).socket("recorder"))
        except ConnectFailed:
            if process.poll() is not None:
                raise AssertionError(await trio.Path(log).read_text()) from None
            await trio.sleep(0.05)


@pytest.mark.trio
async def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "jobico.toml").write_text("")
    log = tmp_path / "stderr.txt"
    acked: list[str] = []
    enough = trio.Event()
    with trio.fail_after(30):
        process, client = await start(home, log)

        async def appender(worker: int) -> None:
            for batch in range(1000):
                records = [rec(f"{worker:02d}{batch:04d}{i:02d}", at=time.time())
                           for i in range(20)]
                try:
                    reply = await client.call("append", {"records": records})
                except ConnectionLost:
                    return
                assert reply == {"stored": [True] * 20, "refused": []}
                acked.extend(r["event_id"] + "-1" for r in records)
                if len(acked) >= 2000:
                    enough.set()

        async with trio.open_nursery() as nursery:
            for worker in range(8):
                nursery.start_soon(appender, worker)
            await enough.wait()
            process.send_signal(signal.SIGKILL)  # mid-stream: appends are in flight
        assert await process.wait() == -signal.SIGKILL
        await client.aclose()

        process, client = await start(home, log)
        try:
            stored = [r["id"] for r in await client.call("query", {"limit": 10_000})]
            assert set(acked) <= set(stored)
            assert len(stored) == len(set(stored))
            again = await client.call("append", {"records": [rec(acked[0][:-2])]})
            assert again == {"stored": [False], "refused": []}
        finally:
            await client.aclose()
            process.terminate()
            assert await process.wait() == 0
