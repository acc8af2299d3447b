"""CPU and memory of component processes, read from /proc when that is cheap.

Components run on this machine (they serve Unix sockets), so their pids are
local. Where /proc is missing (not Linux) or a pid is gone the figures are
simply ``None``: the overview shows a dash, never an error.
"""

from __future__ import annotations

from pathlib import Path

from jobico.procs import PROC, TICKS_PER_S, cpu_ticks, resident_bytes, stat_fields


class ProcSampler:
    """Turns successive /proc samples per pid into CPU percent and resident memory."""

    def __init__(self, proc: Path = PROC) -> None:
        self._proc = proc
        self._last: dict[int, tuple[float, int]] = {}

    def sample(self, pid: int | None, now: float) -> tuple[float | None, float | None]:
        """(cpu percent since the previous sample of this pid, rss in MiB)."""
        if not pid:
            return None, None
        try:
            ticks = cpu_ticks(stat_fields(pid, self._proc))
            memory = resident_bytes(pid, self._proc) / 2**20
        except (OSError, ValueError, IndexError):
            return None, None
        previous, self._last[pid] = self._last.get(pid), (now, ticks)
        if previous is None or now <= previous[0]:
            return None, memory
        return 100.0 * (ticks - previous[1]) / TICKS_PER_S / (now - previous[0]), memory

    def forget_except(self, pids: set[int]) -> None:
        """Drop samples of processes that are gone, so memory stays bounded."""
        self._last = {pid: v for pid, v in self._last.items() if pid in pids}
