"""The jobicolet guest ABI of the original Jobico runtime (SPEC §4), call by call.

A call into the guest costs 4-8 µs of host time through ``fastcall.Run`` (24 µs
through wasmtime-py's ``Func.__call__``), so a run makes exactly the calls the
ABI needs: ``_start`` and ``ver`` when exported, ``init``, two ``malloc``, the
entry, up to three ``free``. Everything else is plain memory access.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import wasmtime

from jobico.executor import fastcall
from jobico.executor.hostcalls import Caller, GuestFault, Host, define, guest_memory
from jobico.executor.limits import level_name

_RESULT = struct.Struct("<QQ")
_U32 = 0xFFFFFFFF


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


def log(host: Host, caller: Caller, level: int, ptr: int, length: int) -> None:
    """``env.log(level, ptr, len)``: append to the run's log sink.

    Once the sink is full (10,000 lines or 1 MiB) a call only flags the log as
    truncated, without touching guest memory: a logging loop costs little. A
    message outside guest memory is recorded as a note, not a trap, as before.
    """
    sink = host.sink
    if sink.full:
        sink.truncated = True
        return
    try:
        memory = guest_memory(host, caller)
        memory.check(ptr, length)
    except GuestFault as exc:
        sink.add("warn", f"env.log: {exc}".encode())
        return
    signed = level - (1 << 32) if level >= 1 << 31 else level
    sink.add(level_name(signed), memory.read(ptr, min(length, sink.room() + 1)))


def define_log(linker: wasmtime.Linker) -> None:
    define(linker, "env", "log", "iii", "", log)


def call(plan: Plan, run: fastcall.Run, host: Host, item: bytes, limit: int) -> tuple[int, bytes, bool]:
    """Run the entry on ``item`` in ``run``'s instance; return ``(code, result bytes up to limit, cut)``.

    Errors: wasmtime's ``Trap`` / ``WasmtimeError`` pass up for the sandbox to
    classify (``host.exit_code`` tells a ``proc_exit``); ``GuestFault`` when the
    guest's pointers are bad.
    """
    if not run.has_memory():
        raise GuestFault("export 'memory' is not a memory")
    if plan.has_start:
        try:
            run.call(run.func(b"_start"))
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            if host.exit_code != 0:
                raise
            host.exit_code = None  # TinyGo's _start ends with proc_exit(0): the module is ready
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
