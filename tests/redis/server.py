"""A real redis-server for tests: its own free port and folder, stopped at the end.

``RedisProcess`` lets a test hurt the server mid-use (kill it, freeze it with
SIGSTOP, start it again on the same port), which is how the backend's error
handling is proven: against the failures a real network client sees.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BINARY = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """One redis-server (append-only file, fsync every second) on a fixed port and folder."""

    def __init__(self, folder: Path, password: str | None = None) -> None:
        if BINARY is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.password = password
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or start again, on the same port and data) and wait until it listens."""
        assert BINARY is not None
        argv = [BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
        if self.password:
            argv += ["--requirepass", self.password]
        with open(self.folder / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, (self.folder / "redis.log").read_text()
                assert time.monotonic() < deadline, "redis-server did not listen within 10 s"
                time.sleep(0.02)

    def kill(self) -> None:
        """``kill -9``: every connection drops, nothing answers on the port."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung or partitioned server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def redis_process(folder: Path, password: str | None = None) -> Iterator[RedisProcess]:
    """A started ``RedisProcess``, stopped at the end (skips when redis-server is missing)."""
    server = RedisProcess(folder, password)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Start redis-server and yield its URL (see ``redis_process`` to hurt it mid-test)."""
    with redis_process(folder) as server:
        yield server.url
