"""The benchmarks' view of a process: peak or current memory in MiB, and the CPU model.

CPU time and the ``/proc`` layout are ``jobico.procs``'s, shared with the CLI and the TUI.
"""

from __future__ import annotations

import platform

from jobico.procs import PROC, status_kib


def memory_mb(pid: int, key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of ``pid`` in MiB."""
    return status_kib(pid, key) / 1024


def cpu_model() -> str:
    for line in (PROC / "cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
