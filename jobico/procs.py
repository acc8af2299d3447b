"""Processes of this machine as Linux's ``/proc`` shows them: alive or not, CPU, memory, command.

One place knows the layout of ``/proc/<pid>/stat`` (a command name that may hold
spaces, parentheses and any bytes, then plain fields) for the CLI waiting for a
supervisor to stop, the supervisor recognising a stray component, the TUI's
figures, the benchmarks and the tests. Readers raise ``OSError`` when the
process is gone (or there is no ``/proc``); each caller decides what that means.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S: int = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES: int = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def stat_fields(pid: int, proc: Path = PROC) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: ``[0]`` is the state
    (``Z`` for a zombie), ``[1]`` the parent pid, ``[11]``/``[12]`` user/system CPU ticks.

    Everything after the name's last ``)`` is ASCII, whatever the name holds.
    **Errors:** ``OSError`` when the process is gone; ``ValueError`` for a line that is not a stat line.
    """
    line = (proc / str(pid) / "stat").read_bytes()
    _, paren, rest = line.rpartition(b")")
    if not paren:
        raise ValueError(f"{proc / str(pid) / 'stat'}: no command name in {line[:80]!r}")
    return rest.decode("ascii").split()


def cpu_ticks(fields: list[str]) -> int:
    """User + system CPU time so far, in clock ticks (``TICKS_PER_S``), from ``stat_fields``."""
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far. **Errors:** ``OSError`` when it is gone."""
    return cpu_ticks(stat_fields(pid)) / TICKS_PER_S


def resident_bytes(pid: int, proc: Path = PROC) -> int:
    """Resident memory of ``pid`` now (``statm``, cheaper than ``status``). **Errors:** ``OSError``."""
    return int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE_BYTES


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` figure of ``/proc/<pid>/status``: ``VmRSS`` (now), ``VmHWM`` (peak); 0 if absent."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped by its parent) does not.

    A process waited for after a stop stays a zombie until its parent reaps it, so
    ``os.kill(pid, 0)`` alone would call it running. **Errors:** ``PermissionError``
    when ``pid`` is another user's process.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return stat_fields(pid)[0] != "Z"
    except (OSError, ValueError):
        return False


def command_line(pid: int) -> list[str]:
    """``pid``'s argv. **Errors:** ``OSError`` when it is gone."""
    return [os.fsdecode(arg) for arg in (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[:-1]]


def started_environment(pid: int) -> list[bytes]:
    """``NAME=value`` entries of the environment ``pid`` was started with (not its changes since).

    **Errors:** ``OSError`` when it is gone or not ours (only our own processes' are readable).
    """
    return (PROC / str(pid) / "environ").read_bytes().split(b"\0")
