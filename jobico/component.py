"""The common main of every component process (``python -m jobico.<component>``).

Each component is a service object plus this shell: it reads the home from
``JOBICO_HOME``, loads the layered config, logs to ``.jobico/logs/<name>.log``
with rotation, as text or JSON lines (``logfiles.py``; warnings also to stderr,
which the supervisor echoes), serves RPC
on ``.jobico/run/<name>.sock`` and turns SIGTERM/SIGINT into an orderly
``shutdown()``. The service only knows its own job.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import trio

from jobico import component_api
from jobico.component_api import ComponentStatus
from jobico.config import Config, load_config
from jobico.errors import JobicoError
from jobico.home import Home
from jobico.logfiles import RotatingLog, formatter
from jobico.private import UMASK
from jobico.rpc import trio_shell
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

SHUTDOWN_GRACE_S = 20.0
# Orphaned (supervisor killed), every component stops at once, so nobody is left to finish
# with: an executor would spend its whole grace retrying a settle with a queue that is gone,
# and the next `jobico up` waits for it. Nothing acknowledged needs the grace (enqueues and
# records are durable before they are answered; a lost ack means one more delivery).
ORPHAN_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Context:
    home: Home
    config: Config
    name: str
    log: logging.Logger

    async def connect(self, component: str, timeout: float = 5.0) -> trio_shell.Client:
        """An RPC client to another component of the same home.

        Errors: ``ConnectFailed`` when that component is not serving (yet).
        """
        return await trio_shell.connect(self.home.socket(component), timeout=timeout)


class Task(Protocol):
    """What every service is: a task, started with ``nursery.start``, ready when it says so.

    Two hooks are optional: ``async status() -> Mapping`` (its figures in ``status``)
    and ``async shutdown()`` (a graceful stop, before it is cancelled).
    """

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None: ...


@runtime_checkable
class Service(Task, Protocol):
    """A service with an api module: ``methods()`` lists what it answers (``jobico.rpc.dispatch``)."""

    def methods(self) -> Methods: ...


def component_methods(ctx: Context, service: Service | Task) -> Methods:
    """What a component's socket answers: ``status`` (``jobico.component_api``), then the service's
    (a service without ``methods()``, the listener, answers only ``status``)."""
    started_at = time.time()
    figures = getattr(service, "status", None)

    async def status(request: Empty) -> ComponentStatus:
        details = dict(await figures()) if figures is not None else {}
        return ComponentStatus(ctx.name, os.getpid(), started_at, details)

    own = service.methods() if isinstance(service, Service) else Methods()
    return Methods().call(component_api.status, status).include(own)


def setup_logging(home: Home, name: str, level: str, fmt: str = "text") -> logging.Logger:
    """Log to ``.jobico/logs/<name>.log`` as ``fmt`` (``log.format``: text or json)."""
    home.logs.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    to_file = RotatingLog(home.log_file(name))
    to_file.setFormatter(formatter(fmt, name))
    root.addHandler(to_file)
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.WARNING)
    to_console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(to_console)
    return logging.getLogger(f"jobico.{name}")


async def serve_component(ctx: Context, service: Service | Task) -> None:
    """Run ``service`` and its RPC socket until SIGTERM/SIGINT or the supervisor's death.

    Cancellation: on a stop, the socket stops accepting first, then ``shutdown()``
    gets up to ``SHUTDOWN_GRACE_S`` to flush before everything is cancelled.
    """
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signal, ctx, stop)
        nursery.start_soon(_stop_when_orphaned, ctx, stop)
        await nursery.start(service.run)
        serving = trio.CancelScope()

        async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with serving:
                await trio_shell.serve(
                    ctx.home.socket(ctx.name), component_methods(ctx, service), task_status=task_status
                )

        await nursery.start(serve)
        ctx.log.info("%s ready (pid %d)", ctx.name, os.getpid())
        await stop.wait()
        shutdown = getattr(service, "shutdown", None)
        if shutdown is not None:
            with trio.move_on_after(ORPHAN_GRACE_S if _orphaned() else SHUTDOWN_GRACE_S):
                await shutdown()
        serving.cancel()
        nursery.cancel_scope.cancel()
    ctx.home.socket(ctx.name).unlink(missing_ok=True)


async def _stop_on_signal(ctx: Context, stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            ctx.log.info("%s stopping on %s", ctx.name, signal.Signals(signum).name)
            stop.set()


async def _stop_when_orphaned(ctx: Context, stop: trio.Event) -> None:
    """A supervisor killed with ``kill -9`` cannot stop us: notice being re-parented.

    ``PR_SET_PDEATHSIG`` would be simpler but fires when the spawning *thread* ends,
    and trio spawns processes from its idle-expiring thread cache.
    """
    supervisor = os.environ.get("JOBICO_SUPERVISOR_PID")
    if not supervisor:
        return
    while not _orphaned():  # noqa: ASYNC110 - polling the kernel, no event to wait on
        await trio.sleep(0.5)
    ctx.log.warning("%s: supervisor (pid %s) is gone; stopping", ctx.name, supervisor)
    stop.set()


def _orphaned() -> bool:
    """Started by a supervisor that is no longer our parent."""
    supervisor = os.environ.get("JOBICO_SUPERVISOR_PID")
    return bool(supervisor) and os.getppid() != int(supervisor or 0)


def main(default_name: str, factory: Callable[[Context], Service | Task]) -> None:
    """Entry point of ``python -m jobico.<component> [instance-name]``."""
    name = sys.argv[1] if len(sys.argv) > 1 else default_name
    os.umask(UMASK)  # whatever it creates (logs, segments, artefacts) is its owner's only
    home = Home(Path(os.environ.get("JOBICO_HOME", ".")).resolve())
    home.ensure()
    config = load_config(home.root)
    log = setup_logging(home, name, config.log.level, config.log.format)
    ctx = Context(home=home, config=config, name=name, log=log)
    try:
        trio.run(serve_component, ctx, factory(ctx))
    except Exception as exc:
        problems = _leaves(exc)
        if all(isinstance(p, JobicoError) for p in problems):  # said plainly, no traceback
            log.error("%s cannot run: %s", name, "; ".join(map(str, problems)))
        else:
            log.exception("%s crashed", name)
        raise SystemExit(1) from None


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
