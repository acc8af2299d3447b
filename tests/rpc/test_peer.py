"""Peer: lazy connections that survive a restart of the other side, and calls retried until done."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from jobico.errors import Unavailable, UserError
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY, Call, Empty
from jobico.rpc.errors import BadReply
from jobico.rpc.peer import MAX_BACKOFF_S, Peer, backoff_s
from tests.rpc.handlers import Handler
from tests.rpc.test_api import Point

GUARD = 15
log = logging.getLogger("test.peer")


def test_backoff_doubles_from_50_ms_up_to_its_cap() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.4]
    assert backoff_s(7) == backoff_s(1000) == MAX_BACKOFF_S


def peer_of(tmp_path: Path) -> Peer:
    async def connect(name: str) -> trio_shell.Client:
        return await trio_shell.connect(tmp_path / f"{name}.sock", timeout=1)

    return Peer("echo", connect, log)


async def serving(tmp_path: Path, *, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
    """Serve an echoing handler until the scope handed to the starter is cancelled."""
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, tmp_path / "echo.sock", Handler().methods())
            task_status.started(scope)


@pytest.mark.trio
async def test_a_peer_reconnects_after_the_other_side_restarted(tmp_path: Path) -> None:
    peer = peer_of(tmp_path)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            first = await nursery.start(serving, tmp_path)
            assert await peer.call("echo", 1) == 1
            assert await peer.call("echo", 2) == 2
            first.cancel()
            await trio.sleep(0.05)  # the old connection is closed by the server going away
            second = await nursery.start(serving, tmp_path)
            with pytest.raises(Unavailable):
                await peer.call("echo", 3)  # on the broken connection: dropped
            assert await peer.call("echo", 4) == 4  # a fresh one
            await peer.aclose()
            second.cancel()


@pytest.mark.trio
async def test_call_until_done_waits_for_a_peer_that_is_not_up_yet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    peer, answers = peer_of(tmp_path), []

    async def ask() -> None:
        answers.append(await peer.call_until_done("echo", "late"))

    with trio.fail_after(GUARD), caplog.at_level(logging.WARNING, "test.peer"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await trio.sleep(0.3)  # several attempts fail meanwhile
            assert answers == []
            server = await nursery.start(serving, tmp_path)
            while not answers:  # noqa: ASYNC110 - the retry loop has no event to offer
                await trio.sleep(0.02)
            await peer.aclose()
            server.cancel()
    assert answers == ["late"]
    assert len([r for r in caplog.records if "echo.echo unavailable" in r.message]) == 1


@pytest.mark.trio
async def test_an_error_that_retrying_cannot_fix_is_raised_at_once(tmp_path: Path) -> None:
    peer = peer_of(tmp_path)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serving, tmp_path)
            with pytest.raises(UserError, match="no method named 'nope'"):
                await peer.call_until_done("nope")
            await peer.aclose()
            server.cancel()


@pytest.mark.trio
async def test_typed_calls_go_through_a_peer_and_its_retrying_view(tmp_path: Path) -> None:
    peer = peer_of(tmp_path)
    echo = Call("echo", Empty.from_wire, Point.from_wire)  # the handler echoes the params back
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serving, tmp_path)
            with pytest.raises(BadReply):  # {} is no Point: the reply is off this contract
                await echo(peer, EMPTY)
            point = Call("echo", Point.from_wire, Point.from_wire)
            assert await point(peer.retrying, Point(3, "p")) == Point(3, "p")
            await peer.aclose()
            server.cancel()
