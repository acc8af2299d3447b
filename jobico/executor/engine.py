"""How guest code is compiled, linked and checked: one definition for the executor and for ctl.

ctl used to validate packages with a default ``wasmtime.Engine`` and no import
check, so a module with shared memory, memory64 or an import Jobico does not
serve loaded as good, replaced the last good version, and every event then
failed in the executor. Both now go through this module:

- ``ENGINE_SETTINGS``: the engine (epoch interruption on, only standard wasm
  features); also the artifact cache's key, so a change invalidates artifacts.
- ``Runtime``: that engine and the linker, which offers exactly WASI preview1
  as ``wasi.py`` serves it and ``env.log``: an import of anything else, or of
  one of these with another signature, does not link.
- ``check_module``: ``Runtime.prepare`` (compile and link) then ``bind``
  (the ABI's exports, ``abi.py``). ctl runs the same two steps (keeping only
  the exports between them), ``Sandbox.load`` too (with its caches between
  compiling and linking).

The executor's runtime (``Runtime(pool_slots=N)``) uses wasmtime's pooling
allocator: instance, memory and table slots reserved once and reused, the first
``KEEP_RESIDENT_BYTES`` of each memory kept mapped and zeroed on reuse instead
of unmapped. A fresh instance's memory then costs no page faults: a store, an
instance and the ``_start`` of a WASI C guest took 95 us of CPU on the default
allocator and 63 us pooled (a WASI echo guest 53 -> 40 us; one thread; the whole
run: ``perf/executor_bench.py``, docs/performance.md). Nothing carries over: wasmtime
resets a slot to the module's initial image before reuse. A slot has fixed
bounds, so a module whose tables could outgrow them (``fits_pool``), or that
wasmtime finds too large for a slot when compiling (``PoolMisfit``), runs on
the default allocator instead: the limits a guest gets never depend on it.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _bindings as capi

from jobico.caps import KIB, MIB
from jobico.errors import UserError
from jobico.executor import abi as abis
from jobico.executor import fastcall, jobicolet, wasi
from jobico.executor.cache import MAX_ARTIFACTS, ArtifactCache, engine_key
from jobico.executor.compiler import CompileError, CompileLimits, compile_artifact, engine_config

ENGINE_SETTINGS: dict[str, bool | str] = {
    "epoch_interruption": True,
    # A memory stays where it was made (growing up to 4 GiB fits its reservation): the host
    # functions keep its address for the whole run (hostcalls.Memory).
    "memory_may_move": False,
    "wasm_threads": False,
    "wasm_memory64": False,
    "wasm_multi_memory": False,
    "wasm_gc": False,
    "wasm_function_references": False,
    "wasm_exceptions": False,
    "wasm_component_model": False,
    "wasm_wide_arithmetic": False,  # a proposal, not standard wasm; wasmtime 50 enables it
    "cranelift_opt_level": "speed",
}
MAX_REASON_CHARS = 500  # wasmtime's messages quote import names, which the module chooses
_TABLE_SECTION = 4

# Pooling allocator slots. Memories: the whole wasm32 space (the store's limiter is the
# cap, as on the default allocator). Tables: a module whose tables all declare a maximum
# within these bounds (C, Rust, Go and AssemblyScript toolchains emit fixed tables).
POOL_TABLES = 4
POOL_TABLE_ELEMENTS = 1 << 16
POOL_INSTANCE_BYTES = 4 * MIB  # an instance's own state (globals, function references)
POOL_MEMORY_BYTES = 4096 * MIB
KEEP_RESIDENT_BYTES = 256 * KIB  # measured: 64 KiB 79 us, 256 KiB 63 us, 1 MiB 62 us (a C guest)
TABLE_KEEP_RESIDENT_BYTES = 16 * KIB  # the same for tables: without it, 81 us (4-64 KiB: 63-65 us)
POOL_SETTINGS: dict[str, int] = {
    "tables": POOL_TABLES, "table_elements": POOL_TABLE_ELEMENTS,
    "instance_bytes": POOL_INSTANCE_BYTES, "memory_bytes": POOL_MEMORY_BYTES,
}


class PoolMisfit(Exception):
    """wasmtime found the module too large for a pooling allocator slot."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A module compiled and linked, with what running it needs to know."""

    sha256: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre
    engine: wasmtime.Engine  # the engine it was compiled for (its runs' stores belong to it)
    pooled: bool  # its engine allocates from a pool of ``pool_slots`` instances
    engine_at: int  # the addresses of ``engine`` and ``pre``, as ``fastcall.Run`` takes them
    pre_at: int
    exports: dict[str, Any]
    wasi_imports: frozenset[str]  # the WASI functions the module imports
    tables: tuple[int, ...]  # initial size of each table it defines
    code_bytes: int  # size of its compiled code in memory


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """A compiled module bound to the ABI and entry a job uses it with."""

    compiled: Compiled
    abi: abis.Abi
    entry: str
    plan: jobicolet.Plan | None

    @property
    def sha256(self) -> str:
        return self.compiled.sha256

    @property
    def uses_wasi(self) -> bool:
        """Its runs need WASI streams (a wasi guest, or a jobicolet guest importing WASI)."""
        return self.abi == "wasi" or bool(self.compiled.wasi_imports)


