"""What one guest run produced, and the caps that keep it bounded (SPEC §4, §5).

Pure data and decisions, no wasmtime: the result record of a run, the log sink
that enforces the output cap, and the rules that turn what happened inside the
guest into a status and a reason. Kept apart from the sandbox so they test in
microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "trap", "limit"]

MIB = 1024 * 1024
DEFAULT_MAX_OUTPUT = MIB

# zerolog levels as the original runtime numbered them; anything above 6 is 6.
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic", "none")


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run's outcome, shaped as the record fields of SPEC §5 it fills."""

    status: Status
    code: int
    result: str
    logs: list[dict[str, str]]
    truncated: bool
    reason: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "result": self.result,
            "logs": self.logs,
            "truncated": self.truncated,
            "reason": self.reason,
            "duration_ms": self.duration_ms,
        }


def level_name(level: int) -> str:
    """A guest's ``env.log`` level as a record level; out-of-range values clamp (SPEC §4)."""
    return LOG_LEVELS[min(max(level, 0), len(LOG_LEVELS) - 1)]


def decode_text(data: bytes | bytearray) -> str:
    """Guest output as text: UTF-8 with invalid bytes replaced, never an error."""
    return bytes(data).decode("utf-8", errors="replace")


@dataclass(slots=True)
class LogSink:
    """Collects a run's log lines until ``max_bytes`` of messages, then only counts.

    A guest may log in a tight loop; the sink keeps the first ``max_bytes`` of
    message text (the last kept message cut to fit) and flags the rest as
    truncated, so memory stays bounded whatever the guest does.
    """

    max_bytes: int = DEFAULT_MAX_OUTPUT
    lines: list[dict[str, str]] = field(default_factory=list)
    used: int = 0
    truncated: bool = False

    def add(self, level: str, message: bytes | bytearray) -> None:
        room = self.max_bytes - self.used
        if room <= 0:
            self.truncated = True
            return
        if len(message) > room:
            message = message[:room]
            self.truncated = True
        self.used += len(message)
        self.lines.append({"level": level, "message": decode_text(message)})

    def add_stream(self, data: bytes, *, cut: bool) -> None:
        """Each line of a captured stdout/stderr becomes an ``info`` line.

        ``cut`` says the capture itself was cut at the cap, so the log is truncated.
        """
        if cut:
            self.truncated = True
        for line in data.splitlines():
            if line.strip():
                self.add("info", line)


def cap(data: bytes | bytearray, limit: int) -> tuple[bytes, bool]:
    """``data`` cut to ``limit`` bytes, and whether anything was cut."""
    if len(data) > limit:
        return bytes(data[:limit]), True
    return bytes(data), False


def near_memory_cap(memory_bytes: int, cap_bytes: int) -> bool:
    """Whether a guest that failed was most likely refused memory by the cap.

    wasmtime-py exposes no "trap on grow failure" switch: over the cap,
    ``memory.grow`` just returns -1 and the guest's allocator then aborts with a
    trap. A failure with less than a quarter of the cap (at least 1 MiB) left is
    reported as ``limit``; the reason text states the figures so a user can tell.
    """
    headroom = max(cap_bytes // 4, MIB)
    return cap_bytes > 0 and cap_bytes - memory_bytes < headroom


def ticks_for(timeout_ms: int, tick_ms: int) -> int:
    """Epoch ticks that cover ``timeout_ms`` with one tick of slack, never zero.

    The deadline counts ticks of the shared ticker, and the first tick may come
    at any moment after the run starts, so one extra tick keeps a guest from
    being stopped early; it is stopped at most two ticks late.
    """
    return max(1, -(-timeout_ms // tick_ms)) + 1
