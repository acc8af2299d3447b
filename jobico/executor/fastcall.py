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

The C functions are declared here, on plain addresses, in two kinds: calls that
run wasm (instantiating runs a start function) let the GIL go, as the epoch
ticker and other runs need it meanwhile; the rest take a microsecond and keep
it. ctypes lets the GIL go around every call of a ``CDLL``, and with several run
threads each such call is a chance for another thread to take the GIL and this
one to wait for it: keeping it there took a jobicolet echo run on four threads
from 68 to 62 us of CPU (``perf/executor_bench.py``).
"""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _ffi as ffi

from jobico.executor.limits import StoreLimits

_I32 = ffi.WASMTIME_I32.value
_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value

_P, _N = ctypes.c_void_p, ctypes.c_size_t
_quick, _wasm = ctypes.PYFUNCTYPE, ctypes.CFUNCTYPE  # keeps the GIL / lets it go
_store_new = _quick(_P, _P, _P, _P)(("wasmtime_store_new", ffi.dll))
_store_context = _quick(_P, _P)(("wasmtime_store_context", ffi.dll))
_store_limiter = _quick(None, _P, *[ctypes.c_int64] * 5)(("wasmtime_store_limiter", ffi.dll))
_set_epoch_deadline = _quick(None, _P, ctypes.c_uint64)(("wasmtime_context_set_epoch_deadline", ffi.dll))
_export_get = _quick(ctypes.c_bool, _P, _P, ctypes.c_char_p, _N, _P)(
    ("wasmtime_instance_export_get", ffi.dll)
)
_memory_data = _quick(_P, _P, _P)(("wasmtime_memory_data", ffi.dll))
_memory_data_size = _quick(_N, _P, _P)(("wasmtime_memory_data_size", ffi.dll))
_store_delete = _wasm(None, _P)(("wasmtime_store_delete", ffi.dll))  # unmaps memory: may take a while
_instantiate = _wasm(_P, _P, _P, _P, _P)(("wasmtime_instance_pre_instantiate", ffi.dll))
_func_call = _wasm(_P, _P, _P, _P, _N, _P, _N, _P)(("wasmtime_func_call", ffi.dll))
_ErrorPtr = ctypes.POINTER(ffi.wasmtime_error_t)
_TrapPtr = ctypes.POINTER(ffi.wasm_trap_t)

Func = ffi.wasmtime_func_t


def address(pointer: object) -> int:
    """The address a wasmtime-py pointer (``engine.ptr()``, ``pre.ptr()``) holds."""
    return ctypes.cast(pointer, _P).value or 0


class Run:
    """A fresh store (memory and table caps, epoch deadline) and, once made, its instance.

    Used by one thread at a time; ``close`` frees the store and everything in it
    and must be called exactly once (the store is not garbage collected). The
    store holds one instance with at most one memory and ``limits.tables``
    tables: a module needs no more (imports come from the linker's host
    functions, which are no instances), and more would escape the caps.
    ``engine`` and ``pre`` are addresses (``address``) of objects the caller keeps alive.
    """

    __slots__ = (
        "_args", "_base", "_ctx", "_instance", "_live", "_memory", "_out", "_size", "_store", "_trap",
    )

    def __init__(self, engine: int, limits: StoreLimits, deadline: int):
        self._store: int = _store_new(engine, None, None)
        self._ctx: int = _store_context(self._store)
        self._instance = ffi.wasmtime_instance_t()
        self._live = False
        self._memory: ffi.wasmtime_memory_t | None = None
        self._base = self._size = 0  # the memory's address (fixed: hostcalls.Memory) and last known size
        self._args = (ffi.wasmtime_val_t * 3)()
        self._out = (ffi.wasmtime_val_t * 1)()
        self._trap = _P()
        _store_limiter(self._store, limits.memory_bytes, limits.table_elements, 1, limits.tables, 1)
        _set_epoch_deadline(self._ctx, deadline)

    def close(self) -> None:
        _store_delete(self._store)
        self._store = self._ctx = 0

    def instantiate(self, pre: int) -> None:
        """Errors: ``Trap`` (a start function trapped), ``WasmtimeError`` (e.g. over the memory cap)."""
        addr = ctypes.addressof
        self._check(_instantiate(pre, self._ctx, addr(self._instance), addr(self._trap)))
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
        addr = ctypes.addressof
        error = _func_call(
            self._ctx, addr(func), addr(vals), len(args), addr(self._out), results, addr(self._trap)
        )
        self._check(error)
        return self._out[0].of.i32 if results else 0

    def has_memory(self) -> bool:
        """Whether the instance exports ``memory`` as a linear memory (looked up once)."""
        if self._memory is None and self._live:
            item = self._export(b"memory")
            if item is not None and item.kind == _MEMORY:
                self._memory = item.of.memory
                self._base = _memory_data(self._ctx, ctypes.addressof(self._memory)) or 0
        return self._memory is not None

    def memory_size(self) -> int:
        """Bytes of linear memory in use; 0 before instantiation or without a memory."""
        if not self.has_memory():
            return 0
        self._size = _memory_data_size(self._ctx, ctypes.addressof(self._memory))
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
        addr = ctypes.addressof
        found = _export_get(self._ctx, addr(self._instance), name, len(name), addr(item))
        return item if found else None

    def _check(self, error: int | None) -> None:
        if error:
            raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, _ErrorPtr))
        if self._trap:
            trap, self._trap.value = self._trap.value, None  # the Trap owns it now
            raise wasmtime.Trap._from_ptr(ctypes.cast(trap, _TrapPtr))
