"""The jobicolet guest ABI of the original Jobico runtime (SPEC §4), call by call.

Calls cost about 24 µs each in wasmtime-py, so a run makes exactly the calls the
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

    entry: str
    has_start: bool
    has_ver: bool
    free_arity: int


def plan_for(exports: dict[str, Any], entry: str) -> Plan:
    free = exports["free"]
    return Plan(
        entry=entry,
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


def call(
    plan: Plan, store: wasmtime.Store, instance: wasmtime.Instance, item: bytes, limit: int
) -> tuple[int, bytes, bool]:
    """Run the entry on ``item``; return ``(code, result bytes up to limit, cut)``.

    Errors: wasmtime's ``Trap`` / ``WasmtimeError`` (incl. ``ExitTrap``) pass up
    for the sandbox to classify; ``GuestFault`` when the guest's pointers are bad.
    """
    memory = fastcall.export_memory(store, instance)
    if memory is None:
        raise GuestFault("export 'memory' is not a memory")
    if plan.has_start:
        try:
            fastcall.call(store, fastcall.export_func(store, instance, "_start"))
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise
    if plan.has_ver:
        fastcall.call(store, fastcall.export_func(store, instance, "ver"), results=1)
    fastcall.call(store, fastcall.export_func(store, instance, "init"))
    malloc = fastcall.export_func(store, instance, "malloc")
    p = fastcall.call(store, malloc, len(item), results=1) & _U32  # type: ignore[operator]
    _write(memory, store, item, p)
    r = fastcall.call(store, malloc, 16, results=1) & _U32  # type: ignore[operator]
    entry = fastcall.export_func(store, instance, plan.entry)
    fastcall.call(store, entry, _i32(r), _i32(p), len(item))
    code, packed = _RESULT.unpack(_read(memory, store, r, 16))
    str_ptr, str_len = packed >> 32, packed & _U32
    result = _read(memory, store, str_ptr, min(str_len, limit))
    frees = [(p, len(item)), (r, 16)]
    if str_ptr:
        frees.insert(0, (str_ptr, str_len))
    free = fastcall.export_func(store, instance, "free")
    for ptr, size in frees:
        args = (_i32(ptr), _i32(size)) if plan.free_arity == 2 else (_i32(ptr),)
        try:
            fastcall.call(store, free, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            continue  # the original runtime ignores a failing free too
    return code, result, str_len > limit


def _i32(value: int) -> int:
    """An unsigned 32-bit address as the signed i32 wasmtime-py passes."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _read(memory: wasmtime.Memory, store: wasmtime.Store, ptr: int, length: int) -> bytes:
    if ptr + length > memory.data_len(store):
        raise GuestFault(f"guest pointer {ptr}+{length} is outside its memory")
    return bytes(memory.read(store, ptr, ptr + length))


def _write(memory: wasmtime.Memory, store: wasmtime.Store, data: bytes, ptr: int) -> None:
    if ptr < 0 or ptr + len(data) > memory.data_len(store):
        raise GuestFault(f"malloc({len(data)}) returned {ptr}, outside guest memory")
    memory.write(store, data, ptr)
