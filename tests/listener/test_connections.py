"""Issue 13 item 11 on a real hypercorn socket: slow clients are cut off, connections are capped.

hypercorn's read timeout is per read: a client sending one byte every 9 s held its
connection forever, and any number of them could. Durations here are compared
with the limit they prove, with slack for a loaded machine.
"""

from __future__ import annotations

import contextlib
import json

import pytest
import trio

from jobico.listener.connections import BUSY, ConnectionLimits

from .conftest import make_app, serving

HEAD = b"POST /events/acme/any HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
SLACK_S = 1.5
DRIP_S = 0.2


async def drip(stream: trio.SocketStream, data: bytes, give_up_s: float) -> tuple[float, bytes]:
    """Send ``data`` a byte every ``DRIP_S`` (then spaces) until the server answers or closes.

    Returns the seconds it took and what the server sent (b"" when it closed or reset).
    """
    start = trio.current_time()
    data = data + b" " * 10_000
    received = b""
    with trio.move_on_after(give_up_s):
        for byte in data:
            try:
                await stream.send_all(bytes([byte]))
                with trio.move_on_after(DRIP_S):
                    received = await stream.receive_some(65536)
                    break
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                break
    took = trio.current_time() - start
    with trio.move_on_after(DRIP_S * 10), contextlib.suppress(trio.BrokenResourceError):
        while received and (more := await stream.receive_some(65536)):  # the rest of an answer
            received += more
    return took, received


@pytest.mark.trio
async def test_a_body_sent_a_byte_at_a_time_is_cut_off_within_the_request_timeout() -> None:
    limits = ConnectionLimits(request_timeout_s=2.0)  # head within 1 s, body 1 s after it
    app = make_app()
    async with serving(app, limits) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(HEAD + b"content-length: 100000\r\n\r\n")
            took, reply = await drip(stream, b'{"a":', give_up_s=limits.request_timeout_s * 4)
    assert took <= limits.request_timeout_s + SLACK_S, took
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    doc = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert doc["error"] == "timeout" and "listener.request_timeout_s" in doc["detail"]
    assert app.counters.snapshot().requests["acme", 408] == 1
    assert app.enqueuer.calls == []  # type: ignore[attr-defined]


@pytest.mark.trio
async def test_a_head_sent_a_byte_at_a_time_is_cut_off_within_the_head_timeout() -> None:
    limits = ConnectionLimits(request_timeout_s=2.0)
    async with serving(make_app(), limits) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            took, reply = await drip(stream, HEAD * 100, give_up_s=limits.request_timeout_s * 4)
    assert reply == b""  # closed: there is no request to answer yet
    assert took <= limits.head_timeout_s + SLACK_S, took


async def hold(port: int) -> trio.SocketStream:
    """A keep-alive connection that had one request answered (202) and stays open."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(HEAD + b"content-length: 2\r\n\r\n{}")
    reply = await stream.receive_some(65536)
    assert reply.startswith(b"HTTP/1.1 202 "), reply[:200]
    return stream


@pytest.mark.trio
async def test_connections_past_the_cap_get_503_and_a_freed_slot_serves_again() -> None:
    limits = ConnectionLimits(max_connections=3)
    app = make_app()
    with trio.fail_after(30):
        async with serving(app, limits) as port:
            held = [await hold(port) for _ in range(limits.max_connections)]
            extra = await trio.open_tcp_stream("127.0.0.1", port)
            refused = b""
            async with extra:
                with trio.move_on_after(3):  # nothing sent: only a refusal answers
                    refused = await extra.receive_some(65536)
                    assert await extra.receive_some(65536) == b""  # and the server closed
            assert refused == BUSY
            await held.pop().aclose()
            while True:  # until the server has seen the close
                try:
                    again = await hold(port)
                    break
                except (AssertionError, trio.BrokenResourceError):
                    await trio.sleep(0.05)
            for stream in [*held, again]:
                await stream.aclose()
    assert app.counters.snapshot().connections_refused >= 1
