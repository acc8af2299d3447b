"""The jobicolet guest ABI of the original Jobico runtime (SPEC §4), call by call.

A call into the guest costs 4-8 µs of host time through ``fastcall.Run`` (24 µs
through wasmtime-py's ``Func.__call__``), so a run makes exactly the calls the
ABI needs: ``_start`` and ``ver`` when exported, ``init``, two ``malloc``, the
entry, up to three ``free``. Everything else is plain memory access.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any

import wasmtime

from jobico.executor import fastcall
from jobico.executor.limits import LogSink, level_name

_RESULT = struct.Struct("<QQ")
_U32 = 0xFFFFFFFF
_current = threading.local()


class GuestFault(Exception):
    """The guest broke the ABI (e.g. a result outside its memory): reported as a trap."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a jobicolet module exports, read once when it is loaded."""

    entry: bytes
    has_start: bool
    has_ver: bool
    free_arity: int


def plan_for(exports: dict[str, Any], entry: str) -> Plan:
    free = exports["free"]
    return Plan(
        entry=entry.encode(),
        has_start="_start" in exports,
        has_ver="ver" in exports,
        free_arity=len(free.params) if isinstance(free, wasmtime.FuncType) else 1,
    )


def log_host(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
    """``env.log(level, ptr, len)``: append to the sink of the run on this thread.

    Never raises: a bad pointer or length is recorded as a note instead, since
    an exception here would surface in wasmtime-py's global "last exception",
    which other threads could pick up.
    """
    sink: LogSink | None = getattr(_current, "sink", None)
    if sink is None:
        return
    try:
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        ptr, length = ptr & _U32, length & _U32  # wasmtime-py hands i32 values over signed
        if ptr + length > memory.data_len(caller):
            sink.add("warn", b"env.log: message outside guest memory")
            return
        room = max(sink.max_bytes - sink.used, 0) + 1
        sink.add(level_name(level), memory.read(caller, ptr, ptr + min(length, room)))
    except Exception as exc:
        sink.add("warn", f"env.log failed: {exc}".encode())


def bind_sink(sink: LogSink | None) -> None:
    """Route ``env.log`` calls on this thread to ``sink`` (None: drop them)."""
    _current.sink = sink


def call(plan: Plan, run: fastcall.Run, item: bytes, limit: int) -> tuple[int, bytes, bool]:
    """Run the entry on ``item`` in ``run``'s instance; return ``(code, result bytes up to limit, cut)``.

    Errors: wasmtime's ``Trap`` / ``WasmtimeError`` (incl. ``ExitTrap``) pass up
    for the sandbox to classify; ``GuestFault`` when the guest's pointers are bad.
    """
    if not run.has_memory():
        raise GuestFault("export 'memory' is not a memory")
    if plan.has_start:
        try:
            run.call(run.func(b"_start"))
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise
    if plan.has_ver:
        run.call(run.func(b"ver"), results=1)
    run.call(run.func(b"init"))
    malloc = run.func(b"malloc")
    n = len(item)
    p = run.call(malloc, n, results=1) & _U32
    if not run.write(p, item):
        raise GuestFault(f"malloc({n}) returned {p}, outside guest memory")
    r = run.call(malloc, 16, results=1) & _U32
    run.call(run.func(plan.entry), _i32(r), _i32(p), n)
    code, packed = _RESULT.unpack(_read(run, r, 16))
    str_ptr, str_len = packed >> 32, packed & _U32
    result = _read(run, str_ptr, min(str_len, limit))
    free = run.func(b"free")
    frees = ((str_ptr, str_len), (p, n), (r, 16)) if str_ptr else ((p, n), (r, 16))
    for ptr, size in frees:
        try:
            if plan.free_arity == 2:
                run.call(free, _i32(ptr), _i32(size))
            else:
                run.call(free, _i32(ptr))
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            continue  # the original runtime ignores a failing free too
    return code, result, str_len > limit


def _i32(value: int) -> int:
    """An unsigned 32-bit address as the signed i32 wasmtime-py passes."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _read(run: fastcall.Run, ptr: int, length: int) -> bytes:
    data = run.read(ptr, length)
    if data is None:
        raise GuestFault(f"guest pointer {ptr}+{length} is outside its memory")
    return data
