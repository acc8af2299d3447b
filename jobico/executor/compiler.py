"""Guest code compiled in a child process, bounded in time and memory.

wasmtime's compiler (Cranelift) is fast on what toolchains emit (an 11.9 MB Go
module: 4.6 s and 350 MB on 2 cores) but not linear in what a tenant can
write: 2 MB of nested blocks took 1.3 s and 620 MB, other shapes 15 s and
2.5 GB. ctl compiles every new module to check it and each executor compiles
it again, and both are shared by every tenant, so a tenant publishing such
modules stalled reloads and runs for everyone and grew the processes by
gigabytes. Compiling here happens in a child (``python -m
jobico.executor.compiler``) that

- has an address-space limit of ``memory_mb`` (``RLIMIT_AS``), with one malloc
  arena and ``COMPILE_THREADS`` compiler threads, so that limit is the memory it
  may touch plus ~80 MB whatever the machine's core count (every thread would
  otherwise reserve its own 64 MB arena), and no core file;
- is killed at ``timeout_ms`` (a compiler thread that fails to allocate can also
  hang rather than exit, so the clock is the bound that always holds);
- writes wasmtime's serialized artifact to stdout, which the parent loads into
  its own engine (``wasmtime.Module.deserialize``, ~0.2 ms for a C guest).

The cost is the child's start, ~60 ms per distinct module; ctl remembers its
checks and the executors keep artifacts on disk (``cache.py``), so that is paid
once per module content, not per event. The child compiles for an engine of
the same ``settings``; the pooling allocator does not change the code, so one
artifact loads into a pooled engine and a default one alike.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import wasmtime

if TYPE_CHECKING:
    from jobico.config import ExecutorConfig

COMPILE_THREADS = 2  # wasmtime compiles functions in parallel on this many threads
_INVALID = 3  # the child's exit status for a module wasmtime refused; stderr says why
_MAX_STDERR = 4096


@dataclass(frozen=True, slots=True)
class CompileLimits:
    """What compiling one module may take (``[executor] compile_timeout_ms, compile_memory_mb``)."""

    timeout_ms: int = 30_000
    memory_mb: int = 1024

    @classmethod
    def of(cls, executor: ExecutorConfig) -> CompileLimits:
        return cls(executor.compile_timeout_ms, executor.compile_memory_mb)


class CompileError(Exception):
    """The module did not compile; the message says why (wasmtime's reason, or the limit it hit)."""


def engine_config(settings: Mapping[str, bool | str]) -> wasmtime.Config:
    """A wasmtime ``Config`` with each of ``settings`` set (the same in the parent and the child)."""
    config = wasmtime.Config()
    for name, value in settings.items():
        setattr(config, name, value)
    return config


def compile_artifact(data: bytes, settings: Mapping[str, bool | str], limits: CompileLimits) -> bytes:
    """``data`` compiled for an engine of ``settings``, serialized, within ``limits``.

    Blocks for up to ``limits.timeout_ms``: call it off the event loop.
    **Errors:** ``CompileError`` for a module wasmtime refuses (not wasm, a
    feature left off, ...) and for one that needs more time or memory than
    ``limits`` allow, naming the setting that raises it.
    """
    memory = limits.memory_mb * 1024 * 1024

    def bound() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "RAYON_NUM_THREADS": str(COMPILE_THREADS)}
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-m", __name__, json.dumps(dict(settings))],
            input=data, capture_output=True, env=env, preexec_fn=bound,
            timeout=limits.timeout_ms / 1000,
        )
    except subprocess.TimeoutExpired:
        raise CompileError(
            f"compiling it took longer than {limits.timeout_ms} ms (executor.compile_timeout_ms)"
        ) from None
    if child.returncode == 0:
        return child.stdout
    why = child.stderr[-_MAX_STDERR:].decode(errors="replace").strip()
    if child.returncode == _INVALID:
        raise CompileError(why)
    if child.returncode == -signal.SIGABRT or "memory allocation" in why or "MemoryError" in why:
        raise CompileError(
            f"compiling it needs more than {limits.memory_mb} MB (executor.compile_memory_mb)"
        )
    last = why.splitlines()[-1] if why else ""
    raise CompileError(f"the compiler exited with status {child.returncode}: {last}".rstrip(": "))


def main() -> None:
    """The child: wasm on stdin, the engine's settings as JSON in argv, the artifact on stdout."""
    config = engine_config(json.loads(sys.argv[1]))
    data = sys.stdin.buffer.read()
    try:
        module = wasmtime.Module(wasmtime.Engine(config), data)
    except (wasmtime.WasmtimeError, ValueError, TypeError) as exc:
        sys.stderr.write(str(exc))
        sys.exit(_INVALID)
    sys.stdout.buffer.write(module.serialize())


if __name__ == "__main__":
    main()
