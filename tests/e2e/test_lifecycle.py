"""Issue 2's promises, through a real `jobico up`: every component supervised for real."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import JOBICO, Platform, wait_until

pytestmark = pytest.mark.e2e
NAMES = ["repo", "ctl", "queue", "recorder", "executor-1", "listener"]


@pytest.fixture(scope="module")
def shared(module_platform_factory: Factory) -> Platform:
    """One platform for the tests that leave it running (each kill hits a different component)."""
    return module_platform_factory()


def test_status_lists_every_component_with_pids(shared: Platform) -> None:
    platform = shared
    doc = platform.status()
    assert [c["name"] for c in doc["components"]] == NAMES
    for c in doc["components"]:
        assert c["state"] == "running"
        assert isinstance(c["pid"], int) and os.path.exists(f"/proc/{c['pid']}")
        assert c["restarts"] == 0
        assert c["uptime_s"] >= 0
    run = platform.root / ".jobico" / "run"
    for name in [*NAMES, "supervisor"]:
        mode = stat.S_IMODE(os.stat(run / f"{name}.sock").st_mode)
        assert mode == 0o600, f"{name}.sock has mode {oct(mode)}"


@pytest.mark.parametrize("victim", ["queue", "executor-1", "listener", "recorder", "ctl", "repo"])
def test_kill_9_of_a_component_brings_it_back(shared: Platform, victim: str) -> None:
    platform = shared
    before = platform.component(victim)
    os.kill(before["pid"], signal.SIGKILL)

    def back() -> bool:
        now = platform.component(victim)
        return now["state"] == "running" and now["pid"] != before["pid"] and now["restarts"] == 1

    wait_until(back, 15, f"{victim} to be restarted")
    status, _ = platform.post("nobody", "nothing", {})
    assert status == 404  # the webhook answers again once everything is back


def test_second_up_on_the_same_home_fails(shared: Platform) -> None:
    done = subprocess.run([*JOBICO, "up", "--home", str(shared.root)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0
    assert "already running" in done.stderr


def test_down_leaves_no_process_and_no_socket(platform: Platform) -> None:
    pids = [c["pid"] for c in platform.status()["components"]]
    platform.cli("down")
    assert platform.process is not None
    assert platform.process.wait(timeout=60) == 0
    for pid in pids:
        wait_until(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), 10, f"pid {pid} to exit")
    assert list((platform.root / ".jobico" / "run").glob("*.sock")) == []
    done = platform.cli("status", "--json", check=False)
    assert done.returncode == 3


def test_detach_then_down(platform_factory: Factory) -> None:
    p = platform_factory(start=False)
    done = p.cli("up", "--detach", timeout=90)
    assert "jobico is running" in done.stdout
    assert all(c["state"] == "running" for c in p.status()["components"])
    p.cli("down", timeout=90)
    assert p.cli("status", check=False).returncode == 3


def test_up_on_a_taken_port_says_so_once(platform_factory: Factory) -> None:
    p = platform_factory(start=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", p.port))
        taken.listen()
        done = subprocess.run([*JOBICO, "up", "--home", str(p.root)], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 1
    assert "listener.port" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr
