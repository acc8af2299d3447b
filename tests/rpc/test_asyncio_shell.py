"""The asyncio shell (TUI, CLI) against a real trio server running in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.errors import NotFound, Unavailable, UserError
from jobico.rpc import asyncio_shell
from jobico.rpc.errors import CallTimeout, ConnectFailed, ConnectionLost, RemoteError
from tests.rpc.handlers import Handler, ServerThread, asyncio_wait_until

pytestmark = pytest.mark.asyncio

GUARD = 15  # seconds: every test fails instead of hanging


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def server(tmp_path: Path, handler: Handler) -> Iterator[ServerThread]:
    with ServerThread(tmp_path / "a.sock", handler.methods()) as running:
        yield running


async def test_call_round_trips_and_one_shot_call_works(server: ServerThread) -> None:
    async with asyncio.timeout(GUARD):
        async with await asyncio_shell.connect(server.path) as client:
            params = {"items": [b"\x00\xff"], "tenant": "acme"}
            assert await client.call("echo", params) == params
        assert await asyncio_shell.call(server.path, "echo", 3) == 3


async def test_200_concurrent_calls(server: ServerThread) -> None:
    async with asyncio.timeout(GUARD), await asyncio_shell.connect(server.path) as client:
        results = await asyncio.gather(*(client.call("echo", i) for i in range(200)))
    assert results == list(range(200))


async def test_remote_errors_keep_their_type(server: ServerThread) -> None:
    async with asyncio.timeout(GUARD), await asyncio_shell.connect(server.path) as client:
        with pytest.raises(NotFound, match="no tenant 'acme'"):
            await client.call("missing", "acme")
        with pytest.raises(Unavailable):
            await client.call("full")
        with pytest.raises(UserError, match="no stream named 'nope'"):
            async with client.stream("nope") as items:
                await anext(items)
        with pytest.raises(RemoteError, match="boom"):
            await client.call("crash")


async def test_stream_items_and_early_exit_closes_the_generator(
    server: ServerThread, handler: Handler
) -> None:
    async with asyncio.timeout(GUARD), await asyncio_shell.connect(server.path) as client:
        async with client.stream("count", 50) as items:
            assert [item async for item in items] == list(range(50))
        async with client.stream("forever") as items:
            async for item in items:
                if item == 3:
                    break
        await asyncio_wait_until(handler, lambda: handler.closed_streams == 2)
        assert await client.call("echo", "after") == "after"


async def test_timeout_and_caller_cancellation_cancel_the_handler(
    server: ServerThread, handler: Handler
) -> None:
    async with asyncio.timeout(GUARD), await asyncio_shell.connect(server.path) as client:
        with pytest.raises(CallTimeout):
            await client.call("sleep", timeout=0.05)
        await asyncio_wait_until(handler, lambda: handler.cancelled == ["sleep"])
        task = asyncio.create_task(client.call("sleep", timeout=None))
        await asyncio_wait_until(handler, lambda: handler.sleeping == 1)
        task.cancel()
        await asyncio_wait_until(handler, lambda: len(handler.cancelled) == 2)
        assert await client.call("echo", 1) == 1


async def test_server_dying_fails_pending_calls_at_once(server: ServerThread, handler: Handler) -> None:
    async with asyncio.timeout(GUARD), await asyncio_shell.connect(server.path) as client:
        calls = [asyncio.create_task(client.call("sleep", timeout=None)) for _ in range(3)]
        await asyncio_wait_until(handler, lambda: handler.sleeping == 3)
        await asyncio.to_thread(server.stop)
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, ConnectionLost) for r in results), results
        with pytest.raises(ConnectionLost):
            await client.call("echo")


async def test_connect_to_a_missing_socket_fails_clearly(tmp_path: Path) -> None:
    async with asyncio.timeout(GUARD):
        with pytest.raises(ConnectFailed, match=r"missing\.sock"):
            await asyncio_shell.connect(tmp_path / "missing.sock")
