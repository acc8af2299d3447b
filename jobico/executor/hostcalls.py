"""Host functions as raw wasmtime callbacks, each bound to the run on its thread.

Every function Jobico offers a guest (``env.log`` in ``jobicolet.py``, WASI
preview1 in ``wasi.py``) is defined through ``define``: an *unchecked* host
function of wasmtime's C API, whose arguments and result share one raw array.
There is no wasmtime-py ``Caller``/``Val`` object per call and no use of
wasmtime-py's process-wide "last exception" slot. Each call:

1. finds its run (``Host``) in a thread-local: a run and its host calls happen
   on one thread, and one Linker serves every thread;
2. checks the run's deadline *first* and, once it has passed, traps with
   wasmtime's own interrupt code (so the run is a ``timeout`` like an epoch
   interrupt). The epoch deadline is only checked inside wasm, at function
   entries and loop headers: with wasmtime's own WASI, a function of a million
   back-to-back host calls (2 MB of wasm, no loop) met no check and ran 176 ms
   past its deadline. With the check here, a run ends at its deadline plus at
   most one host call, and no Jobico host call lasts more than a few ms
   (``wasi.py`` lists each one's bound);
3. never lets an exception reach ctypes, which would print it and hand wasmtime
   garbage (measured: a segmentation fault). A guest's mistake (a pointer out
   of its memory) becomes a trap naming it; ``proc_exit`` becomes a trap with
   the exit code kept on the ``Host``.
"""

from __future__ import annotations

import ctypes
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import _ffi as ffi

from jobico.executor.limits import LogSink

if TYPE_CHECKING:
    from jobico.executor.wasi import Stdio

_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_INTERRUPT = wasmtime.TrapCode.INTERRUPT.value
_TYPES = {"i": wasmtime.ValType.i32, "I": wasmtime.ValType.i64}
_RAW = {"i": "I12x", "I": "Q8x"}  # one wasmtime_val_raw_t (16 bytes) holding an i32 / an i64
_local = threading.local()
_callbacks: dict[tuple[Callable[..., Any], str, str], Any] = {}  # alive as long as any linker may use them

# The C functions on the hot path, declared with plain addresses: wasmtime-py's
# declarations build a ctypes pointer object per argument and per result, which
# tripled the cost of a host call. They take a microsecond, so they keep the GIL
# (PYFUNCTYPE; see fastcall.py).
_P, _N = ctypes.c_void_p, ctypes.c_size_t
_c = ctypes.PYFUNCTYPE
_Callback = ctypes.CFUNCTYPE(_N, _P, _P, _P, _N)  # (env, caller, args and results, count) -> trap or NULL
_caller_context = _c(_P, _P)(("wasmtime_caller_context", ffi.dll))
_caller_export_get = _c(ctypes.c_bool, _P, ctypes.c_char_p, _N, _P)(("wasmtime_caller_export_get", ffi.dll))
_memory_data = _c(_P, _P, _P)(("wasmtime_memory_data", ffi.dll))
_memory_data_size = _c(_N, _P, _P)(("wasmtime_memory_data_size", ffi.dll))
_define_func_unchecked = _c(_P, _P, _P, _N, _P, _N, _P, _Callback, _P, _P)(
    ("wasmtime_linker_define_func_unchecked", ffi.dll)
)
_trap_new = _c(_P, ctypes.c_char_p, _N)(("wasmtime_trap_new", ffi.dll))
_trap_new_code = _c(_P, ctypes.c_uint8)(("wasmtime_trap_new_code", ffi.dll))

Caller = int  # the address of a wasmtime_caller_t, valid during the call only
HostFunction = Callable[..., int | None]


class GuestFault(Exception):
    """The guest handed a host function something unusable; the run traps with this message."""


class DeadlineReached(Exception):
    """The run's time is up while a host function waits or works (the run is a ``timeout``)."""


class Exited(Exception):
    """The guest called ``proc_exit(code)``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit with code {code}")
        self.code = code


@dataclass(slots=True)
class Host:
    """One run as its host functions see it."""

    deadline_ns: int  # time.monotonic_ns() at which the run's time is up
    started_ns: int  # the guest's monotonic clock counts from here
    sink: LogSink
    stdio: Stdio | None = None  # the run's WASI streams, when the module imports WASI
    exit_code: int | None = None  # set by proc_exit
    memory: Memory | None = None  # the instance's exported memory, looked up at its first use

    def check_deadline(self) -> None:
        """Errors: ``DeadlineReached`` once the run's time is up."""
        if time.monotonic_ns() >= self.deadline_ns:
            raise DeadlineReached


