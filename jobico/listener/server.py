"""The listener's I/O: the bound socket, hypercorn, and the links to ctl and the queue.

- ``bind``: the TCP socket, bound here so ``listener.workers`` processes can share
  one port through ``SO_REUSEPORT`` (the kernel spreads connections across them).
- ``serve_app``: hypercorn's trio worker on that socket.
- ``follow_catalog``: keeps ``app.catalog`` on ctl's latest version, reconnecting.
- ``QueueEnqueuer``: one persistent client to the queue; while it is down, 503.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn
import hypercorn.trio
import trio

from jobico.errors import JobicoError, Unavailable
from jobico.listener.app import ListenerApp
from jobico.listener.catalog import Catalog, ValidatorCache
from jobico.rpc.errors import ConnectionLost

log = logging.getLogger("jobico.listener")

Connect = Callable[[str, float], Awaitable[Any]]

ENQUEUE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 1.0
RECONNECT_PAUSE_S = 0.5
# A client that sends nothing for this long (a stalled or trickling body) is cut off;
# hypercorn's default is to wait forever, which lets idle sockets pile up.
READ_TIMEOUT_S = 10


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound, not yet listening, TCP socket.

    Errors: ``OSError`` when the address is taken (by another program, or by a
    listener of another home when ``reuse_port`` is off).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def hypercorn_config(sock: socket.socket, log: logging.Logger) -> hypercorn.Config:
    """A hypercorn config serving on ``sock``, which it takes over (``fd://``)."""
    config = hypercorn.Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = log
    config.backlog = 1024
    config.graceful_timeout = 5.0
    config.read_timeout = READ_TIMEOUT_S
    return config


async def serve_app(
    app: ListenerApp,
    sock: socket.socket,
    log: logging.Logger,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` until cancelled or ``shutdown_trigger`` returns.

    ``task_status.started`` gets hypercorn's ``http://host:port`` list once accepting.
    Cancellation: open connections are cut. A returned trigger stops accepting and
    lets in-flight requests finish (up to the graceful timeout).
    """
    config = hypercorn_config(sock, log)
    await hypercorn.trio.serve(app, config, shutdown_trigger=shutdown_trigger,  # type: ignore[arg-type]
                               task_status=task_status)


async def follow_catalog(
    connect: Connect, app: ListenerApp, log: logging.Logger, loaded: trio.Event
) -> None:
    """Keep ``app.catalog`` on ctl's current version, forever; ``loaded`` is set on the first.

    When ctl restarts the stream ends or breaks; the last catalog stays live while
    this reconnects every ``RECONNECT_PAUSE_S``.
    Cancellation: stops following; the app keeps its last catalog.
    """
    cache = ValidatorCache()
    while True:
        try:
            async with await connect("ctl", CONNECT_TIMEOUT_S) as client, \
                    client.stream("catalog", {}) as documents:
                async for document in documents:
                    app.catalog = catalog = Catalog(document, cache)
                    for problem in catalog.errors:
                        log.warning("catalog v%d: %s", catalog.version, problem)
                    loaded.set()
        except Unavailable as exc:
            log.debug("catalog stream from ctl: %s; reconnecting", exc)
        await trio.sleep(RECONNECT_PAUSE_S)


class QueueEnqueuer:
    """``enqueue`` over one persistent RPC client to the queue, reconnected on demand.

    While the queue is unreachable every call fails fast with ``Unavailable`` (503):
    at most one connection attempt per ``RECONNECT_PAUSE_S``.
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._client: Any = None
        self._lock = trio.Lock()
        self._next_try = 0.0

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def _get(self) -> Any:
        async with self._lock:
            if self._client is None:
                if trio.current_time() < self._next_try:
                    raise Unavailable("queue unreachable; retrying shortly")
                self._next_try = trio.current_time() + RECONNECT_PAUSE_S
                self._client = await self._connect("queue", CONNECT_TIMEOUT_S)
            return self._client

    async def enqueue(
        self, tenant: str, event: str, items: list[bytes], key: str | None
    ) -> list[str]:
        """The event ids, once the queue has the items on disk.

        Errors: ``Unavailable`` (queue down, full, tenant over its depth limit, or
        failing: any other error from the queue is logged and becomes ``Unavailable``).
        Cancellation: the items may or may not be queued; a retry with the same
        ``Idempotency-Key`` settles it.
        """
        client = await self._get()
        params = {"tenant": tenant, "event": event, "items": items, "key": key}
        try:
            result = await client.call("enqueue", params, timeout=ENQUEUE_TIMEOUT_S)
        except ConnectionLost:
            await self.aclose(client)
            raise
        except Unavailable:
            raise
        except JobicoError as exc:  # the queue failed on valid items: retryable for the sender
            log.error("queue enqueue failed: %s", exc)
            raise Unavailable(f"queue error: {exc}") from None
        return list(result["ids"])

    async def aclose(self, client: Any = None) -> None:
        """Drop the connection (only if it is still ``client``, when given).

        Cancellation: shielded, so a connection is never left half-closed.
        """
        current = self._client
        if current is not None and (client is None or client is current):
            self._client = None
            with trio.CancelScope(shield=True):
                await current.aclose()
