"""What one guest run produced, and the caps that keep it bounded (SPEC §4, §5).

Pure data and decisions, no wasmtime: the result record of a run, the log sink
that enforces the output caps, the store limits a run gets, and the rules that
turn what happened inside the guest into a status and a reason. Kept apart from
the sandbox so they test in microseconds.

Every cap counts what the record will hold, not what the guest handed over:
guest bytes become text with invalid UTF-8 replaced, and one invalid byte
becomes a three-byte U+FFFD, so a 1 MiB result of ``0xff`` bytes would be a
3 MiB string. ``text_within`` cuts the *encoded* text at the cap. With the
result, the logs (10,000 lines of at most ~30 bytes of framing each) and the
reason capped, one record stays near 2.4 MiB, under ``caps.MAX_RECORD_BYTES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from jobico.caps import MAX_LOG_BYTES, MAX_LOG_LINES, MIB

Status = Literal["ok", "error", "timeout", "trap", "limit"]

# A reason is built from wasmtime's messages, which may quote guest-chosen names.
MAX_REASON_BYTES = 4096

# Tables share ``memory_mb`` with linear memory: each element is counted as 8 bytes
# (a funcref slot in wasmtime is one pointer), and tables may take up to 1/64 of
# the cap without the module asking for it (a declared initial size counts whole).
TABLE_ELEMENT_BYTES = 8
TABLE_SHARE = 64

# zerolog levels as the original runtime numbered them; anything above 6 is 6.
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic", "none")
_LINE = re.compile(rb"[^\r\n]+")


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


def text_within(data: bytes | bytearray, limit: int) -> tuple[str, bool]:
    """Guest bytes as text (invalid UTF-8 replaced) whose UTF-8 encoding fits ``limit``; and cut?

    Valid UTF-8 (nearly every guest's output) costs one decode; only text with
    replacements is encoded again to measure it.
    """
    cut = len(data) > limit
    raw = bytes(data[:limit]) if cut else bytes(data)
    try:
        return raw.decode("utf-8"), cut
    except UnicodeDecodeError:
        encoded = raw.decode("utf-8", errors="replace").encode("utf-8")
    if len(encoded) > limit:
        encoded, cut = encoded[:limit], True
    return encoded.decode("utf-8", errors="ignore"), cut


@dataclass(slots=True)
class LogSink:
    """Collects a run's log lines until ``max_lines`` lines or ``max_bytes`` of text, then only counts.

    A guest may log in a tight loop; the sink keeps the first lines (the last
    kept one cut to fit) and flags the rest as truncated, so memory and the
    record stay bounded whatever the guest does.
    """

    max_bytes: int = MAX_LOG_BYTES
    max_lines: int = MAX_LOG_LINES
    lines: list[dict[str, str]] = field(default_factory=list)
    used: int = 0
    truncated: bool = False

    @property
    def full(self) -> bool:
        return len(self.lines) >= self.max_lines or self.used >= self.max_bytes

    def room(self) -> int:
        """Bytes of message text the sink would still keep."""
        return max(self.max_bytes - self.used, 0)

    def add(self, level: str, message: bytes | bytearray) -> None:
        if self.full:
            self.truncated = True
            return
        text, cut = text_within(message, self.max_bytes - self.used)
        if cut:  # the last line that fits, possibly empty: the sink is full now
            self.truncated, self.used = True, self.max_bytes
        else:
            self.used += len(text) if text.isascii() else len(text.encode("utf-8"))
        self.lines.append({"level": level, "message": text})

    def add_stream(self, data: bytes, *, cut: bool) -> None:
        """Each non-blank line of a captured stdout/stderr becomes an ``info`` line.

        ``cut`` says the capture itself was cut at its cap, so the log is truncated.
        """
        self.truncated |= cut
        for match in _LINE.finditer(data):
            if self.full:
                self.truncated = True
                return
            line = match.group()
            if line.strip():
                self.add("info", line)


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """What one run's store may hold: memory bytes, tables and elements per table."""

    memory_bytes: int
    table_elements: int
    tables: int


def store_limits(memory_mb: int, tables: tuple[int, ...]) -> StoreLimits:
    """Split ``memory_mb`` between linear memory and the module's ``tables`` (their initial sizes).

    Each table may hold ``max(largest initial size, cap / 64 / 8 / tables)``
    elements, but never more than the whole cap; linear memory gets the rest.
    A module without tables keeps the whole cap for memory. A module whose
    tables alone need more than the cap fails to instantiate, as a ``limit``.
    """
    cap_bytes = memory_mb * MIB
    if not tables:
        return StoreLimits(cap_bytes, 0, 0)
    most = cap_bytes // TABLE_ELEMENT_BYTES // len(tables)
    share = cap_bytes // TABLE_SHARE // TABLE_ELEMENT_BYTES // len(tables)
    per_table = min(max(max(tables), share), most)
    return StoreLimits(cap_bytes - per_table * TABLE_ELEMENT_BYTES * len(tables), per_table, len(tables))


def near_memory_cap(memory_bytes: int, cap_bytes: int) -> bool:
    """Whether a guest that failed was most likely refused memory by the cap.

    wasmtime's C API has no "trap on grow failure" switch: over the cap,
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
