"""Run one guest event in a fresh, limited wasmtime instance (SPEC §4).

A ``Sandbox`` holds one ``Engine`` (epoch interruption on, only standard wasm
features), one ``Linker`` (WASI preview1 + ``env.log``), the compiled modules
by content hash (with an ``InstancePre`` each, so instantiation skips import
resolution) and one ticker thread that advances the engine epoch every
``TICK_MS`` and keeps stdio captures in check.

Every run gets its own store (``fastcall.Run``, wasmtime's C API without
wasmtime-py's per-call wrappers): memory capped by the store's limiter, time by
an epoch deadline, stdout/stderr in per-thread files on tmpfs when the guest can
write them at all (decided at load from its imports). Nothing survives a run, so
no event can see another's state.

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
from jobico.executor import fastcall, jobicolet, wasi
from jobico.executor.cache import ArtifactCache, engine_key
from jobico.executor.limits import DEFAULT_MAX_OUTPUT, MIB, LogSink, RunResult, ticks_for
from jobico.executor.outcome import Outcome, classify
from jobico.executor.wasi import FloodGuard, Scratch, remove_root, scratch_root

TICK_MS = 10
WASI_MODULE = "wasi_snapshot_preview1"
WASI_WRITES = frozenset({"fd_write", "fd_pwrite"})  # the only ways a guest writes to stdout/stderr
_NO_CAPTURE = ((b"", False), (b"", False))

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
    wasi_imports: frozenset[str]  # the WASI functions the module imports


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """A compiled module bound to the ABI and entry a job uses it with."""

    compiled: Compiled
    abi: abis.Abi
    entry: str
    plan: jobicolet.Plan | None
    uses_wasi: bool  # its store needs a WASI context
    captures: bool  # it can write to stdout/stderr, so they are captured for its logs

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
        is_wasi = chosen == "wasi"
        writes = is_wasi or not compiled.wasi_imports.isdisjoint(WASI_WRITES)
        return LoadedModule(compiled, chosen, entry, plan, is_wasi or bool(compiled.wasi_imports), writes)

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
            wasi_imports = frozenset(i.name or "" for i in module.imports if i.module == WASI_MODULE)
            found = Compiled(sha256, module, pre, abis.exports_of(module), wasi_imports)
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
        Errors: ``OSError`` when a capture file cannot be opened (a host problem).
        """
        started = time.perf_counter()
        sink = LogSink(max_output)
        outcome = Outcome()
        is_wasi = module.abi == "wasi"
        scratch = self._scratch() if module.captures else None
        if scratch is not None:
            setup = scratch.config(
                stdin=input_bytes if is_wasi else None, env=env if is_wasi else None, limit=max_output
            )
        else:
            setup = wasi.config() if module.uses_wasi else None
        run = fastcall.Run(self.engine, memory_mb * MIB, ticks_for(timeout_ms, TICK_MS), setup)
        jobicolet.bind_sink(sink)
        try:
            run.instantiate(module.compiled.pre)
            if module.plan is not None:
                outcome.code, outcome.result, outcome.cut = jobicolet.call(
                    module.plan, run, input_bytes, max_output
                )
            else:
                run.call(run.func(b"_start"))
        except (wasmtime.Trap, wasmtime.WasmtimeError, jobicolet.GuestFault) as exc:
            outcome.failure = exc
        finally:
            jobicolet.bind_sink(None)
            stdout, stderr = scratch.collect(max_output) if scratch is not None else _NO_CAPTURE
            outcome.memory_bytes = run.memory_size()
            run.close()
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
