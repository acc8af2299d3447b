"""One run's store, instance and guest calls, through wasmtime's C API directly.

wasmtime-py wraps every step in Python objects: ``Store`` (with a finalizer),
``Instance``, ``Memory``, ``Func.__call__`` (which looks up the function type,
builds and checks a ``Val`` per argument). A jobicolet echo event makes a store,
an instance, seven calls and four memory accesses, and those wrappers were about
half of its host time (``perf/executor_bench.py``, py-spy). Every export Jobico
calls takes and returns only ``i32`` values, checked when the module was loaded
(``abi.detect``), so a ``Run`` calls the C functions with ctypes values it
allocates once. It uses wasmtime-py's private ``_bindings`` and ``_ffi``
modules, which is safe only because the wasmtime version is pinned exactly
(pyproject.toml).

Unlike ``Func.__call__`` this does not re-raise an exception from a Python host
function: Jobico's host functions (``hostcalls.py``) turn every failure into a
trap themselves.
"""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _bindings as capi
from wasmtime import _ffi as ffi

from jobico.executor.limits import StoreLimits

_I32 = ffi.WASMTIME_I32.value
_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
_TrapPtr = ctypes.POINTER(ffi.wasm_trap_t)

Func = ffi.wasmtime_func_t


class Run:
    """A fresh store (memory and table caps, epoch deadline) and, once made, its instance.

    Used by one thread at a time; ``close`` frees the store and everything in it
    and must be called exactly once (the store is not garbage collected). The
    store holds one instance with at most one memory and ``limits.tables``
    tables: a module needs no more (imports come from the linker's host
    functions, which are no instances), and more would escape the caps.
    """

    __slots__ = (
        "_args", "_base", "_ctx", "_instance", "_live", "_memory", "_out", "_size", "_store", "_trap",
    )

    def __init__(self, engine: wasmtime.Engine, limits: StoreLimits, deadline: int):
        self._store = capi._wasmtime_store_new(engine.ptr(), None, _NO_FINALIZER)
        self._ctx = capi._wasmtime_store_context(self._store)
        self._instance = ffi.wasmtime_instance_t()
        self._live = False
        self._memory: ffi.wasmtime_memory_t | None = None
        self._base = self._size = 0  # the memory's address (fixed: hostcalls.Memory) and last known size
        self._args = (ffi.wasmtime_val_t * 3)()
        self._out = (ffi.wasmtime_val_t * 1)()
        self._trap = _TrapPtr()
        capi._wasmtime_store_limiter(
            self._store, limits.memory_bytes, limits.table_elements, 1, limits.tables, 1
        )
        capi._wasmtime_context_set_epoch_deadline(self._ctx, deadline)

    def close(self) -> None:
        capi._wasmtime_store_delete(self._store)
        self._store = self._ctx = None

    def instantiate(self, pre: wasmtime.InstancePre) -> None:
        """Errors: ``Trap`` (a start function trapped), ``WasmtimeError`` (e.g. over the memory cap)."""
        instance, trap = ctypes.byref(self._instance), ctypes.byref(self._trap)
        self._check(capi._wasmtime_instance_pre_instantiate(pre.ptr(), self._ctx, instance, trap))
        self._live = True

    def func(self, name: bytes) -> Func:
        """The export ``name``, a function (checked to exist at load time)."""
        item = self._export(name)
        if item is None or item.kind != _FUNC:
            raise wasmtime.WasmtimeError(f"export {name.decode()!r} is not a function")
        return item.of.func

    def call(self, func: Func, *args: int, results: int = 0) -> int:
        """Call an i32-only export; its single i32 result, or 0 when it has none.

        Errors: ``wasmtime.Trap`` for a trap (incl. the epoch interrupt and a
        WASI exit), ``wasmtime.WasmtimeError`` otherwise.
        """
        vals = self._args
        for i, value in enumerate(args):
            vals[i].kind = _I32
            vals[i].of.i32 = value
        error = capi._wasmtime_func_call(
            self._ctx, ctypes.byref(func), vals, len(args), self._out, results, ctypes.byref(self._trap)
        )
        self._check(error)
        return self._out[0].of.i32 if results else 0

    def has_memory(self) -> bool:
        """Whether the instance exports ``memory`` as a linear memory (looked up once)."""
        if self._memory is None and self._live:
            item = self._export(b"memory")
            if item is not None and item.kind == _MEMORY:
                self._memory = item.of.memory
                data = capi._wasmtime_memory_data(self._ctx, ctypes.byref(self._memory))
                self._base = ctypes.cast(data, ctypes.c_void_p).value or 0
        return self._memory is not None

    def memory_size(self) -> int:
        """Bytes of linear memory in use; 0 before instantiation or without a memory."""
        if not self.has_memory():
            return 0
        self._size = int(capi._wasmtime_memory_data_size(self._ctx, ctypes.byref(self._memory)))
        return self._size

    def read(self, ptr: int, length: int) -> bytes | None:
        """``length`` bytes at ``ptr``, or None when they are not all inside the memory."""
        if not self._inside(ptr, length):
            return None
        return ctypes.string_at(self._base + ptr, length)

    def write(self, ptr: int, data: bytes) -> bool:
        """Copy ``data`` to ``ptr``; False (nothing written) when it would not fit in the memory."""
        if not self._inside(ptr, len(data)):
            return False
        ctypes.memmove(self._base + ptr, data, len(data))
        return True

    def _inside(self, ptr: int, length: int) -> bool:
        """The size is asked again only past the last known one: a memory never shrinks."""
        return ptr + length <= self._size or ptr + length <= self.memory_size()

    def _export(self, name: bytes) -> ffi.wasmtime_extern_t | None:
        item = ffi.wasmtime_extern_t()
        ref = ctypes.byref
        found = capi._wasmtime_instance_export_get(self._ctx, ref(self._instance), name, len(name), ref(item))
        return item if found else None

    def _check(self, error: object) -> None:
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)  # type: ignore[arg-type]
        if self._trap:
            trap, self._trap = self._trap, _TrapPtr()  # the Trap owns the old pointer now
            raise wasmtime.Trap._from_ptr(trap)