def bind(host: Host | None) -> None:
    """Make ``host`` the run of this thread's host calls (None: no run; calls then trap)."""
    _local.host = host


class Memory:
    """The exported memory of one run's instance, as host functions read and write it.

    Its address never changes (``engine.ENGINE_SETTINGS`` has ``memory_may_move``
    off, and a pooled memory lives in a fixed slot) and its size only grows, so
    both are looked up once per run and the size again only when an access falls
    outside it: a host call then costs no C call to find the memory (each one
    also lets the GIL go, which with several run threads means a thread switch).
    """

    __slots__ = ("_at", "_context", "_item", "base", "size")

    def __init__(self, caller: Caller) -> None:
        """Errors: ``GuestFault`` when the instance exports no memory named ``memory``."""
        item = ffi.wasmtime_extern_t()
        if not _caller_export_get(caller, b"memory", 6, ctypes.addressof(item)) or item.kind != _MEMORY:
            raise GuestFault("missing required memory export")
        self._item = item  # owns the wasmtime_memory_t at ``_at``
        self._at = ctypes.addressof(item.of.memory)
        self._context = _caller_context(caller)  # the store's, valid for the whole run
        self.size: int = _memory_data_size(self._context, self._at)
        self.base: int = _memory_data(self._context, self._at) or 0

    def check(self, ptr: int, length: int) -> None:
        """Errors: ``GuestFault`` unless ``length`` bytes at ``ptr`` are all inside the memory."""
        if ptr + length > self.size:
            self.size = _memory_data_size(self._context, self._at)  # it may have grown since
            if ptr + length > self.size:
                raise GuestFault(f"pointer out of bounds: {length} bytes at {ptr} in a memory of {self.size}")

    def read(self, ptr: int, length: int) -> bytes:
        self.check(ptr, length)
        return ctypes.string_at(self.base + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        if data:  # like wasmtime, writing nothing checks nothing
            self.check(ptr, len(data))
            ctypes.memmove(self.base + ptr, data, len(data))

    def pack(self, ptr: int, layout: struct.Struct, *values: int) -> None:
        self.write(ptr, layout.pack(*values))


def guest_memory(host: Host, caller: Caller) -> Memory:
    """The calling run's memory. Errors: ``GuestFault`` when it exports none."""
    found = host.memory
    if found is None:
        found = host.memory = Memory(caller)
    return found


def define(
    linker: wasmtime.Linker, module: str, name: str, params: str, results: str, fn: HostFunction
) -> None:
    """Offer ``fn(host, caller, *args)`` to guests as ``module.name``.

    ``params`` and ``results`` spell the wasm types, ``i`` for i32 and ``I`` for
    i64; ``fn`` gets the arguments as unsigned integers and returns the i32
    result (or None when ``results`` is empty).
    Errors: ``WasmtimeError`` when the linker already defines the name.
    """
    key = (fn, params, results)
    callback = _callbacks.get(key)
    if callback is None:
        callback = _callbacks[key] = _Callback(_entry(fn, params, bool(results)))
    functype = wasmtime.FuncType([_TYPES[p]() for p in params], [_TYPES[r]() for r in results])
    mod, item = module.encode(), name.encode()
    at = ctypes.cast(linker.ptr(), _P)
    error = _define_func_unchecked(
        at, mod, len(mod), item, len(item), ctypes.cast(functype.ptr(), _P), callback, None, None
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))


def _entry(fn: HostFunction, params: str, has_result: bool) -> Callable[[Any, int, int, int], int]:
    raw = struct.Struct("<" + "".join(_RAW[p] for p in params))  # unsigned, as WASI reads them

    def callback(_env: Any, caller: int, vals: int, _count: int) -> int:
        host = None
        try:
            host = _local.host
            if time.monotonic_ns() >= host.deadline_ns:
                return _interrupt()
            result = fn(host, caller, *raw.unpack(ctypes.string_at(vals, raw.size)))
            if has_result:
                ctypes.c_int32.from_address(vals).value = result
            return 0
        except DeadlineReached:
            return _interrupt()
        except Exited as exc:
            assert host is not None
            host.exit_code = exc.code
            return _trap(str(exc))
        except GuestFault as exc:
            return _trap(str(exc))
        except BaseException as exc:  # anything else is our bug; the run traps, the host lives
            return _trap(f"host function {fn.__name__} failed: {type(exc).__name__}: {exc}")

    return callback


def _trap(message: str) -> int:
    data = message.encode()
    return _trap_new(data, len(data)) or 0


def _interrupt() -> int:
    return _trap_new_code(_INTERRUPT) or 0
