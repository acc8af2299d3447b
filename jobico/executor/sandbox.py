"""Run one guest event in a fresh, limited wasmtime instance (SPEC §4).

A ``Sandbox`` holds an ``engine.Runtime`` on wasmtime's pooling allocator
(``slots`` instances at once, the most its callers run together; a run waits
for a free slot rather than fail) and, made when a module first needs it, one
on the default allocator for modules too large for a slot (``engine.fits_pool``);
the most recently used compiled modules by content hash (with an
``InstancePre`` each, so instantiation skips import resolution; at most
``MAX_MODULES`` of them and ``MAX_MODULE_BYTES`` of code, so a tenant cycling
versions does not grow the executor) and one ``Ticker`` thread that advances
the engines' epoch once per ``TICK_MS`` of the monotonic clock.

Every run gets its own store (``fastcall.Run``, wasmtime's C API without
wasmtime-py's per-call wrappers): linear memory and tables capped together by
the store's limiter (``limits.store_limits``), time by an epoch deadline inside
wasm and by a deadline check at every host call (``hostcalls.py``), WASI
served by ``wasi.py`` with stdio in memory. Nothing survives a run, so no
event can see another's state.

Threads, decided by measurement (``perf/executor_bench.py --processes 2``; 2
shared cores, load 2.9, 1 KiB items, events/s):

    guest                       1 thread  2 threads  4 threads  2 processes
    jobicolet echo                 2074      2008       1539        1955
    wasi echo                      1277      1958       1745        2056
    compute (~50 ms of wasm)       19.9      35.6       39.0        27.4

wasmtime releases the GIL while wasm runs, so compute-bound guests run in
parallel on threads (1.8x on 2 cores, as good as processes); short echo events
are bound by GIL-held Python call overhead (WASI calls included: ``wasi.py``
is Python), where processes do no better than threads on this machine.
Threads also keep one spinning guest from stalling the others. So the executor
runs ``max_concurrency`` guests on threads of one process, and
``executor.workers`` adds processes where there are spare cores.

Sharing is safe as used here: the Engine, Module, Linker and InstancePre are
read-only after creation and ``Send + Sync`` in wasmtime; each run creates its
own Store on its own thread; host state is per thread (host functions find
their run in a thread-local) and they turn every failure into a trap, so
wasmtime-py's process-wide "last exception" slot is never used.
``tests/executor/test_threads.py`` runs six kinds of guest (and spinning ones)
on 8 threads and checks every result; it fails if the run state is made
process-wide.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import wasmtime

from jobico.caps import MAX_RESULT_BYTES, MIB
from jobico.errors import UserError
from jobico.executor import fastcall, hostcalls, jobicolet
from jobico.executor.cache import MAX_ARTIFACTS
from jobico.executor.compiler import CompileLimits
from jobico.executor.engine import (
    Compiled,
    LoadedModule,
    PoolMisfit,
    Runtime,
    artifact_cache,
    bind,
    fits_pool,
    table_limits,
)
from jobico.executor.limits import LogSink, RunResult, store_limits, ticks_for
from jobico.executor.outcome import Outcome, classify
from jobico.executor.wasi import Stdio

__all__ = ["LoadedModule", "Sandbox"]

TICK_MS = 10
SLOTS = 16  # pooled instances at once unless told: the runs a caller makes at the same time
MAX_MODULES = 64  # compiled modules kept in memory, least recently used evicted first
MAX_MODULE_BYTES = 512 * MIB  # and their compiled code, in total
_NO_CAPTURE = (b"", False)


def _fits_pool(module_bytes: bytes) -> bool:
    try:
        return fits_pool(table_limits(module_bytes))
    except IndexError:  # not a valid module: compiling it says why
        return True


class Ticker:
    """Advances its engines' epoch once per ``tick_ms`` elapsed on the monotonic clock, on a thread.

    A run's deadline is a number of ticks. The thread needs the GIL to wake, and
    Python threads busy meanwhile (other guests' host calls, the event loop) keep
    it for a switch interval or longer: when each wake-up added one tick, every
    tick stretched, and under load a 2000 ms timeout ran 2.4-2.9 s (a 500 ms one,
    beside one busy Python thread, 1.0-1.7 s). So a wake-up adds every tick that
    came due since the ticker started, however late it is, and ``owed`` tells a
    run starting meanwhile how many are still to come at once.
    """

    def __init__(self, engine: wasmtime.Engine, tick_ms: int = TICK_MS) -> None:
        self._engines = (engine,)
        self._period = tick_ms * 1_000_000
        self._start = time.monotonic_ns()
        self._ticks = 0  # ticks added; written by the thread after the epoch moved, so never ahead of it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobico-epoch", daemon=True)
        self._thread.start()

    def add(self, engine: wasmtime.Engine) -> None:
        """Tick ``engine`` too, from the next tick on (its epoch counts from there)."""
        self._engines = (*self._engines, engine)

    def owed(self) -> int:
        """Ticks due by the clock and not added yet: a run's deadline counts epochs from the
        current one, so a run starting now gets these on top, or their burst would cut it short."""
        return max(self._due() - self._ticks, 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _due(self) -> int:
        return (time.monotonic_ns() - self._start) // self._period

    def _run(self) -> None:
        while True:
            next_at = self._start + (self._ticks + 1) * self._period
            if self._stop.wait(max(next_at - time.monotonic_ns(), 0) / 1e9):
                return
            due = self._due()
            for engine in self._engines:
                for _ in range(due - self._ticks):
                    engine.increment_epoch()
            self._ticks = max(due, self._ticks)


class Sandbox:
    """Compiles modules once and runs events; ``run`` is safe to call from many threads."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        slots: int = SLOTS,
        max_modules: int = MAX_MODULES,
        max_module_bytes: int = MAX_MODULE_BYTES,
        max_artifacts: int = MAX_ARTIFACTS,
        limits: CompileLimits = CompileLimits(),
    ) -> None:
        cache = artifact_cache(cache_dir, max_artifacts) if cache_dir else None
        self.runtime = Runtime(pool_slots=slots, limits=limits, cache=cache)
        self.engine = self.runtime.engine
        self._unpooled: Runtime | None = None
        self._slots = threading.BoundedSemaphore(slots)
        self._compiled: OrderedDict[str, Compiled] = OrderedDict()
        self._max_modules = max_modules
        self._max_module_bytes = max_module_bytes
        self._lock = threading.Lock()
        self._ticker = Ticker(self.engine)

    def close(self) -> None:
        """Stop the ticker; runs must have finished."""
        self._ticker.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def modules(self) -> list[str]:
        """Hashes of the compiled modules held in memory, least recently used first."""
        with self._lock:
            return list(self._compiled)

    def load(
        self,
        module_bytes: bytes,
        sha256: str,
        *,
        abi: str = "auto",
        entry: str = "event",
        source: str | None = None,
    ) -> LoadedModule:
        """The module compiled (once per content hash) and checked for ``abi``, as ``engine.check_module``.

        Blocks while compiling (milliseconds to a second): call it off the event loop.
        Errors: ``UserError`` naming ``source`` (the file; else the hash) when the
        bytes do not match ``sha256``, do not compile, import something Jobico
        does not provide, or lack the ABI's exports.
        """
        name = source or f"module {sha256[:12]}"
        return bind(self._compile(module_bytes, sha256, name), abi, entry, name)

    @property
    def compiles(self) -> int:
        """Modules compiled from source (not found in the artifact cache), for tests and status."""
        return self.runtime.compiles + (self._unpooled.compiles if self._unpooled else 0)

    def _compile(self, module_bytes: bytes, sha256: str, name: str) -> Compiled:
        """The compiled module; compiling happens outside ``_lock``, so one tenant's slow
        module holds up no other's (two threads may compile the same one: both results
        are the same, the first kept)."""
        with self._lock:
            found = self._compiled.get(sha256)
            if found is not None:
                self._compiled.move_to_end(sha256)
                return found
        if hashlib.sha256(module_bytes).hexdigest() != sha256:
            raise UserError(f"{name}: bytes do not match their sha256 {sha256}")
        runtime = self.runtime if _fits_pool(module_bytes) else self._unpooled_runtime()
        try:
            module = runtime.module(module_bytes, sha256, name)
        except PoolMisfit:
            runtime = self._unpooled_runtime()
            module = runtime.module(module_bytes, sha256, name)
        compiled = runtime.link(module, module_bytes, sha256, name)
        with self._lock:
            found = self._compiled.setdefault(sha256, compiled)
            self._compiled.move_to_end(sha256)
            self._evict()
            return found

    def _unpooled_runtime(self) -> Runtime:
        """The default-allocator runtime (same limits and artifacts), made on first use."""
        with self._lock:
            if self._unpooled is None:
                self._unpooled = Runtime(limits=self.runtime.limits, cache=self.runtime.cache)
                self._ticker.add(self._unpooled.engine)
            return self._unpooled

    def _evict(self) -> None:
        """Drop least recently used modules past the count or code-size bound (never the newest)."""
        total = sum(c.code_bytes for c in self._compiled.values())
        while len(self._compiled) > 1 and (
            len(self._compiled) > self._max_modules or total > self._max_module_bytes
        ):
            _, dropped = self._compiled.popitem(last=False)
            total -= dropped.code_bytes

    def run(
        self,
        module: LoadedModule,
        input_bytes: bytes,
        *,
        timeout_ms: int = 2000,
        memory_mb: int = 64,
        env: Mapping[str, str] | None = None,
        max_output: int = MAX_RESULT_BYTES,
    ) -> RunResult:
        """Run one event; every failure of the guest is a result, never an exception.

        Blocks for up to ``timeout_ms`` (plus two ticks, or one host call): call
        it from a worker thread. ``env`` and ``input_bytes`` on stdin are given
        to wasi guests only (jobicolet gets no environment and an empty stdin).
        A pooled module's run first waits for a free slot (its time starts then).
        """
        if not module.compiled.pooled:
            return self._run(module, input_bytes, timeout_ms, memory_mb, env, max_output)
        with self._slots:
            return self._run(module, input_bytes, timeout_ms, memory_mb, env, max_output)

    def _run(
        self,
        module: LoadedModule,
        input_bytes: bytes,
        timeout_ms: int,
        memory_mb: int,
        env: Mapping[str, str] | None,
        max_output: int,
    ) -> RunResult:
        started = time.perf_counter()
        started_ns = time.monotonic_ns()
        is_wasi = module.abi == "wasi"
        stdio = None
        if module.uses_wasi:
            stdio = Stdio(
                stdin=input_bytes if is_wasi else b"", env=env if is_wasi else None, limit=max_output
            )
        host = hostcalls.Host(started_ns + timeout_ms * 1_000_000, started_ns, LogSink(max_output), stdio)
        outcome = Outcome()
        compiled = module.compiled
        deadline = ticks_for(timeout_ms, TICK_MS) + self._ticker.owed()
        run = fastcall.Run(compiled.engine_at, store_limits(memory_mb, compiled.tables), deadline)
        hostcalls.bind(host)
        try:
            run.instantiate(compiled.pre_at)
            if module.plan is not None:
                outcome.code, outcome.result, outcome.cut = jobicolet.call(
                    module.plan, run, host, input_bytes, max_output
                )
            else:
                run.call(run.func(b"_start"))
        except (wasmtime.Trap, wasmtime.WasmtimeError, hostcalls.GuestFault) as exc:
            outcome.failure = exc
            outcome.exit_code = host.exit_code
        finally:
            hostcalls.bind(None)
            outcome.memory_bytes = run.memory_size()
            run.close()
        stdout, stderr = (
            (stdio.stdout.collect(), stdio.stderr.collect()) if stdio else (_NO_CAPTURE, _NO_CAPTURE)
        )
        return classify(
            outcome, module.abi, host.sink, stdout, stderr,
            timeout_ms=timeout_ms, memory_mb=memory_mb,
            duration_ms=(time.perf_counter() - started) * 1000, max_result=max_output,
        )  # fmt: skip
