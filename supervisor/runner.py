"""``jobico up``: hold the home's lock, run every component, stop them in order.

The supervisor is itself an RPC server on ``.jobico/run/supervisor.sock``
(``status``, ``down``, ``restart``), so the CLI and the TUI control it the same
way they talk to any component.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import trio

from jobico.cli.visible import visible
from jobico.config import Config, flags_as_env
from jobico.errors import ConfigError, NotFound, UserError
from jobico.home import Home
from jobico.logfiles import MAX_BYTES, RotatingLog, formatter
from jobico.redact import redact_url
from jobico.rpc import trio_shell
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods
from supervisor import api
from supervisor.process import STOP_TIMEOUT_S, Supervised
from supervisor.spec import components, shutdown_order, start_waves
from supervisor.strays import pids_file, read_pids, wait_for_strays, write_pids

# supervisor.log in text: whose line it is (the supervisor's, or a component's it echoes).
FILE_FORMAT = "%(asctime)s %(levelname)s %(component)s: %(message)s"
ECHOED_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


class HomeLock:
    """An exclusive ``flock`` on the home: one supervisor per home, released by the kernel on death."""

    def __init__(self, home: Home) -> None:
        self.path = home.state / "supervisor.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise UserError(
                f"jobico is already running on {self.path.parent.parent} (supervisor pid {holder});"
                " stop it with `jobico down`"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Console:
    """The supervisor's concise live log: stderr, mirrored to ``log.file`` when set, and
    ``.jobico/logs/supervisor.log``, rotated like the components' logs, in ``log.format``.

    Messages echo components' stderr, which may quote tenants' files or guests'
    output, so control characters are shown as escapes, never sent to the terminal.
    Under ``jobico up --detach`` stderr already is ``supervisor.log``: lines are then
    written once, and stderr follows the file when it rotates (``RotatingLog``).
    """

    def __init__(self, log_file: Path, fmt: str = "text", mirror: Path | None = None,
                 max_bytes: int = MAX_BYTES) -> None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._file = RotatingLog(log_file, max_bytes)
        self._file.setFormatter(formatter(fmt, "supervisor", FILE_FORMAT))
        self._echo = 2 not in self._file.stdio
        self._mirror = open(mirror, "a", encoding="utf-8") if mirror else None  # noqa: SIM115

    def __call__(self, name: str, message: str, level: int = logging.INFO) -> None:
        shown = visible(message)
        line = f"{time.strftime('%H:%M:%S')} {name:<11} {shown}"
        if self._echo:
            print(line, file=sys.stderr, flush=True)
        if self._mirror is not None:
            self._mirror.write(line + "\n")
            self._mirror.flush()
        word, _, rest = shown.partition(" ")
        if word in ECHOED_LEVELS and rest:  # a component's stderr line: "WARNING message"
            level, shown = logging.getLevelName(word), rest
        record = logging.makeLogRecord({"name": "jobico.supervisor", "levelno": level,
                                        "levelname": logging.getLevelName(level), "msg": shown,
                                        "component": name})
        self._file.handle(record)


class Supervisor:
    def __init__(self, home: Home, config: Config, flags: Mapping[str, Any], role: str = "all") -> None:
        self.home = home
        self.config = config
        env = dict(os.environ, JOBICO_HOME=str(home.root), JOBICO_SUPERVISOR_PID=str(os.getpid()),
                   PYTHONUNBUFFERED="1")
        env.update(flags_as_env(flags))
        self.specs = components(config, role)
        self.role = role
        mirror = home.root / config.log.file if config.log.file else None
        self.say = console = Console(home.log_file("supervisor"), config.log.format,
                                     mirror)
        self.children = {s.name: Supervised(home, s, env, console) for s in self.specs}
        self._stop = trio.Event()
        self.state = "starting"
        self.started = time.time()

    async def run(self) -> None:
        """Run until ``down``, SIGINT or SIGTERM, then stop components in order.

        Cancellation: cancelling ``run`` kills nothing by itself; callers stop it
        through ``down`` so shutdown stays ordered.
        """
        pids = pids_file(self.home)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._on_signal, signals)
                await nursery.start(trio_shell.serve, self.home.socket("supervisor"), self.methods())
                nursery.start_soon(self._start_all, nursery)
                nursery.start_soon(self._track_pids, pids)
                await self._stop.wait()
                self.state = "stopping"
                self.say("supervisor", "stopping")
                for group in shutdown_order(self.specs):
                    async with trio.open_nursery() as stopping:
                        for spec in group:
                            stopping.start_soon(self.children[spec.name].stop)
                nursery.cancel_scope.cancel()
        self.home.socket("supervisor").unlink(missing_ok=True)
        pids.unlink(missing_ok=True)
        self.say("supervisor", "stopped")

    async def _start_all(self, nursery: trio.Nursery) -> None:
        """Start every back-end component at once, then the listeners once they serve.

        Components already tolerate peers that are not up yet (they reconnect), so
        only the webhook waits: it must not take events before the queue serves.
        """
        for wave in start_waves(self.specs):
            async with trio.open_nursery() as starting:
                for spec in wave:
                    if not self._stop.is_set():
                        starting.start_soon(nursery.start, self.children[spec.name].keep_running)
        if self._stop.is_set():
            return
        self.state = "running"
        ready = sum(c.state.state == "running" for c in self.children.values())
        where = (f"webhook on http://{self.config.listener.host}:{self.config.listener.port}"
                 if self.role == "all" else f"executor-only node on {redact_url(self.config.queue.url)}")
        self.say("supervisor", f"{ready}/{len(self.children)} components running; {where}")

    def _pids(self) -> list[int]:
        return [c.state.pid for c in self.children.values() if c.state.pid]

    async def _track_pids(self, path: Path) -> None:
        """Keep ``path`` listing the live components, for the next ``jobico up`` after a ``kill -9``."""
        written = None
        while True:
            pids = self._pids()
            if pids != written:
                await trio.to_thread.run_sync(write_pids, path, pids)
                written = pids
            await trio.sleep(0.5)

    async def _on_signal(self, signals: Any) -> None:
        async for _ in signals:
            self._stop.set()

    def methods(self) -> Methods:
        return (Methods()
                .call(api.status, self.status)
                .call(api.down, self.down)
                .call(api.restart, self.restart))

    async def status(self, request: Empty) -> api.SupervisorStatus:
        return api.SupervisorStatus(
            home=str(self.home.root),
            pid=os.getpid(),
            state=self.state,
            role=self.role,
            uptime_s=round(time.time() - self.started, 3),
            host=self.config.listener.host,
            port=self.config.listener.port,
            components=tuple(c.state.report() for c in self.children.values()),
        )

    async def down(self, request: Empty) -> api.Stopping:
        self._stop.set()
        return api.Stopping()

    async def restart(self, request: api.Restart) -> api.Restarting:
        child = self.children.get(request.name)
        if child is None:
            raise NotFound(f"no component named {request.name!r}; known: {', '.join(self.children)}")
        child.restart()
        return api.Restarting(request.name)


def check_port_free(host: str, port: int) -> None:
    """Errors: ``ConfigError`` naming ``listener.port`` when something already listens there."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"listener.port: cannot listen on {host}:{port}: {exc.strerror}; "
                "stop what uses it or pick another port (--port N)"
            ) from None


def run_supervisor(home: Home, config: Config, flags: Mapping[str, Any], role: str = "all") -> None:
    """Blocking entry of ``jobico up`` (foreground).

    Errors: ``UserError`` when another supervisor holds this home, its ``pids.json``
    is corrupt, or the webhook port is taken (said once here rather than as a
    listener restarting forever).
    """
    components(config, role)  # a bad role fails here, before the lock
    home.ensure()
    lock = HomeLock(home)
    lock.acquire()
    try:
        wait_for_strays(home, read_pids(pids_file(home)), STOP_TIMEOUT_S)
        if any(spec.module == "listener" for spec in components(config, role)):
            check_port_free(config.listener.host, config.listener.port)
        trio.run(Supervisor(home, config, flags, role).run)
    finally:
        lock.release()
