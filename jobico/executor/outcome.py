"""From what happened inside a guest to the status and reason of its record.

The sandbox gathers the raw facts of a run in an ``Outcome`` (the guest's code
and result, or the exception that stopped it, and how much memory it had);
``classify`` turns them into a ``RunResult`` by the rules of SPEC §4-5:

- ``ok``: jobicolet code 0, or a wasi guest that exited 0 or returned.
- ``error``: a non-zero jobicolet code or wasi exit code (``code`` holds it).
- ``timeout``: the epoch deadline interrupted the guest.
- ``limit``: the memory cap (linear memory and tables) refused the guest (see
  ``near_memory_cap``).
- ``trap``: any other trap, or a guest that broke the ABI.

A run that produced no code of its own (trap, timeout, limit) has ``code = -1``,
which no jobicolet guest (an unsigned code) nor WASI exit status can return.
"""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime

from jobico.executor.limits import (
    MAX_REASON_BYTES,
    MIB,
    LogSink,
    RunResult,
    Status,
    near_memory_cap,
    text_within,
)

NO_CODE = -1


@dataclass(slots=True)
class Outcome:
    code: int = 0
    result: bytes = b""
    cut: bool = False
    failure: Exception | None = None
    exit_code: int | None = None  # the guest called proc_exit
    memory_bytes: int = 0


def classify(
    outcome: Outcome,
    abi: str,
    sink: LogSink,
    stdout: tuple[bytes, bool],
    stderr: tuple[bytes, bool],
    *,
    timeout_ms: int,
    memory_mb: int,
    duration_ms: float,
    max_result: int,
) -> RunResult:
    """The run's record fields; logs get the captured stdio lines as ``info``.

    The result is cut so its UTF-8 text fits ``max_result`` bytes, the reason
    so it fits ``MAX_REASON_BYTES``.
    """
    if abi == "wasi":
        outcome.result, outcome.cut = stdout
        sink.add_stream(stderr[0], cut=stderr[1])
    else:
        for data, cut in (stdout, stderr):
            sink.add_stream(data, cut=cut)
    status, code, reason = _verdict(outcome, abi, timeout_ms, memory_mb)
    result, cut = text_within(outcome.result, max_result) if status in ("ok", "error") else ("", False)
    return RunResult(
        status=status,
        code=code,
        result=result,
        logs=sink.lines,
        truncated=outcome.cut or cut or sink.truncated,
        reason=text_within(reason.encode(), MAX_REASON_BYTES)[0] if reason is not None else None,
        duration_ms=round(duration_ms, 3),
    )


def _verdict(outcome: Outcome, abi: str, timeout_ms: int, memory_mb: int) -> tuple[Status, int, str | None]:
    failure = outcome.failure
    if failure is None:
        if outcome.code == 0:
            return "ok", 0, None
        return "error", outcome.code, f"the guest returned code {outcome.code}"
    exited = outcome.exit_code
    if exited is not None:
        if exited == 0 and abi == "wasi":
            return "ok", 0, None
        if exited == 0:
            return "error", 0, "the guest called proc_exit(0) before returning a result"
        return "error", exited, f"the guest exited with code {exited}"
    if isinstance(failure, wasmtime.Trap) and failure.trap_code == wasmtime.TrapCode.INTERRUPT:
        return "timeout", NO_CODE, f"the guest ran past its time limit of {timeout_ms} ms"
    message = _last_line(str(failure))
    cap = memory_mb * MIB
    if isinstance(failure, wasmtime.WasmtimeError) and _over_limit(message):
        return "limit", NO_CODE, f"memory limit of {memory_mb} MiB (memory and tables): {message}"
    if isinstance(failure, wasmtime.Trap) and near_memory_cap(outcome.memory_bytes, cap):
        used = outcome.memory_bytes / MIB
        return (
            "limit",
            NO_CODE,
            (
                f"trapped ({message}) with {used:.1f} MiB of its {memory_mb} MiB memory limit in "
                "use: the limit refused it memory"
            ),
        )
    return "trap", NO_CODE, message


def _over_limit(message: str) -> bool:
    """An instantiation refused by the store's limits (a memory or table minimum over the cap)."""
    return ("memory" in message or "table" in message) and ("limit" in message or "exceeds" in message)


def _last_line(text: str) -> str:
    """wasmtime puts the cause ("wasm trap: ...") last, after the backtrace."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
