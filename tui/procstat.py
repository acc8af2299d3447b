"""CPU and memory of component processes, read from /proc when that is cheap.

Components run on this machine (they serve Unix sockets), so their pids are
local. Where /proc is missing (not Linux) or a pid is gone the figures are
simply ``None``: the overview shows a dash, never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_ticks(stat: str) -> int:
    """utime + stime from a /proc/<pid>/stat line (the command name may hold spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mb(statm: str) -> float:
    return int(statm.split()[1]) * PAGE_MB


class ProcSampler:
    """Turns successive /proc samples per pid into CPU percent and resident memory."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._last: dict[int, tuple[float, int]] = {}

    def sample(self, pid: int | None, now: float) -> tuple[float | None, float | None]:
        """(cpu percent since the previous sample of this pid, rss in MiB)."""
        if not pid:
            return None, None
        try:
            ticks = cpu_ticks((self._proc / str(pid) / "stat").read_text())
            memory = rss_mb((self._proc / str(pid) / "statm").read_text())
        except (OSError, ValueError, IndexError):
            return None, None
        previous, self._last[pid] = self._last.get(pid), (now, ticks)
        if previous is None or now <= previous[0]:
            return None, memory
        return 100.0 * (ticks - previous[1]) / TICKS / (now - previous[0]), memory

    def forget_except(self, pids: set[int]) -> None:
        """Drop samples of processes that are gone, so memory stays bounded."""
        self._last = {pid: v for pid, v in self._last.items() if pid in pids}
