"""One supervised component: spawn, wait until it serves, echo its stderr, restart it.

Children learn the supervisor's pid (``JOBICO_SUPERVISOR_PID``) and stop by
themselves once re-parented, so a supervisor killed with ``kill -9`` never leaves
components running on their own; the next ``jobico up`` also waits for any such
leftovers before it starts (supervisor.strays).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from jobico import component_api
from jobico.home import Home
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY
from supervisor.api import Component
from supervisor.policy import next_failure_count, restart_delay
from supervisor.spec import ComponentSpec

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 25.0


class Say(Protocol):
    """The supervisor's console (``runner.Console``)."""

    def __call__(self, name: str, message: str, level: int = logging.INFO) -> None: ...


@dataclass(slots=True)
class ComponentState:
    spec: ComponentSpec
    state: str = "starting"  # starting | running | restarting | stopping | stopped
    pid: int | None = None
    restarts: int = 0
    started_at: float | None = None
    last_exit: int | None = None
    failures: int = 0
    process: trio.Process | None = field(default=None, repr=False)

    def report(self) -> Component:
        """As ``status`` tells it (``supervisor.api``)."""
        uptime = time.time() - self.started_at if self.started_at and self.state == "running" else 0.0
        return Component(self.spec.name, self.state, self.pid, self.restarts, round(uptime, 3),
                         self.last_exit)


class Supervised:
    """Keeps one component running until told to stop."""

    def __init__(
        self, home: Home, spec: ComponentSpec, env: dict[str, str], say: Say
    ) -> None:
        self.home = home
        self.state = ComponentState(spec)
        self._env = env
        self._say = say
        self._stopping = False

    @property
    def name(self) -> str:
        return self.state.spec.name

    async def keep_running(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Start, restart on every unplanned exit, return once ``stop()`` has been called.

        ``task_status.started()`` fires when the first instance serves RPC (or dies
        trying, so one broken component cannot hang ``jobico up``).
        """
        pending = [task_status]

        def report() -> None:
            while pending:
                pending.pop().started()

        while not self._stopping:
            ran_from = time.monotonic()
            exit_code = await self._run_once(report)
            report()
            if self._stopping:
                break
            ran_for = time.monotonic() - ran_from
            st = self.state
            st.failures = next_failure_count(st.failures, ran_for)
            delay = restart_delay(st.failures, ran_for)
            st.state, st.last_exit, st.restarts = "restarting", exit_code, st.restarts + 1
            self._say(self.name, f"exited with {_describe(exit_code)}; restarting in {delay:.1f}s",
                      logging.WARNING)
            await trio.sleep(delay)
        self.state.state = "stopped"

    async def _run_once(self, on_ready: Callable[[], None]) -> int:
        st = self.state
        st.state = "starting"
        process = await trio.lowlevel.open_process(
            st.spec.argv(sys.executable),
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        st.process, st.pid, st.started_at = process, process.pid, time.time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._echo, process)
            nursery.start_soon(self._await_ready, process, on_ready)
            code = await process.wait()
            nursery.cancel_scope.cancel()
        st.process = None
        return code

    async def _await_ready(self, process: trio.Process, on_ready: Callable[[], None]) -> None:
        socket = self.home.socket(self.name)
        with trio.move_on_after(READY_TIMEOUT_S):
            while process.returncode is None and not self._stopping:
                try:
                    async with await trio_shell.connect(socket, timeout=1.0) as client:
                        status = await component_api.status(client, EMPTY, timeout=1.0)
                except Exception:
                    await trio.sleep(0.05)
                    continue
                if status.pid == process.pid:
                    self.state.state = "running"
                    self._say(self.name, f"running (pid {process.pid})")
                    on_ready()
                    return
                await trio.sleep(0.05)

    async def _echo(self, process: trio.Process) -> None:
        assert process.stderr is not None
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    self._say(self.name, line.decode("utf-8", "replace"))

    async def stop(self) -> None:
        """SIGTERM, wait up to ``STOP_TIMEOUT_S``, then SIGKILL.

        Cancellation: shielded, so a stop once begun always ends with the process gone.
        """
        self._stopping = True
        process = self.state.process
        if process is None or process.returncode is not None:
            return
        self.state.state = "stopping"
        with trio.CancelScope(shield=True):
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(STOP_TIMEOUT_S):
                await process.wait()
            if process.returncode is None:
                self._say(self.name, f"did not stop within {STOP_TIMEOUT_S:.0f}s; killing it",
                          logging.WARNING)
                process.kill()
                await process.wait()

    def restart(self) -> None:
        process = self.state.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"

