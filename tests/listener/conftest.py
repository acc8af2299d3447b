"""A real hypercorn server on a free port, serving the app with in-memory neighbours."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import h11
import trio

from jobico.config import Config
from jobico.errors import Conflict, Unavailable
from jobico.listener.app import ListenerApp
from jobico.listener.catalog import Catalog
from jobico.listener.connections import ConnectionLimits
from jobico.listener.quotas import Quotas
from jobico.listener.server import bind, serve_app

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "tags": {"type": "array",
                                                        "items": {"type": "string"}}},
}


def job(tenant: str, event: str, **extra: Any) -> dict[str, Any]:
    return {"tenant": tenant, "package": "pkg", "event": event, "schema": SCHEMA,
            "schema_sha256": "s1", "secret": None, "max_body_kb": 1, **extra}


CATALOG = {
    "version": 1,
    "tenants": {
        "acme": {"events": {"signup": job("acme", "signup"),
                            "any": job("acme", "any", schema=None, schema_sha256=None,
                                       max_body_kb=512)}},
        "signed": {"events": {"hook": job("signed", "hook", secret=SECRET)}},
    },
}


@dataclass
class FakeEnqueuer:
    """The queue's ``enqueue`` contract in memory (CONTRACTS.md): ids increase; a key lives
    in the "sender" namespace of its (tenant, event) and is bound to the body's digest: the
    same digest (or a stored None) returns the first ids, another is ``Conflict``."""

    calls: list[tuple[str, str, list[bytes], str | None, str | None]] = field(default_factory=list)
    keys: dict[tuple[str, str, str, str], tuple[str | None, list[str]]] = field(default_factory=dict)
    down: bool = False
    counter: int = 0

    async def enqueue(self, tenant: str, event: str, items: list[bytes],
                      key: str | None, digest: str | None = None) -> list[str]:
        if self.down:
            raise Unavailable("queue is down")
        namespace = ("sender", tenant, event, key or "")
        if key is not None and namespace in self.keys:
            stored, ids = self.keys[namespace]
            if stored is not None and stored != digest:
                raise Conflict(f"idempotency key {key!r} was used for a different body")
            return ids
        self.calls.append((tenant, event, items, key, digest))
        ids = []
        for _ in items:
            self.counter += 1
            ids.append(f"{self.counter:016x}")
        if key is not None:
            self.keys[namespace] = digest, ids
        return ids


async def healthy() -> tuple[bool, dict[str, Any]]:
    return True, {"components": {"queue": "running"}}


def make_app(config: Config | None = None, **kwargs: Any) -> ListenerApp:
    config = config or Config()
    kwargs.setdefault("catalog", Catalog(CATALOG))
    return ListenerApp(FakeEnqueuer(), kwargs.pop("health", healthy), Quotas(config.quota),
                       **kwargs)


@asynccontextmanager
async def serving(app: ListenerApp, limits: ConnectionLimits = ConnectionLimits()
                  ) -> AsyncIterator[int]:
    """The port of a real hypercorn server running ``app``; stopped on exit."""
    sock = bind("127.0.0.1", 0, reuse_port=False)
    port = sock.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_app, app, sock, logging.getLogger("test.listener"),
                                    limits=limits))
        yield port
        nursery.cancel_scope.cancel()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(port: int, method: str, target: str | bytes, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> Response:
    """One HTTP/1.1 request over a fresh connection (h11 on a trio socket)."""
    hdrs = {"host": "127.0.0.1", "content-length": str(len(body))}
    hdrs.update(headers or {})
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        data = conn.send(h11.Request(method=method, target=target, headers=list(hdrs.items())))
        data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        return await read_response(stream, conn)


async def read_response(stream: trio.SocketStream, conn: h11.Connection) -> Response:
    status, headers, chunks = 0, {}, []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return Response(status, headers, b"".join(chunks))


async def post(port: int, path: str, body: bytes | Any, **headers: str) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"content-type": "application/json"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return await request(port, "POST", path, data, hdrs)
