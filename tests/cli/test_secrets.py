"""Issue 13 item 19 (CLI side): the Redis password reaches no command line and no `jobico config`.

`jobico up --detach --queue redis://:PASSWORD@...` put the URL on the detached
supervisor's argv, readable by every local user in ``ps``; `jobico config` printed it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.procs import PROC, stat_fields
from tests.cli.test_offline import JOBICO
from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO
from tests.redis.server import redis_server

PASSWORD = "s3cret"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXdlYmhvb2sta2V5"  # base64 of "secret-webhook-key"


def url(port: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/0"


@pytest.mark.parametrize("where", ["toml", "env", "flag"])
def test_config_masks_the_queue_password(tmp_path: Path, where: str) -> None:
    toml, env, args = "", dict(os.environ), []
    if where == "toml":
        toml = f'[queue]\nbackend = "redis"\nurl = "{url(6379)}"\n'
    elif where == "env":
        env["JOBICO_QUEUE_URL"] = url(6379)
    else:
        args = ["--set", f"queue.url={url(6379)}"]
    (tmp_path / "jobico.toml").write_text(toml)
    for extra in ([], ["--json"]):
        done = subprocess.run([*JOBICO, "config", "--home", str(tmp_path), *args, *extra],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        assert "redis://:****@127.0.0.1:6379/0" in done.stdout


def _require_password(port: int) -> None:
    """CONFIG SET requirepass on a fresh redis-server (tests/redis/server.py starts it open)."""
    parts = [b"CONFIG", b"SET", b"requirepass", PASSWORD.encode()]
    command = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(command)
        assert conn.recv(64) == b"+OK\r\n"


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc/*/stat."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(stat_fields(int(entry.name))[1])
            except (OSError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    with redis_server(tmp_path / "redis") as address:
        port = int(address.rsplit(":", 1)[1])
        _require_password(port)
        yield port


@pytest.mark.e2e
def test_detached_up_keeps_the_redis_password_off_every_command_line(tmp_path: Path, redis_port: int) -> None:
    platform = Platform(tmp_path / "home")
    platform.write("acme/echo.wasm", ECHO)
    platform.write("acme/echo.toml", package({"event": "echo", "wasm": "echo.wasm", "abi": "jobicolet"},
                                             webhook={"secret": WEBHOOK_SECRET}))
    try:
        up = platform.cli("up", "--detach", "--queue", url(redis_port), timeout=120)
        assert PASSWORD not in up.stdout + up.stderr
        status = platform.status()
        assert status["state"] == "running"
        names = {c["name"] for c in status["components"]}
        assert {"queue", "records", "listener"} <= names  # really on the redis queue
        pids = _descendants(status["pid"])
        assert len(pids) >= len(status["components"]) + 1
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert PASSWORD.encode() not in cmdline, cmdline
        platform.wait_for_event("acme", "echo")
        for args in (["status"], ["status", "--json"], ["packages"], ["packages", "--json"]):
            done = platform.cli(*args)
            assert PASSWORD not in done.stdout + done.stderr, args
            assert WEBHOOK_SECRET not in done.stdout + done.stderr, args
    finally:
        platform.cli("down", check=False, timeout=120)
        wait_until(lambda: not platform.root.joinpath(".jobico/run/supervisor.sock").exists(), 60,
                   "the detached supervisor to stop")
    for log in platform.root.joinpath(".jobico/logs").iterdir():
        assert PASSWORD.encode() not in log.read_bytes(), log
