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
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import wasmtime
from wasmtime import _bindings as capi

from jobico.errors import UserError
from jobico.executor import abi as abis
from jobico.executor import jobicolet, wasi

ENGINE_SETTINGS: dict[str, bool | str] = {
    "epoch_interruption": True,
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


@dataclass(frozen=True, slots=True)
class Compiled:
    """A module compiled and linked, with what running it needs to know."""

    sha256: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre
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


def new_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    for name, value in ENGINE_SETTINGS.items():
        setattr(config, name, value)
    return wasmtime.Engine(config)


class Runtime:
    """The engine and the linker guests are compiled and linked with; safe to share between threads."""

    def __init__(self) -> None:
        self.engine = new_engine()
        self.linker = wasmtime.Linker(self.engine)
        wasi.define_all(self.linker)
        jobicolet.define_log(self.linker)

    def compile(self, data: bytes, name: str) -> wasmtime.Module:
        """Errors: ``UserError`` "<name> does not compile: <why>"."""
        try:
            return wasmtime.Module(self.engine, data)
        except (wasmtime.WasmtimeError, ValueError, TypeError) as exc:
            raise UserError(f"{name} does not compile: {_explain(exc)}") from None

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
            exports=abis.exports_of(module),
            wasi_imports=frozenset(i.name or "" for i in module.imports if i.module == wasi.MODULE),
            tables=declared_tables(data),
            code_bytes=(end.value or 0) - (start.value or 0),
        )

    def prepare(self, data: bytes, name: str) -> Compiled:
        """``compile`` then ``link``. Errors: ``UserError`` naming ``name`` and the reason."""
        return self.link(self.compile(data, name), data, hashlib.sha256(data).hexdigest(), name)


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


def declared_tables(data: bytes) -> tuple[int, ...]:
    """The initial size of each table a valid module defines, read from its table section.

    wasmtime tells the exported tables only; the store's table limits need them all.
    Only the forms the engine accepts occur: a one-byte reference type, then
    limits without the 64-bit flag (memory64 is off).
    """
    at = 8  # past the magic number and version
    while at < len(data):
        section = data[at]
        size, at = _leb128(data, at + 1)
        if section == _TABLE_SECTION:
            count, at = _leb128(data, at)
            sizes = []
            for _ in range(count):
                flags = data[at + 1]  # after the reference type
                initial, at = _leb128(data, at + 2)
                if flags & 1:
                    _, at = _leb128(data, at)
                sizes.append(initial)
            return tuple(sizes)
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
