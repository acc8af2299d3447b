"""The compiled modules an executor keeps: the most recently used, by hash, ABI and entry.

A module is compiled once per (``module_sha256``, ``abi``, ``entry``) and kept
for its next events; past ``LOADED_MODULES`` the least recently used is dropped
(a tenant cycling versions would otherwise grow the map forever, issue 13), and
the sandbox's cache on disk makes compiling it again cheap.
"""

from __future__ import annotations

from pathlib import Path

import trio

from jobico.ctl.api import Job
from jobico.executor.lru import LRU
from jobico.executor.sandbox import LoadedModule, Sandbox

LOADED_MODULES = 64


class Modules:
    """Loads a job's module, compiling it on a thread of its own when it is not kept.

    Compiles have their own ``threads``: a run thread holds its token for as long as
    work waits, so a new module would otherwise compile only once the backlog is done.
    """

    def __init__(self, sandbox: Sandbox, blobs: Path, threads: int) -> None:
        self._sandbox = sandbox
        self._blobs = blobs
        self._compiles = trio.CapacityLimiter(threads)
        self._loaded: LRU[tuple[str, str, str], LoadedModule] = LRU(LOADED_MODULES)

    async def load(self, job: Job) -> LoadedModule:
        """The module ``job`` runs. **Errors:** ``UserError`` (the module is not valid for its
        ABI), ``OSError`` (its blob cannot be read)."""
        key = (job.module_sha256, job.abi, job.entry)
        loaded = self._loaded.get(key)
        if loaded is None:
            compiled = await trio.to_thread.run_sync(self._compile, key, limiter=self._compiles)
            loaded = self._loaded.put(key, compiled)
        return loaded

    def _compile(self, key: tuple[str, str, str]) -> LoadedModule:
        sha256, abi, entry = key
        return self._sandbox.load((self._blobs / f"{sha256}.wasm").read_bytes(), sha256, abi=abi, entry=entry)

    def __len__(self) -> int:
        return len(self._loaded)
