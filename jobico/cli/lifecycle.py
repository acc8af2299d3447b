"""init, up, down, status, config, tui: starting, stopping and looking at a home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from jobico import component_api
from jobico.cli.app import (
    EXIT_NOT_RUNNING,
    HOME_PANEL,
    HomeOption,
    JsonOption,
    NotRunning,
    ask,
    command,
    fail,
    home_of,
    print_json,
    print_table,
    say,
)
from jobico.config import flags_as_env, load_config
from jobico.errors import JobicoError, UserError
from jobico.home import CONFIG_NAME, Home
from jobico.procs import alive
from jobico.queue import api as queue_api
from jobico.rpc.api import EMPTY
from supervisor import api as supervisor_api

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "home"
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting: SECTION.KEY=VALUE (repeatable)."),
]
PortOption = Annotated[int | None, typer.Option("--port", help="Webhook port (listener.port).")]
class Role(StrEnum):
    all = "all"
    executor = "executor"


RoleOption = Annotated[Role, typer.Option(
    "--role", help="all: every component; executor: only executors, leasing from --queue.")]
QueueOption = Annotated[str | None, typer.Option(
    "--queue", help="The redis queue at redis://[:PASSWORD@]HOST:PORT (sets queue.backend, queue.url).")]


def _flags(port: int | None, settings: list[str] | None) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. listener.port=9000")
        flags[key.strip()] = value
    if port is not None:
        flags["listener.port"] = port
    return flags


@command(HOME_PANEL, "jobico init myhome")
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the home in.")] = Path("."),
) -> None:
    """Create a home with jobico.toml and a ready tenant."""
    target = directory.resolve()
    if (target / CONFIG_NAME).exists():
        fail(f"{target} is already a Jobico home ({CONFIG_NAME} exists)")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TEMPLATE, target, dirs_exist_ok=True)
    typer.echo(f"created a Jobico home in {target}")
    typer.echo(f"next: cd {directory} && jobico up")


@command(HOME_PANEL, "jobico up --detach --port 18080")
def up(
    home: HomeOption = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
    port: PortOption = None,
    settings: SetOption = None,
    role: RoleOption = Role.all,
    queue: QueueOption = None,
) -> None:
    """Run the supervisor and every component (foreground unless --detach)."""
    from supervisor.runner import run_supervisor

    where = home_of(home)
    flags = _flags(port, settings)
    if queue is not None:
        flags.update({"queue.backend": "redis", "queue.url": queue})
    config = load_config(where.root, flags)
    if detach:
        _detach(where, flags, role.value)
        return
    run_supervisor(where, config, flags, role.value)


def _detach(home: Home, flags: dict[str, Any], role: str = "all") -> None:
    """Start ``jobico up`` in its own session and return once every component serves.

    The flags reach it as ``JOBICO_*`` variables, never as arguments: a command line
    is world-readable (``ps``), and ``--queue`` may carry the Redis password.
    """
    home.ensure()
    log = home.logs / "supervisor.log"
    argv = [sys.executable, "-m", "jobico.cli.main", "up", "--home", str(home.root), "--role", role]
    with open(log, "ab") as out:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            env={**os.environ, **flags_as_env(flags)},
        )
    deadline = time.monotonic() + 60
    waiting = Waiting()
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            fail("jobico up exited at once:\n  " + "\n  ".join(tail))
        try:
            status: supervisor_api.SupervisorStatus | None = ask(home, "supervisor", supervisor_api.status,
                                                                 EMPTY, timeout=2)
        except NotRunning:
            status = None
        if status and status.state == "running":
            running = sum(c.state == "running" for c in status.components)
            typer.echo(f"jobico is running on {home.root} (supervisor pid {child.pid}, "
                       f"{running}/{len(status.components)} components; log: {log})")
            return
        waiting.show(_starting(status))
        time.sleep(0.1)
    fail(f"jobico did not become ready within 60 s; see {log}")


class Waiting:
    """Says what a long wait waits for, once each time that changes (on stderr)."""

    def __init__(self) -> None:
        self._last = ""

    def show(self, what: str) -> None:
        if what and what != self._last:
            say(f"waiting for {what}...")
            self._last = what


def _starting(status: supervisor_api.SupervisorStatus | None) -> str:
    if status is None:
        return "the supervisor to start"
    components = status.components
    pending = [c.name for c in components if c.state != "running"]
    running = len(components) - len(pending)
    return f"{', '.join(pending)} to start ({running}/{len(components)} running)" if pending else ""


@command(HOME_PANEL, "jobico down")
def down(home: HomeOption = None) -> None:
    """Stop gracefully: finish in-flight runs, flush, exit."""
    where = home_of(home)
    try:
        pid = ask(where, "supervisor", supervisor_api.status, EMPTY, timeout=5).pid
        ask(where, "supervisor", supervisor_api.down, EMPTY, timeout=5)
    except NotRunning:
        typer.echo(f"jobico is not running on {where.root}", err=True)
        return
    deadline = time.monotonic() + 120
    waiting = Waiting()
    while time.monotonic() < deadline and alive(pid):
        waiting.show(_stopping(where, pid))
        time.sleep(0.1)
    if alive(pid):
        fail(f"supervisor (pid {pid}) is still stopping after 120 s")
    typer.echo(f"jobico stopped on {where.root}")


def _stopping(home: Home, pid: int) -> str:
    """What the stopping supervisor still waits for: runs an executor is finishing, components."""
    try:
        components = ask(home, "supervisor", supervisor_api.status, EMPTY, timeout=2).components
    except JobicoError:  # its socket is gone: only the process itself is left
        return f"the supervisor (pid {pid}) to exit"
    finishing, pending = [], []
    for c in components:
        runs = _in_flight(home, c.name) if c.state == "stopping" else 0
        if runs:
            finishing.append(f"{c.name} to finish {runs} run{'s' if runs != 1 else ''}")
        elif c.state != "stopped":
            pending.append(c.name)
    parts = [*finishing, *([f"{', '.join(pending)} to stop"] if pending else [])]
    return "; ".join(parts) or f"the supervisor (pid {pid}) to exit"


def _in_flight(home: Home, component: str) -> int:
    """Runs a stopping executor still finishes (0 for other components, or when it is gone)."""
    if not component.startswith("executor"):
        return 0
    try:
        return int(ask(home, component, component_api.status, EMPTY, timeout=1).details.get("in_flight", 0))
    except JobicoError:
        return 0


@command(HOME_PANEL, "jobico status --json")
def status(home: HomeOption = None, json: JsonOption = False) -> None:
    """Components (state, pid, restarts, uptime), tenants and queue depths."""
    where = home_of(home)
    try:
        doc = ask(where, "supervisor", supervisor_api.status, EMPTY, timeout=5).to_wire()
    except NotRunning:
        doc = {"home": str(where.root), "state": "stopped", "components": []}
    if doc["state"] != "stopped":
        try:
            doc["tenants"] = ask(where, "queue", queue_api.stats, EMPTY, timeout=5).to_wire()
        except Exception as exc:  # the queue may be restarting: say so, do not fail the whole status
            doc["tenants_error"] = str(exc)
    if json:
        print_json(doc)
    else:
        _print_status(doc)
    if doc["state"] == "stopped":
        raise typer.Exit(EXIT_NOT_RUNNING)


def _print_status(doc: dict[str, Any]) -> None:
    typer.echo(f"home: {doc['home']}  state: {doc['state']}")
    if not doc["components"]:
        typer.echo("not running; start it with `jobico up`")
        return
    print_table(
        ["component", "state", "pid", "restarts", "uptime"],
        [(c["name"], c["state"], c["pid"], c["restarts"], f"{c['uptime_s']:.0f}s")
         for c in doc["components"]],
    )
    tenants = doc.get("tenants") or {}
    if tenants:
        print_table(
            ["tenant", "ready", "in flight", "dead", "paused"],
            [(t, s.get("depth"), s.get("inflight"), s.get("dead"), s.get("paused"))
             for t, s in sorted(tenants.items())],
        )


@command(HOME_PANEL, "jobico config --set listener.port=9000", name="config")
def show_config(
    home: HomeOption = None, json: JsonOption = False, port: PortOption = None,
    settings: SetOption = None,
) -> None:
    """Print the effective configuration and where each value came from."""
    where = home_of(home)
    config = load_config(where.root, _flags(port, settings))
    data = config.shown()
    if json:
        print_json({**data, "sources": dict(config.sources)})
        return
    rows = []
    for key, source in config.sources.items():
        section, _, name = key.partition(".")
        rows.append((key, repr(data[section][name]), source))
    for tenant, quota in data["tenants"].items():
        rows += [(f"tenants.{tenant}.{k}", repr(v), "jobico.toml") for k, v in quota.items()]
    print_table(["key", "value", "source"], rows)


@command(HOME_PANEL, "jobico tui")
def tui(home: HomeOption = None) -> None:
    """Open the dashboard and admin console."""
    from tui.app import run_tui

    run_tui(home_of(home).root)
