"""Run one guest event in a fresh, limited wasmtime instance (SPEC §4).

A ``Sandbox`` holds one ``Engine`` (epoch interruption on, only standard wasm
features), one ``Linker`` (WASI preview1 + ``env.log``), the compiled modules
by content hash (with an ``InstancePre`` each, so instantiation skips import
resolution) and one ticker thread that advances the engine epoch every
``TICK_MS`` and keeps stdio captures in check.

Every run gets its own ``Store``: memory capped with ``Store.set_limits``, time
with an epoch deadline, stdio in per-thread files on tmpfs. Nothing survives a
run, so no event can see another's state.

Threads, decided by measurement (``perf/executor_bench.py --processes 2``; 2
shared cores, load 2.9, 1 KiB items, events/s):

    guest                       1 thread  2 threads  4 threads  2 processes
    jobicolet echo                 2074      2008       1539        1955
    wasi echo                      1277      1958       1745        2056
    compute (~50 ms of wasm)       19.9      35.6       39.0        27.4

wasmtime releases the GIL while wasm runs, so compute-bound guests run in
parallel on threads (1.8x on 2 cores, as good as processes); short echo events
are bound by GIL-held Python call overhead, where processes do no better than
threads on this machine. Threads also keep one spinning guest from stalling the
others. So the executor runs ``max_concurrency`` guests on threads of one
process, and ``executor.workers`` adds processes where there are spare cores.

Sharing is safe as used here: the Engine, Module, Linker and InstancePre are
read-only after creation and ``Send + Sync`` in wasmtime; each run creates its
own Store on its own thread; host state is per thread (``env.log`` finds its
sink in a thread-local) and ``env.log`` never raises, so wasmtime-py's
process-wide "last exception" slot is never used. ``tests/executor/
test_threads.py`` runs six kinds of guest (and spinning ones) on 8 threads and
checks every result; it fails if the log sink is made process-wide.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from jobico.errors import UserError
from jobico.executor import abi as abis
from jobico.executor import fastcall, jobicolet
from jobico.executor.cache import ArtifactCache, engine_key
from jobico.executor.limits import DEFAULT_MAX_OUTPUT, MIB, LogSink, RunResult, ticks_for
from jobico.executor.outcome import Outcome, classify
from jobico.executor.wasi import FloodGuard, Scratch, remove_root, scratch_root

TICK_MS = 10

# Engine settings; part of the cache key, so changing one invalidates artifacts.
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


@dataclass(frozen=True, slots=True)
class Compiled:
    sha256: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre
    exports: dict[str, object]


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


class Sandbox:
    """Compiles modules once and runs events; ``run`` is safe to call from many threads."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        config = wasmtime.Config()
        for name, value in ENGINE_SETTINGS.items():
            setattr(config, name, value)
        self.engine = wasmtime.Engine(config)
        self._linker = wasmtime.Linker(self.engine)
        self._linker.define_wasi()
        log_type = wasmtime.FuncType([wasmtime.ValType.i32()] * 3, [])
        self._linker.define_func("env", "log", log_type, jobicolet.log_host, access_caller=True)
        self._cache = ArtifactCache(cache_dir, engine_key(ENGINE_SETTINGS)) if cache_dir else None
        self._compiled: dict[str, Compiled] = {}
        self._lock = threading.Lock()
        self.compiles = 0  # modules compiled from source (cache misses), for tests and status
        self._guard = FloodGuard()
        self._root = scratch_root()
        self._local = threading.local()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="jobico-epoch", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        """Stop the ticker and remove the stdio captures; runs must have finished."""
        self._stop.set()
        self._ticker.join()
        remove_root(self._root)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_MS / 1000):
            self.engine.increment_epoch()
            self._guard.check()

    def load(
        self,
        module_bytes: bytes,
        sha256: str,
        *,
        abi: str = "auto",
        entry: str = "event",
        source: str | None = None,
    ) -> LoadedModule:
        """The module compiled (once per content hash) and checked for ``abi``.

        Blocks while compiling (milliseconds to a second): call it off the event loop.
        Errors: ``UserError`` naming ``source`` (the file; else the hash) when the
        bytes do not match ``sha256``, do not compile, import something Jobico
        does not provide, or lack the ABI's exports.
        """
        name = source or f"module {sha256[:12]}"
        compiled = self._compile(module_bytes, sha256, name)
        try:
            chosen = abis.detect(compiled.exports, abi, entry)
        except UserError as exc:
            raise UserError(f"{name}: {exc}") from None
        plan = jobicolet.plan_for(compiled.exports, entry) if chosen == "jobicolet" else None
        return LoadedModule(compiled, chosen, entry, plan)

    def _compile(self, module_bytes: bytes, sha256: str, name: str) -> Compiled:
        with self._lock:
            found = self._compiled.get(sha256)
            if found is not None:
                return found
            if hashlib.sha256(module_bytes).hexdigest() != sha256:
                raise UserError(f"{name}: bytes do not match their sha256 {sha256}")
            module = self._cache.load(self.engine, sha256) if self._cache else None
            if module is None:
                try:
                    module = wasmtime.Module(self.engine, module_bytes)
                except wasmtime.WasmtimeError as exc:
                    raise UserError(f"{name} does not compile: {exc}") from None
                self.compiles += 1
                if self._cache:
                    self._cache.store(sha256, module)
            try:
                pre = self._linker.instantiate_pre(module)
            except wasmtime.WasmtimeError as exc:
                raise UserError(f"{name} cannot be linked: {exc}") from None
            found = Compiled(sha256, module, pre, abis.exports_of(module))
            self._compiled[sha256] = found
            return found

    def run(
        self,
        module: LoadedModule,
        input_bytes: bytes,
        *,
        timeout_ms: int = 2000,
        memory_mb: int = 64,
        env: Mapping[str, str] | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> RunResult:
        """Run one event; every failure of the guest is a result, never an exception.

        Blocks for up to ``timeout_ms`` (plus two ticks): call it from a worker thread.
        ``env`` is given to wasi guests only (jobicolet gets no environment).
        """
        started = time.perf_counter()
        scratch = self._scratch()
        sink = LogSink(max_output)
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=memory_mb * MIB)
        is_wasi = module.abi == "wasi"
        wasi = scratch.config(
            stdin=input_bytes if is_wasi else None, env=(env or {}) if is_wasi else {}, limit=max_output
        )
        store.set_wasi(wasi)
        store.set_epoch_deadline(ticks_for(timeout_ms, TICK_MS))
        outcome = Outcome()
        instance = None
        jobicolet.bind_sink(sink)
        try:
            instance = module.compiled.pre.instantiate(store)
            if module.plan is not None:
                outcome.code, outcome.result, outcome.cut = jobicolet.call(
                    module.plan, store, instance, input_bytes, max_output
                )
            else:
                fastcall.call(store, fastcall.export_func(store, instance, "_start"))
        except (wasmtime.Trap, wasmtime.WasmtimeError, jobicolet.GuestFault) as exc:
            outcome.failure = exc
        finally:
            jobicolet.bind_sink(None)
            stdout, stderr = scratch.collect(max_output)
        outcome.memory_bytes = _memory_size(store, instance)
        return classify(
            outcome, module.abi, sink, stdout, stderr,
            timeout_ms=timeout_ms, memory_mb=memory_mb,
            duration_ms=(time.perf_counter() - started) * 1000,
        )  # fmt: skip

    def _scratch(self) -> Scratch:
        scratch: Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = Scratch(self._root, self._guard)
        return scratch


def _memory_size(store: wasmtime.Store, instance: wasmtime.Instance | None) -> int:
    memory = fastcall.export_memory(store, instance) if instance is not None else None
    return memory.data_len(store) if memory is not None else 0
