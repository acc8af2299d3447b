"""A real `jobico up` on a temporary home, driven through the real CLI and HTTP.

Every end-to-end test uses this: real subprocesses, real sockets, real files.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w
import trio

from jobico.recorder import api as recorder_api
from jobico.rpc import trio_shell

JOBICO = [sys.executable, "-m", "jobico.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def started_at(record: dict[str, Any]) -> float:
    """A record's ``started_at`` as a POSIX time."""
    return datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()


def finished_at(record: dict[str, Any]) -> float:
    return started_at(record) + record["duration_ms"] / 1000


def package(*jobs: dict[str, Any], **top: Any) -> str:
    """A package TOML with these ``[[jobs]]`` and top-level tables (``webhook={...}``)."""
    return tomli_w.dumps({**top, "jobs": list(jobs)})


class Platform:
    """One running home. ``cli`` runs the real command line; ``post`` talks HTTP."""

    def __init__(self, root: Path, config: str = "") -> None:
        self.root = root
        self.port = free_port()
        (root / "tenants").mkdir(parents=True, exist_ok=True)
        (root / "jobico.toml").write_text(
            f"[listener]\nhost = \"127.0.0.1\"\nport = {self.port}\n{config}", encoding="utf-8"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.console = root / "console.log"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0, up_args: tuple[str, ...] = ()) -> None:
        out = open(self.console, "ab")  # noqa: SIM115 - closed with the process
        env = dict(os.environ)
        env.pop("APP_ENV", None)
        self.process = subprocess.Popen(
            [*JOBICO, "up", "--home", str(self.root), *up_args], stdout=out, stderr=out,
            stdin=subprocess.DEVNULL, env=env,
        )
        out.close()
        wait_until(self._all_running, timeout, "every component to run\n" + self.console_text())

    def _all_running(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"jobico up exited with {self.process.returncode}:\n"
                                 + self.console_text())
        status = self.status()
        return bool(status["components"]) and all(
            c["state"] == "running" for c in status["components"]
        )

    def stop(self, timeout: float = 90.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.cli("down", check=False, timeout=timeout)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait()
        self.process = None

    def console_text(self) -> str:
        return self.console.read_text(errors="replace")[-4000:] if self.console.exists() else ""

    # -- the command line --------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*JOBICO, *args, "--home", str(self.root)], capture_output=True, text=True,
            timeout=timeout, input=input,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"jobico {' '.join(args)} -> {done.returncode}\n{done.stderr}")
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json", check=False)
        return json.loads(done.stdout) if done.stdout.strip() else {"components": []}

    def component(self, name: str) -> dict[str, Any]:
        return next(c for c in self.status()["components"] if c["name"] == name)

    def rpc(self, component: str, method: str, params: Any = None, timeout: float = 30.0) -> Any:
        """One RPC to a component's socket, as the CLI and the TUI make them."""
        sock = self.root / ".jobico" / "run" / f"{component}.sock"
        return trio.run(lambda: trio_shell.call(sock, method, params, timeout=timeout))

    def kill(self, name: str, pid: int | None = None, timeout: float = 30.0) -> None:
        """``kill -9`` one component and wait until the supervisor has it running again.

        Pass ``pid`` (from ``component``) to kill at a precise moment: looking it up
        here runs ``jobico status``, which takes a good part of a second.
        """
        pid = self.component(name)["pid"] if pid is None else pid
        os.kill(pid, signal.SIGKILL)

        def back() -> bool:
            now = self.component(name)
            return now["state"] == "running" and now["pid"] != pid

        wait_until(back, timeout, f"{name} to be restarted after kill -9")

    # -- HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def post(self, tenant: str, event: str, item: Any, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> tuple[int, Any]:
        body = raw if raw is not None else json.dumps(item).encode()
        status, _, payload = self.request(
            "POST", f"/events/{tenant}/{event}", body,
            {"Content-Type": "application/json", **(headers or {})},
        )
        return status, json.loads(payload) if payload else None

    # -- files --------------------------------------------------------------------------------
    def write(self, relpath: str, data: bytes | str) -> Path:
        target = self.root / "tenants" / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_bytes(data.encode() if isinstance(data, str) else data)
        temp.replace(target)
        return target

    def wait_for_event(self, tenant: str, event: str, timeout: float = 10.0) -> None:
        """Until the webhook knows ``tenant``/``event`` (the catalog reached the listener)."""

        def known() -> bool:
            status, _ = self.post(tenant, event, None, raw=b"")
            return status != 404

        wait_until(known, timeout, f"event {tenant}/{event} to go live")

    def records(self, **filters: str) -> list[dict[str, Any]]:
        args = ["executions", "--limit", "10000"]
        for key, value in filters.items():
            args += [f"--{key}", value]
        return self.cli_json(*args)

    def query(self, **filters: str) -> list[dict[str, Any]]:
        """Records as ``records`` gives them, straight from the recorder: for polling, as a
        CLI process costs half a second each time. ``filters`` are the query's params
        (``tenant``, ``event``, ``status``, ``text``...), read as the recorder reads them."""
        request = recorder_api.Query.from_wire({**filters, "limit": recorder_api.MAX_LIMIT})

        async def ask() -> recorder_api.Records:
            async with await trio_shell.connect(self.root / ".jobico" / "run" / "recorder.sock") as client:
                return await recorder_api.query(client, request, timeout=30.0)

        return [record.to_wire() for record in trio.run(ask).items]

    def wait_records(self, count: int, timeout: float = 30.0, **filters: str) -> list[dict[str, Any]]:
        return wait_until(lambda: (r := self.query(**filters)) and len(r) >= count and r,
                          timeout, f"{count} records matching {filters}")
