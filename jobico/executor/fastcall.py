"""Calling guest exports without wasmtime-py's per-call type conversions.

``Func.__call__`` looks up the function type, builds ``Val`` objects and checks
each one on every call: about 60 % of a jobicolet event's host time (profiled:
7 calls cost ~600 µs of ~1.1 ms per event under cProfile). Every export Jobico
calls takes and returns only ``i32`` values whose types were already checked
when the module was loaded (``abi.detect``), so this calls ``wasmtime_func_call``
directly. It uses wasmtime-py's private ``_ffi`` module, which is safe only
because the wasmtime version is pinned exactly (pyproject.toml).

Unlike ``Func.__call__`` this does not re-raise an exception from a Python host
function; Jobico's only Python host function (``env.log``) never raises.
"""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _ffi as ffi

_I32 = ffi.WASMTIME_I32.value


def export_func(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> object:
    """The raw function handle of export ``name`` (checked to exist at load time)."""
    item = ffi.wasmtime_extern_t()
    raw = name.encode()
    found = ffi.wasmtime_instance_export_get(
        store._context(), ctypes.byref(instance._instance), raw, len(raw), ctypes.byref(item)
    )
    if not found or item.kind != ffi.WASMTIME_EXTERN_FUNC.value:
        raise wasmtime.WasmtimeError(f"export {name!r} is not a function")
    return item.of.func


def export_memory(store: wasmtime.Store, instance: wasmtime.Instance) -> wasmtime.Memory | None:
    """The instance's ``memory`` export, or None when it has none."""
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(
        store._context(), ctypes.byref(instance._instance), b"memory", 6, ctypes.byref(item)
    )
    if not found or item.kind != ffi.WASMTIME_EXTERN_MEMORY.value:
        return None
    return wasmtime.Memory._from_raw(item.of.memory)


def call(store: wasmtime.Store, func: object, *args: int, results: int = 0) -> int | None:
    """Call an i32-only export; returns its single i32 result, or None.

    Errors: ``wasmtime.Trap`` for a trap (incl. the epoch interrupt),
    ``wasmtime.ExitTrap`` for a WASI exit, ``wasmtime.WasmtimeError`` otherwise.
    """
    params = (ffi.wasmtime_val_t * max(len(args), 1))()
    for i, value in enumerate(args):
        params[i].kind = _I32
        params[i].of.i32 = value
    out = (ffi.wasmtime_val_t * max(results, 1))()
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    error = ffi.wasmtime_func_call(
        store._context(), ctypes.byref(func), params, len(args), out, results, ctypes.byref(trap)
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    if trap:
        raise wasmtime.Trap._from_ptr(trap)
    return out[0].of.i32 if results else None