def new_engine(pool_slots: int = 0) -> wasmtime.Engine:
    """The engine of ``ENGINE_SETTINGS``; with ``pool_slots``, on a pool of that many instances."""
    config = engine_config(ENGINE_SETTINGS)
    if pool_slots:
        pool = capi.wasmtime_pooling_allocation_config_new()
        try:
            for setter, value in (
                ("total_core_instances", pool_slots),
                ("total_memories", pool_slots),
                ("total_tables", pool_slots * POOL_TABLES),
                ("max_tables_per_module", POOL_TABLES),
                ("max_memories_per_module", 1),
                ("table_elements", POOL_TABLE_ELEMENTS),
                ("max_core_instance_size", POOL_INSTANCE_BYTES),
                ("max_memory_size", POOL_MEMORY_BYTES),
                ("linear_memory_keep_resident", KEEP_RESIDENT_BYTES),
                ("table_keep_resident", TABLE_KEEP_RESIDENT_BYTES),
            ):
                getattr(capi, f"wasmtime_pooling_allocation_config_{setter}_set")(pool, value)
            capi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)  # copies the settings
        finally:
            capi.wasmtime_pooling_allocation_config_delete(pool)
    return wasmtime.Engine(config)


def fits_pool(tables: tuple[tuple[int, int | None], ...]) -> bool:
    """Whether a module with these tables ((initial, maximum) each) may run pooled: at most
    ``POOL_TABLES`` of them, each with a declared maximum of at most ``POOL_TABLE_ELEMENTS``
    (a table that could grow past its slot would meet a bound the default allocator lacks)."""
    return len(tables) <= POOL_TABLES and all(
        top is not None and top <= POOL_TABLE_ELEMENTS for _, top in tables
    )


class Runtime:
    """The engine and the linker guests are compiled and linked with; safe to share between threads.

    ``pool_slots`` > 0: the engine uses the pooling allocator with that many instance
    slots, so at most that many of its instances may exist at once (``Sandbox`` counts).
    Modules are compiled in a child process within ``limits`` (``compiler.py``).
    """

    def __init__(
        self, pool_slots: int = 0, limits: CompileLimits = CompileLimits(), cache: ArtifactCache | None = None
    ) -> None:
        self.pool_slots = pool_slots
        self.limits = limits
        self.cache = cache
        self.compiles = 0  # modules compiled (not found in ``cache``), for tests and status
        self._counting = threading.Lock()
        self.engine = new_engine(pool_slots)
        self.linker = wasmtime.Linker(self.engine)
        wasi.define_all(self.linker)
        jobicolet.define_log(self.linker)

    def module(self, data: bytes, sha256: str, name: str) -> wasmtime.Module:
        """``data`` (whose hash is ``sha256``) for this runtime's engine: its artifact from
        ``cache``, else compiled by a child within ``limits`` (and cached). Blocks while it
        compiles.

        Errors: ``UserError`` "<name> does not compile: <why>" (wasmtime's reason, or
        the limit it hit); ``PoolMisfit`` when the module is valid but too large for
        a slot of this runtime's pool.
        """
        if self.cache and (cached := self.cache.read(sha256)) is not None:
            try:
                return self._deserialize(cached)
            except wasmtime.WasmtimeError as exc:
                self.cache.discard(sha256, f"wasmtime rejects it: {_explain(exc)}")
        try:
            artifact = compile_artifact(data, ENGINE_SETTINGS, self.limits)
        except CompileError as exc:
            raise UserError(f"{name} does not compile: {_explain(exc)}") from None
        with self._counting:
            self.compiles += 1
        if self.cache:
            self.cache.write(sha256, artifact)
        try:
            return self._deserialize(artifact)
        except wasmtime.WasmtimeError as exc:
            raise UserError(f"{name} does not compile: {_explain(exc)}") from None

    def _deserialize(self, artifact: bytes) -> wasmtime.Module:
        try:
            return wasmtime.Module.deserialize(self.engine, artifact)
        except wasmtime.WasmtimeError as exc:
            if self.pool_slots and "pooling allocator" in str(exc):
                raise PoolMisfit(_explain(exc)) from None
            raise

    def link(self, module: wasmtime.Module, data: bytes, sha256: str, name: str) -> Compiled:
        """``module`` (compiled from ``data``) linked against Jobico's imports.

        Errors: ``UserError`` "<name> cannot be linked: <why>" for an import
        Jobico does not provide or provides with another type.
        """
        try:
            pre = self.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise UserError(f"{name} cannot be linked: {_explain(exc)}") from None
        start, end = ctypes.c_void_p(), ctypes.c_void_p()
        capi._wasmtime_module_image_range(module.ptr(), ctypes.byref(start), ctypes.byref(end))
        return Compiled(
            sha256=sha256,
            module=module,
            pre=pre,
            engine=self.engine,
            pooled=bool(self.pool_slots),
            engine_at=fastcall.address(self.engine.ptr()),
            pre_at=fastcall.address(pre.ptr()),
            exports=abis.exports_of(module),
            wasi_imports=frozenset(i.name or "" for i in module.imports if i.module == wasi.MODULE),
            tables=tuple(initial for initial, _ in table_limits(data)),
            code_bytes=(end.value or 0) - (start.value or 0),
        )

    def prepare(self, data: bytes, name: str) -> Compiled:
        """``compile`` then ``link``. Errors: ``UserError`` naming ``name`` and the reason."""
        sha256 = hashlib.sha256(data).hexdigest()
        return self.link(self.module(data, sha256, name), data, sha256, name)


