"""Issue 13 item 18: a stale pids.json makes `jobico up` stop only this home's leftovers.

Every pid of a stale ``pids.json`` whose command line contained ``jobico.`` was
SIGKILLed: an editor on ``jobico.toml``, another home's components. Real
processes stand in for each case.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobico.errors import UserError
from jobico.home import Home
from supervisor.strays import pids_file, read_pids, wait_for_strays, write_pids
from tests.cli.test_offline import run
from tests.e2e.platform import Platform, wait_until

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start processes (``home`` as their JOBICO_HOME); kill whatever is left at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], home: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "JOBICO_HOME": str(home)}
        env.pop("JOBICO_SUPERVISOR_PID", None)
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def make_home(path: Path) -> Home:
    (path / "tenants").mkdir(parents=True)
    (path / "jobico.toml").write_text("")
    home = Home(path.resolve())
    home.ensure()
    return home


def editor_lookalike(home: Home, spawn: Spawn) -> subprocess.Popen[bytes]:
    """A process whose command line names ``jobico.toml`` (and whose environment names this home)."""
    return spawn([sys.executable, "-c", "import time; time.sleep(120)", str(home.config_file)], home.root)


def component(home: Home, spawn: Spawn) -> subprocess.Popen[bytes]:
    """A real component process of ``home``, exactly as a supervisor starts it."""
    return spawn([sys.executable, "-m", "jobico.repo", "repo"], home.root)


def test_only_this_homes_components_are_killed(tmp_path: Path, spawn: Spawn) -> None:
    home, other = make_home(tmp_path / "home"), make_home(tmp_path / "other")
    editor = editor_lookalike(home, spawn)
    elsewhere = component(other, spawn)
    leftover = component(home, spawn)
    gone = spawn([sys.executable, "-c", "pass"], home.root)
    gone.wait(timeout=30)

    killed = wait_for_strays(home, [editor.pid, elsewhere.pid, leftover.pid, gone.pid], timeout=0.5)

    assert killed == [leftover.pid]
    assert leftover.wait(timeout=30) == -signal.SIGKILL
    assert editor.poll() is None and elsewhere.poll() is None


def test_a_leftover_that_stops_by_itself_is_waited_for_not_killed(tmp_path: Path, spawn: Spawn) -> None:
    home = make_home(tmp_path / "home")
    leftover = component(home, spawn)
    leftover.send_signal(signal.SIGTERM)  # a component stops on its own once orphaned
    assert wait_for_strays(home, [leftover.pid], timeout=60) == []
    assert leftover.wait(timeout=30) != -signal.SIGKILL


def test_pids_file_is_replaced_whole_and_private(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    path = pids_file(home)
    old = os.umask(0o022)
    try:
        write_pids(path, [11, 12])
        write_pids(path, [13])
    finally:
        os.umask(old)
    assert json.loads(path.read_text()) == [13]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["pids.json"]  # no temporary left


@pytest.mark.parametrize("text", ["", "[12, ", '{"pids": [1]}', '[1, "2"]', "[0]", "[true]", "\xff"])
def test_a_corrupt_pids_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    home = make_home(tmp_path / "home")
    pids_file(home).write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError) as info:
        read_pids(pids_file(home))
    assert str(pids_file(home)) in str(info.value) and "delete the file" in str(info.value)


def test_no_pids_file_is_no_leftover(tmp_path: Path) -> None:
    assert read_pids(pids_file(make_home(tmp_path / "home"))) == []


def test_up_with_a_corrupt_pids_file_says_so_and_exits_1(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    pids_file(home).write_text("[4242, ")
    done = run("up", "--home", str(home.root))
    assert done.returncode == 1
    assert str(pids_file(home)) in done.stderr and "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_up_spares_processes_that_only_look_like_components(tmp_path: Path, spawn: Spawn) -> None:
    platform = Platform(tmp_path / "home")
    home = Home(platform.root.resolve())
    home.ensure()
    other = make_home(tmp_path / "other")
    editor, elsewhere = editor_lookalike(home, spawn), component(other, spawn)
    pids_file(home).write_text(json.dumps([editor.pid, elsewhere.pid]))
    try:
        platform.start()
        assert editor.poll() is None and elsewhere.poll() is None
        running = sorted(c["pid"] for c in platform.status()["components"])
        wait_until(lambda: sorted(read_pids(pids_file(home))) == running, 10, "pids.json to list them")
        assert stat.S_IMODE(pids_file(home).stat().st_mode) == 0o600
    finally:
        platform.stop()
