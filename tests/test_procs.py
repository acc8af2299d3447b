"""jobico.procs against a fake /proc and against real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobico import procs


def test_cpu_ticks_survive_spaces_and_parens_in_the_command_name(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "stat").write_bytes(b"42 (my (odd) \xff proc) S 1 2 3 4 5 6 7 8 9 10 120 30 0 0")
    fields = procs.stat_fields(42, tmp_path)
    assert fields[0] == "S"
    assert procs.cpu_ticks(fields) == 150


def test_this_process_is_alive_and_has_figures() -> None:
    assert procs.alive(os.getpid())
    assert procs.resident_bytes(os.getpid()) > 0
    assert procs.status_kib(os.getpid(), "VmHWM") > 0
    assert procs.cpu_seconds(os.getpid()) > 0


def test_a_process_command_line_and_the_environment_it_started_with() -> None:
    argv = [sys.executable, "-c", "import sys; print(flush=True); sys.stdin.read()", "two words"]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "JOBICO_PROBE": "é"})
    try:
        assert child.stdout is not None
        child.stdout.readline()  # running: Popen returns mid-exec, before the kernel has set argv
        assert procs.command_line(child.pid) == argv
        assert "JOBICO_PROBE=é".encode() in procs.started_environment(child.pid)
    finally:
        child.communicate()


def test_a_zombie_is_not_alive_nor_a_reaped_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", ""])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert procs.stat_fields(child.pid)[0] == "Z"
        assert not procs.alive(child.pid)
    finally:
        child.wait()
    assert not procs.alive(child.pid)
