"""The dashboard against a real `jobico up` on a temporary home (the demo tenant `hello`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.conftest import SIZE, settle
from tui.app import JobicoApp
from tui.widgets.live_table import LiveTable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
JOBICO = [sys.executable, "-m", "jobico.cli.main"]
UP_S = 60.0


def jobico(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOBICO, *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def platform_home(tmp_path: Path) -> Iterator[Path]:
    """A home with every component running; stopped (and reaped) afterwards."""
    home = tmp_path / "home"
    jobico("init", str(home)).check_returncode()
    jobico("up", "--detach", "--home", str(home), "--port", str(free_port()), timeout=UP_S)
    supervisor_pid = None
    try:
        deadline = time.monotonic() + UP_S
        while time.monotonic() < deadline:
            status = jobico("status", "--json", "--home", str(home))
            if status.returncode == 0 and '"state": "starting"' not in status.stdout:
                break
            time.sleep(0.5)
        else:
            pytest.skip(f"the platform did not come up in {UP_S:.0f} s: {status.stdout[-400:]}")
        supervisor_pid = _supervisor_pid(home)
        yield home
    finally:
        jobico("down", "--home", str(home), timeout=UP_S)
        if supervisor_pid and _alive(supervisor_pid):
            os.kill(supervisor_pid, signal.SIGKILL)


def _supervisor_pid(home: Path) -> int | None:
    import json

    status = jobico("status", "--json", "--home", str(home))
    return json.loads(status.stdout).get("pid") if status.returncode == 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.mark.asyncio
async def test_dashboard_shows_the_running_home(platform_home: Path) -> None:
    from tui.client import PlatformClient

    app = JobicoApp(PlatformClient(platform_home))
    async with asyncio.timeout(60), app.run_test(size=SIZE) as pilot:
        while app.screen.query_one("#components", LiveTable).row_count < 6:
            await pilot.pause(0.2)
        assert "listener" in app.screen.query_one("#components", LiveTable).keys
        await pilot.press("t")
        while not app.screen.query("#tree").first().root.children:
            await pilot.pause(0.2)
        await settle(pilot)
        assert str(app.screen.query_one("#tree").root.children[0].label) == "hello"
