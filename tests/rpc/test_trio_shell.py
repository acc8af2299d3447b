"""The trio shell over real Unix sockets: serve, call, stream, errors, failures."""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from jobico.errors import NotFound, Unavailable, UserError
from jobico.rpc import trio_shell
from jobico.rpc.errors import CallTimeout, ConnectFailed, ConnectionLost, RemoteError
from tests.rpc.handlers import Handler, trio_wait_until

pytestmark = pytest.mark.trio

GUARD = 15  # seconds: every test fails instead of hanging


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def path(tmp_path: Path, handler: Handler) -> AsyncIterator[Path]:
    """A socket served by ``handler`` for the duration of the test."""
    sock = tmp_path / "t.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(trio_shell.serve, sock, handler.methods())
        yield sock
        nursery.cancel_scope.cancel()


async def test_call_returns_the_result_with_bytes_intact(path: Path) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            params = {"tenant": "acme", "items": [b"{}", b"\x00\xff"], "key": None}
            assert await client.call("echo", params) == params


async def test_socket_is_private_and_removed_after_serving(tmp_path: Path) -> None:
    sock = tmp_path / "p.sock"
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, sock, Handler().methods())
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
            nursery.cancel_scope.cancel()
    assert not sock.exists()


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    sock = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, sock, Handler().methods())
            assert await trio_shell.call(sock, "echo", 7) == 7
            nursery.cancel_scope.cancel()


async def test_serve_refuses_to_replace_a_file_that_is_not_a_socket(tmp_path: Path) -> None:
    (tmp_path / "queue.sock").write_text("precious")
    with trio.fail_after(GUARD), pytest.raises(UserError, match="not a socket"):
        await trio_shell.serve(tmp_path / "queue.sock", Handler().methods())
    assert (tmp_path / "queue.sock").read_text() == "precious"


async def test_500_concurrent_calls_on_one_connection(path: Path) -> None:
    results: dict[int, int] = {}
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:

            async def one(i: int) -> None:
                results[i] = await client.call("echo", i)

            async with trio.open_nursery() as nursery:
                for i in range(500):
                    nursery.start_soon(one, i)
    assert results == {i: i for i in range(500)}


async def test_a_16_mib_payload_round_trips(path: Path) -> None:
    blob = os.urandom(16 * 2**20 + 3)
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            assert await client.call("echo", blob) == blob


async def test_remote_errors_are_caught_by_their_jobico_type(path: Path) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            with pytest.raises(NotFound, match="no tenant 'acme'"):
                await client.call("missing", "acme")
            with pytest.raises(Unavailable, match="queue is full") as full:
                await client.call("full")
            assert isinstance(full.value, RemoteError)
            assert full.value.type_name == "QueueFull"
            with pytest.raises(UserError, match="no method named 'nope'"):
                await client.call("nope")
            assert await client.call("echo", "still fine") == "still fine"


async def test_an_unexpected_exception_is_logged_and_sent_as_internal_error(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(GUARD), caplog.at_level(logging.ERROR, logger="jobico.rpc"):
        async with await trio_shell.connect(path) as client:
            with pytest.raises(RemoteError, match="crash: RuntimeError: boom") as info:
                await client.call("crash")
    assert info.value.type_name == "InternalError"
    assert "boom" in caplog.text


async def test_an_unencodable_result_is_an_error_reply_not_a_dead_connection(path: Path) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            with pytest.raises(RemoteError, match="cannot encode"):
                await client.call("unencodable")
            assert await client.call("echo", 1) == 1


async def test_stream_delivers_items_in_order_then_ends(path: Path, handler: Handler) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client, client.stream("count", 100) as items:
            assert [item async for item in items] == list(range(100))
    assert handler.closed_streams == 1


async def test_a_name_can_be_both_a_call_and_a_stream(path: Path) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            assert await client.call("catalog") == {"version": 1}
            async with client.stream("catalog") as items:
                assert [item["version"] async for item in items] == [1, 2]


async def test_leaving_a_stream_early_closes_the_server_generator(path: Path, handler: Handler) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            async with client.stream("forever") as items:
                async for item in items:
                    if item == 3:
                        break
            await trio_wait_until(handler, lambda: handler.closed_streams == 1)
            assert await client.call("echo", "after") == "after"


async def test_a_stream_error_comes_after_the_items_before_it(path: Path) -> None:
    seen = []
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client, client.stream("fail_after_two") as items:
            with pytest.raises(NotFound, match="item 3 is gone"):
                async for item in items:
                    seen.append(item)
    assert seen == [1, 2]


async def test_call_timeout_cancels_the_handler(path: Path, handler: Handler) -> None:
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(path) as client:
            with pytest.raises(CallTimeout, match="sleep"):
                await client.call("sleep", timeout=0.05)
            await trio_wait_until(handler, lambda: bool(handler.cancelled))
    assert handler.cancelled == ["sleep"]


async def test_server_going_away_fails_every_pending_call_and_stream(tmp_path: Path) -> None:
    sock = tmp_path / "dies.sock"
    handler = Handler()
    server = trio.CancelScope()
    failures: list[BaseException] = []

    async def run_server(task_status: trio.TaskStatus[None]) -> None:
        with server:
            await trio_shell.serve(sock, handler.methods(), task_status=task_status)

    async def pending_call(client: trio_shell.Client) -> None:
        with pytest.raises(ConnectionLost) as info:
            await client.call("sleep", timeout=None)
        failures.append(info.value)

    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_server)
            async with await trio_shell.connect(sock) as client:
                async with client.stream("forever") as items:
                    assert await items.__anext__() == 0
                    for _ in range(3):
                        nursery.start_soon(pending_call, client)
                    await trio_wait_until(handler, lambda: handler.sleeping == 3)
                    server.cancel()  # the component dies
                    with pytest.raises(ConnectionLost) as info:
                        async for _ in items:
                            pass
                    failures.append(info.value)
                with pytest.raises(ConnectionLost):
                    await client.call("echo")
    assert len(failures) == 4


async def test_a_peer_that_closes_mid_call_gives_connection_lost(tmp_path: Path) -> None:
    sock = tmp_path / "rude.sock"
    listener = trio.socket.socket(trio.socket.AF_UNIX)
    await listener.bind(str(sock))
    listener.listen()

    async def read_then_hang_up() -> None:
        conn, _ = await listener.accept()
        with conn:
            await conn.recv(1024)

    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_then_hang_up)
            async with await trio_shell.connect(sock) as client:
                with pytest.raises(ConnectionLost):
                    await client.call("echo", 1, timeout=None)
    listener.close()


async def test_connect_to_nothing_fails_clearly(tmp_path: Path) -> None:
    with trio.fail_after(GUARD):
        with pytest.raises(ConnectFailed, match=r"missing\.sock"):
            await trio_shell.connect(tmp_path / "missing.sock")
        bound = socket.socket(socket.AF_UNIX)
        bound.bind(str(tmp_path / "deaf.sock"))  # bound, never listening
        with pytest.raises(ConnectFailed, match="refused"):
            await trio_shell.call(tmp_path / "deaf.sock", "status")
        bound.close()


async def test_closing_the_client_fails_its_pending_calls(path: Path) -> None:
    with trio.fail_after(GUARD):
        client = await trio_shell.connect(path)
        async with trio.open_nursery() as nursery:

            async def pending() -> None:
                with pytest.raises(ConnectionLost):
                    await client.call("sleep", timeout=None)

            nursery.start_soon(pending)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
        with pytest.raises(ConnectionLost):
            await client.call("echo")
