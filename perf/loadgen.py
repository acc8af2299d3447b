"""An asyncio HTTP/1.1 load generator for the webhook, and a trivial server to check it.

Raw keep-alive sockets with pre-built requests: parsing an answer costs one
``readuntil`` and one ``readexactly``, so one core drives many times the rate the
platform accepts (``selfcheck`` measures it against ``trivial_server``).

Two shapes of load:

- closed loop (``rate=None``): every connection sends its next request as soon as
  the previous one is answered: the most the platform accepts;
- open loop (``rate`` requests/s): requests are scheduled at fixed intervals and a
  request's send time is its *scheduled* time, so a stalled server shows up in the
  latency (no coordinated omission).

``Load.sent`` maps every accepted event id to its send time (``time.perf_counter``),
for end-to-end latency once the id is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

ACCEPTED = 202


def request(path: str, body: bytes) -> bytes:
    """One pre-built POST."""
    return (f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def batch_body(items: list[object]) -> bytes:
    return json.dumps(items[0] if len(items) == 1 else {"data": items}).encode()


@dataclass
class Load:
    """What one run of load produced."""

    statuses: Counter[int] = field(default_factory=Counter)
    sent: dict[str, float] = field(default_factory=dict)
    replies: list[float] = field(default_factory=list)  # request -> 202 seconds
    started: float = 0.0
    elapsed: float = 0.0

    @property
    def accepted(self) -> int:
        return len(self.sent)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    payload: bytes) -> tuple[int, bytes]:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    return status, await reader.readexactly(length)


async def _connection(host: str, port: int, requests: list[bytes], load: Load, until: float,
                      slots: _Schedule | None, room: Callable[[], Awaitable[None]] | None) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    turn = 0
    try:
        while True:
            if slots is None:
                if room is not None:
                    await room()
                sent = time.perf_counter()
            else:
                sent = slots.next()
                delay = sent - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if sent >= until:
                return
            status, body = await _exchange(reader, writer, requests[turn % len(requests)])
            turn += 1
            load.statuses[status] += 1
            if status == ACCEPTED:
                load.replies.append(time.perf_counter() - sent)
                for event_id in json.loads(body)["ids"]:
                    load.sent[event_id] = sent
    finally:
        writer.close()


class _Schedule:
    """Fixed-interval send times shared by the connections of an open-loop run."""

    def __init__(self, start: float, rate: float) -> None:
        self.start, self.interval, self.count = start, 1.0 / rate, 0

    def next(self) -> float:
        self.count += 1
        return self.start + (self.count - 1) * self.interval


async def drive(host: str, port: int, requests: list[bytes], *, seconds: float, connections: int,
                rate: float | None = None, load: Load | None = None,
                room: Callable[[], Awaitable[None]] | None = None) -> Load:
    """Send ``requests`` (cycled, each connection its own rotation) for ``seconds``.

    ``room`` (closed loop only) is awaited before each request: a way to bound
    the work in flight beyond the connections.

    ``rate`` (requests/s, open loop) needs enough ``connections`` to keep up with
    the server's reply time: rate x reply time < connections.
    """
    load = load or Load()
    load.started = time.perf_counter()
    until = load.started + seconds
    slots = _Schedule(load.started, rate) if rate else None
    await asyncio.gather(*(
        _connection(host, port, requests[i % len(requests):] + requests[:i % len(requests)],
                    load, until, slots, room)
        for i in range(connections)))
    load.elapsed = time.perf_counter() - load.started
    return load


# --- a trivial server: the load generator's own ceiling --------------------------------------

_ids = itertools.count()


async def _trivial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            body = await reader.readexactly(length)
            n = len(json.loads(body).get("data", [0])) if body.startswith(b'{"data"') else 1
            ids = json.dumps({"ids": [f"{next(_ids):016x}" for _ in range(n)]})
            writer.write(b"HTTP/1.1 202 \r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(ids), ids.encode()))
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def trivial_server(sock: socket.socket) -> None:
    """Serve 202 ``{"ids": [...]}`` on ``sock`` forever (run it in a child process)."""

    async def main() -> None:
        server = await asyncio.start_server(_trivial, sock=sock)
        await server.serve_forever()

    asyncio.run(main())
