"""The listener as a component: the webhook server plus its links, under the common main.

Serves ``listener.host:listener.port``; with ``listener.workers > 1`` the supervisor
runs ``listener-1..N`` and each binds the port with ``SO_REUSEPORT``. Two event loops:
HTTP, and everything a request calls (the queue, the health and stats probes), runs
on an asyncio loop on a thread of its own (``server.serve_app``); the RPC socket,
signals, the ctl follower and the saving of the counters (``tally.py``) stay on the
component shell's trio loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import trio

from jobico.component import Context
from jobico.errors import ConfigError, JobicoError, Unavailable
from jobico.listener.app import ListenerApp
from jobico.listener.catalog import EMPTY
from jobico.listener.connections import ConnectionLimits
from jobico.listener.enqueuer import QueueEnqueuer
from jobico.listener.metrics import Sources
from jobico.listener.quotas import Quotas
from jobico.listener.server import bind, follow_catalog, serve_app
from jobico.listener.tally import SAVE_S, TallyFiles
from jobico.queue import api as queue_api
from jobico.recorder import api as recorder_api
from jobico.rpc import asyncio_shell
from jobico.rpc.api import Empty
from supervisor import api as supervisor_api

FIRST_CATALOG_WAIT_S = 10.0
PROBE_TIMEOUT_S = 1.0

T = TypeVar("T")


class ListenerService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.enqueuer = QueueEnqueuer(self._connect)
        quotas = Quotas(ctx.config.quota, share=ctx.config.listener.workers)
        self.app = ListenerApp(self.enqueuer, self.health, quotas, stats=self.stats)
        self.tally = TallyFiles(ctx.home.run, ctx.name, self.app.counters)
        self.limits = ConnectionLimits.of(ctx.config.listener)
        self.urls: list[str] = []
        self._stop = trio.Event()
        self._stopped = trio.Event()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, wait briefly for the first catalog, serve until ``shutdown`` or cancelled.

        Ready (``task_status.started``) once accepting connections, so the supervisor
        starts nothing that relies on the webhook before it answers.
        Errors: ``ConfigError`` when the port cannot be bound.
        """
        listener = self.ctx.config.listener
        try:
            sock = bind(listener.host, listener.port, reuse_port=listener.workers > 1)
        except OSError as exc:
            raise ConfigError(f"listener.port: cannot listen on {listener.host}:{listener.port}: "
                              f"{exc.strerror or exc}") from None
        loaded = trio.Event()
        self.tally.load()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._save_counters)
                nursery.start_soon(follow_catalog, self.ctx.connect, self.app, self.ctx.log, loaded)
                with trio.move_on_after(FIRST_CATALOG_WAIT_S):
                    await loaded.wait()
                if not loaded.is_set():
                    self.ctx.log.warning("no catalog from ctl yet; answering 503 until one comes")
                self.urls = await nursery.start(self._serve, sock, nursery.cancel_scope)
                self.ctx.log.info("%s serving %s", self.ctx.name, " ".join(self.urls))
                task_status.started()
        finally:
            self._stopped.set()
            self._save_now()

    async def _save_counters(self) -> None:
        """Keep the counters file at most ``SAVE_S`` behind (off the trio thread: an fsync)."""
        while True:
            await trio.sleep(SAVE_S)
            if self.tally.due:
                await trio.to_thread.run_sync(self._save_now)

    def _save_now(self) -> None:
        try:
            self.tally.save()
        except OSError as exc:
            self.ctx.log.warning("cannot save the webhook counters: %s", exc)

    async def _serve(self, sock: Any, done: trio.CancelScope, *,
                     task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """hypercorn until ``shutdown`` has let in-flight requests finish; then stop the rest."""
        await serve_app(self.app, sock, self.ctx.log, limits=self.limits,
                        shutdown_trigger=self._stop.wait, closing=self.enqueuer.aclose,
                        task_status=task_status)
        done.cancel()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish (hypercorn's graceful timeout)."""
        self._stop.set()
        await self._stopped.wait()

    async def status(self) -> dict[str, Any]:
        return {"urls": self.urls, "catalog_version": self.app.catalog.version,
                "queue_connected": self.enqueuer.connected, "enqueue_calls": self.enqueuer.calls,
                **self.app.counters.as_dict()}

    async def _connect(self, component: str, timeout: float) -> asyncio_shell.Client:
        """An asyncio RPC client, for the HTTP thread's loop (``ctx.connect`` is trio's)."""
        return await asyncio_shell.connect(self.ctx.home.socket(component), timeout=timeout)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Every component of the home ``running``, as the supervisor sees it.

        Run without a supervisor (alone, in tests), healthy means a catalog and a
        reachable queue.
        """
        try:
            async with await self._connect("supervisor", PROBE_TIMEOUT_S) as client:
                status = await supervisor_api.status(client, Empty(), timeout=PROBE_TIMEOUT_S)
        except Unavailable:
            return await self._health_alone()
        states = {c.name: c.state for c in status.components}
        ok = bool(states) and all(state == "running" for state in states.values())
        return ok, {"components": states, "catalog_version": self.app.catalog.version}

    async def _health_alone(self) -> tuple[bool, dict[str, Any]]:
        queue = await self._queue_stats() is not None
        catalog = self.app.catalog is not EMPTY
        states = {"ctl": "running" if catalog else "unknown",
                  "queue": "running" if queue else "unreachable"}
        return queue and catalog, {"components": states, "supervisor": "unreachable"}

    async def stats(self) -> Sources:
        """What ``/metrics`` shows: the counters of every listener of the home, and the
        queue's and recorder's stats and the supervisor's status, fetched together."""
        queue, recorder, supervisor = await asyncio.gather(
            self._queue_stats(), self._recorder_stats(),
            self._supervisor_status())
        counters = await asyncio.to_thread(self.tally.total)
        return Sources(counters, None if queue is None else queue.to_wire(),
                       None if recorder is None else recorder.to_wire(),
                       None if supervisor is None else supervisor.to_wire(), self.ctx.name)

    async def _queue_stats(self) -> queue_api.QueueStats | None:
        return await self._probe("queue", partial(queue_api.stats, request=Empty(), timeout=PROBE_TIMEOUT_S))

    async def _recorder_stats(self) -> recorder_api.RecorderStats | None:
        return await self._probe("recorder",
                                 partial(recorder_api.stats, request=Empty(), timeout=PROBE_TIMEOUT_S))

    async def _supervisor_status(self) -> supervisor_api.SupervisorStatus | None:
        return await self._probe("supervisor",
                                 partial(supervisor_api.status, request=Empty(), timeout=PROBE_TIMEOUT_S))

    async def _probe(self, component: str, ask: Callable[[asyncio_shell.Client], Awaitable[T]]) -> T | None:
        """``ask`` on a connection of its own; None (logged) when the component does not answer."""
        try:
            async with await self._connect(component, PROBE_TIMEOUT_S) as client:
                return await ask(client)
        except JobicoError as exc:
            self.ctx.log.debug("%s: %s", component, exc)
            return None
