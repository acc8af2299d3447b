"""The listener's I/O: the bound socket, hypercorn, and the links to ctl and the queue.

- ``bind``: the TCP socket, bound here so ``listener.workers`` processes can share
  one port through ``SO_REUSEPORT`` (the kernel spreads connections across them).
- ``serve_app``: hypercorn's asyncio worker on that socket, on a thread with its own
  event loop, started and stopped from trio, within the ``ConnectionLimits`` of
  ``connections.py`` (a request's time, the connections per process). The asyncio
  worker costs about half the CPU per request of hypercorn's trio worker
  (docs/performance.md), and the rest of the listener (the RPC socket, signals, the
  ctl follower) stays on the component shell's trio loop. Whatever the app calls
  (``enqueuer``, ``health``, ``stats``) runs on the asyncio loop and must use
  ``asyncio_shell`` clients.
- ``follow_catalog``: keeps ``app.catalog`` on ctl's latest version, reconnecting;
  from trio, by replacing ``app.catalog`` whole (one attribute store, thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Awaitable, Callable

import hypercorn
import trio
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Sockets
from hypercorn.utils import repr_socket_addr, wrap_app

from jobico.ctl import api as ctl_api
from jobico.listener.app import ListenerApp
from jobico.listener.catalog import Catalog, ValidatorCache
from jobico.listener.connections import CappedSocket, ConnectionLimits, Deadline
from jobico.listener.enqueuer import CONNECT_TIMEOUT_S, Connect

log = logging.getLogger("jobico.listener")

# A client that sends nothing for this long is cut off (hypercorn's default is to wait
# forever); a trickling one is cut by the request timeout (``ConnectionLimits``).
READ_TIMEOUT_S = 10
BACKLOG = 1024
# Cut (cancelled), the HTTP thread closes its connections at once; past this, it is left behind.
CUT_TIMEOUT_S = 5.0


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


def hypercorn_config(sock: socket.socket, log: logging.Logger,
                     limits: ConnectionLimits = ConnectionLimits()) -> hypercorn.Config:
    """A hypercorn config serving on ``sock``, which it takes over (``fd://``)."""
    config = _config(log, limits)
    config.bind = [f"fd://{sock.detach()}"]
    return config


def _config(log: logging.Logger, limits: ConnectionLimits) -> hypercorn.Config:
    config = hypercorn.Config()
    config.accesslog = None
    config.errorlog = log
    config.backlog = BACKLOG
    config.graceful_timeout = 5.0
    config.read_timeout = READ_TIMEOUT_S
    config.keep_alive_timeout = limits.head_timeout_s  # runs until a request's head is whole
    return config


async def serve_app(
    app: ListenerApp,
    sock: socket.socket,
    log: logging.Logger,
    *,
    limits: ConnectionLimits = ConnectionLimits(),
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    closing: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` (hypercorn's asyncio worker, own thread) until stopped.

    ``task_status.started`` gets the ``http://host:port`` list once the socket listens
    (connections wait in the backlog until the loop accepts them). ``closing`` runs
    on the asyncio loop last, to close the app's asyncio clients.
    Cancellation: open connections are cut. A returned (trio) ``shutdown_trigger``
    stops accepting and lets in-flight requests finish (up to the graceful timeout).
    Errors: whatever hypercorn or ``closing`` raised on the thread.
    """
    sock.listen(BACKLOG)
    urls = [f"http://{repr_socket_addr(sock.family, sock.getsockname())}"]
    http = _HttpThread(app, log, limits, sock, closing)
    http.start(trio.lowlevel.current_trio_token())
    task_status.started(urls)
    try:
        async with trio.open_nursery() as nursery:
            if shutdown_trigger is not None:
                nursery.start_soon(_stop_after, shutdown_trigger, http)
            await http.finished.wait()
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CUT_TIMEOUT_S):
            http.cut()
            await http.finished.wait()
    if http.error is not None:
        raise http.error


async def _stop_after(trigger: Callable[[], Awaitable[None]], http: _HttpThread) -> None:
    await trigger()
    http.stop()


class _HttpThread:
    """hypercorn's asyncio ``serve`` on a loop of its own, on a daemon thread.

    ``stop`` (graceful) and ``cut`` (cancel) are safe to call from trio at any time,
    also before the loop runs or after it closed; ``finished`` is set from the thread's
    end through the trio token.
    """

    def __init__(self, app: ListenerApp, log: logging.Logger, limits: ConnectionLimits,
                 sock: socket.socket, closing: Callable[[], Awaitable[None]] | None) -> None:
        self.finished = trio.Event()
        self.error: BaseException | None = None
        self._config, self._closing = _config(log, limits), closing
        self._app = Deadline(app, limits.body_timeout_s, limits.request_timeout_s)
        self._sock = CappedSocket(sock, limits.max_connections, app.counters.refuse_connection)
        self._loop = asyncio.new_event_loop()
        self._graceful = asyncio.Event()
        self._task = self._loop.create_task(self._serve())

    def start(self, token: trio.lowlevel.TrioToken) -> None:
        threading.Thread(target=self._run, args=(token,), name="listener-http", daemon=True).start()

    def stop(self) -> None:
        self._soon(self._graceful.set)

    def cut(self) -> None:
        self._soon(self._task.cancel)

    def _soon(self, callback: Callable[[], object]) -> None:
        if not self.finished.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to stop
                self._loop.call_soon_threadsafe(callback)

    async def _serve(self) -> None:
        try:
            await worker_serve(wrap_app(self._app, self._config.wsgi_max_body_size, "asgi"),
                               self._config, sockets=Sockets([], [self._sock], []),
                               shutdown_trigger=self._graceful.wait)
        except asyncio.CancelledError:
            pass  # cut from trio
        finally:
            if self._closing is not None:
                await self._closing()

    def _run(self, token: trio.lowlevel.TrioToken) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._task)
        except BaseException as exc:  # reported to trio by ``serve_app``
            self.error = exc
        finally:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.close()
            with contextlib.suppress(trio.RunFinishedError):  # trio is gone: nobody waits
                token.run_sync_soon(self.finished.set)


async def follow_catalog(
    connect: Connect, app: ListenerApp, log: logging.Logger, loaded: trio.Event
) -> None:
    """Keep ``app.catalog`` on ctl's current version, forever; ``loaded`` is set on the first.

    When ctl restarts the stream ends or breaks; the last catalog stays live while
    ``jobico.ctl.api.follow_catalog`` reconnects.
    Cancellation: stops following; the app keeps its last catalog.
    """
    cache = ValidatorCache()

    async def adopt(version: ctl_api.Catalog) -> None:
        app.catalog = catalog = Catalog(version, cache)
        for problem in catalog.errors:
            log.warning("catalog v%d: %s", catalog.version, problem)
        loaded.set()

    await ctl_api.follow_catalog(functools.partial(connect, "ctl", CONNECT_TIMEOUT_S), adopt, log)
