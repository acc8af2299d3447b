"""From what happened inside a guest to the status and reason of its record.

The sandbox gathers the raw facts of a run in an ``Outcome`` (the guest's code
and result, or the exception that stopped it, and how much memory it had);
``classify`` turns them into a ``RunResult`` by the rules of SPEC §4-5:

- ``ok``: jobicolet code 0, or a wasi guest that exited 0 or returned.
- ``error``: a non-zero jobicolet code or wasi exit code (``code`` holds it).
- ``timeout``: the epoch deadline interrupted the guest.
- ``limit``: the memory cap refused the guest (see ``near_memory_cap``).
- ``trap``: any other trap, or a guest that broke the ABI.

A run that produced no code of its own (trap, timeout, limit) has ``code = -1``,
which no jobicolet guest (an unsigned code) nor WASI exit status can return.
"""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime

from jobico.executor.limits import MIB, LogSink, RunResult, Status, decode_text, near_memory_cap

NO_CODE = -1


@dataclass(slots=True)
class Outcome:
    code: int = 0
    result: bytes = b""
    cut: bool = False
    failure: Exception | None = None
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
) -> RunResult:
    """The run's record fields; logs get the captured stdio lines as ``info``."""
    if abi == "wasi":
        outcome.result, outcome.cut = stdout
        sink.add_stream(stderr[0], cut=stderr[1])
    else:
        for data, cut in (stdout, stderr):
            sink.add_stream(data, cut=cut)
    status, code, reason = _verdict(outcome, abi, timeout_ms, memory_mb)
    return RunResult(
        status=status,
        code=code,
        result=decode_text(outcome.result) if status in ("ok", "error") else "",
        logs=sink.lines,
        truncated=outcome.cut or sink.truncated,
        reason=reason,
        duration_ms=round(duration_ms, 3),
    )


def _verdict(outcome: Outcome, abi: str, timeout_ms: int, memory_mb: int) -> tuple[Status, int, str | None]:
    failure = outcome.failure
    if failure is None:
        if outcome.code == 0:
            return "ok", 0, None
        return "error", outcome.code, f"the guest returned code {outcome.code}"
    if isinstance(failure, wasmtime.ExitTrap):
        if failure.code == 0 and abi == "wasi":
            return "ok", 0, None
        if failure.code == 0:
            return "error", 0, "the guest called proc_exit(0) before returning a result"
        return "error", failure.code, f"the guest exited with code {failure.code}"
    if isinstance(failure, wasmtime.Trap) and failure.trap_code == wasmtime.TrapCode.INTERRUPT:
        return "timeout", NO_CODE, f"the guest ran past its time limit of {timeout_ms} ms"
    message = _last_line(str(failure))
    cap = memory_mb * MIB
    if isinstance(failure, wasmtime.WasmtimeError) and "memory" in message and "limit" in message:
        return "limit", NO_CODE, f"memory limit of {memory_mb} MiB: {message}"
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


def _last_line(text: str) -> str:
    """wasmtime puts the cause ("wasm trap: ...") last, after the backtrace."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