def artifact_cache(folder: Path, max_files: int = MAX_ARTIFACTS) -> ArtifactCache:
    """The artifacts in ``folder`` (a home's ``.jobico/cache``): ctl and every executor share
    them, pooled or not, as their code depends only on ``ENGINE_SETTINGS``."""
    return ArtifactCache(folder, engine_key(ENGINE_SETTINGS), max_files=max_files)


@cache
def default_runtime() -> Runtime:
    """A process-wide ``Runtime`` for callers that keep none (building one takes milliseconds)."""
    return Runtime()


def bind(compiled: Compiled, abi: str, entry: str, name: str) -> LoadedModule:
    """``compiled`` checked for ``abi`` ("auto" picks one) and ``entry``.

    Errors: ``UserError`` "<name>: abi ...: <missing or mistyped exports>".
    """
    try:
        chosen = abis.detect(compiled.exports, abi, entry)
    except UserError as exc:
        raise UserError(f"{name}: {exc}") from None
    plan = jobicolet.plan_for(compiled.exports, entry) if chosen == "jobicolet" else None
    return LoadedModule(compiled, chosen, entry, plan)


def check_module(
    data: bytes,
    *,
    abi: str = "auto",
    entry: str = "event",
    name: str = "wasm",
    runtime: Runtime | None = None,
) -> LoadedModule:
    """``data`` compiled, linked and checked exactly as the executor will run it.

    The result's ``abi`` is the ABI resolved and ``compiled.exports`` the exports.
    Errors: ``UserError`` naming ``name`` and the reason: not wasm, a feature
    Jobico leaves off (shared memory, memory64, ...), an unknown import or one
    of the wrong type, missing or mistyped exports for the ABI.
    """
    return bind((runtime or default_runtime()).prepare(data, name), abi, entry, name)


def table_limits(data: bytes) -> tuple[tuple[int, int | None], ...]:
    """The (initial, maximum or None) sizes of each table a valid module defines, read from
    its table section.

    wasmtime tells the exported tables only; the store's table limits and the pool need
    them all. Only the forms the engine accepts occur: a one-byte reference type, then
    limits without the 64-bit flag (memory64 is off).
    """
    at = 8  # past the magic number and version
    while at < len(data):
        section = data[at]
        size, at = _leb128(data, at + 1)
        if section == _TABLE_SECTION:
            count, at = _leb128(data, at)
            limits: list[tuple[int, int | None]] = []
            for _ in range(count):
                flags = data[at + 1]  # after the reference type
                initial, at = _leb128(data, at + 2)
                top = None
                if flags & 1:
                    top, at = _leb128(data, at)
                limits.append((initial, top))
            return tuple(limits)
        at += size
    return ()


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _explain(exc: Exception) -> str:
    """wasmtime's message on one line ("what: cause"), cut to ``MAX_REASON_CHARS``."""
    lines = [line.strip() for line in str(exc).splitlines()]
    text = ": ".join(line for line in lines if line and line != "Caused by:") or type(exc).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
