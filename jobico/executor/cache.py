"""Compiled guest code kept on disk, so a restarted executor does not recompile.

Compiling a 1.3 MB module takes ~660 ms; loading its artifact takes ~1 ms.
Files live in ``<home>/.jobico/cache/<module sha256>-<engine key>.cwasm``: the
engine key hashes the wasmtime version, the platform and every engine setting,
so an upgrade or a settings change simply misses the cache (compiled code is
only valid for the exact engine that made it).

Each file is ``MAGIC + sha256(artifact) + artifact``, written to a temporary
name and renamed. wasmtime trusts a serialized artifact completely (loading a
damaged one is undefined behaviour, not an error), so the digest is checked
before ``Module.deserialize``; a file that fails the check is deleted and the
module recompiled. That check needs the bytes in memory, which is why this
uses ``Module.deserialize`` and not ``deserialize_file``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import tempfile
from collections.abc import Mapping
from pathlib import Path

import wasmtime

MAGIC = b"JOBICO-CWASM-1\n"
_DIGEST = 32

log = logging.getLogger("jobico.executor.cache")


def engine_key(settings: Mapping[str, object]) -> str:
    """A short hash naming the engine an artifact was compiled for."""
    identity = {
        "wasmtime": importlib.metadata.version("wasmtime"),
        "machine": platform.machine(),
        "system": platform.system(),
        "settings": dict(settings),
    }
    text = json.dumps(identity, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


class ArtifactCache:
    """Serialized modules in one folder, keyed by module hash and engine key."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key

    def path(self, sha256: str) -> Path:
        return self.folder / f"{sha256}-{self.key}.cwasm"

    def load(self, engine: wasmtime.Engine, sha256: str) -> wasmtime.Module | None:
        """The cached module, or None when absent or damaged (a damaged file is removed).

        Errors: none; an unreadable cache only costs a recompile.
        """
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        header = len(MAGIC) + _DIGEST
        body = data[header:]
        intact = data.startswith(MAGIC) and hashlib.sha256(body).digest() == data[len(MAGIC) : header]
        if intact:
            try:
                return wasmtime.Module.deserialize(engine, body)
            except wasmtime.WasmtimeError as exc:
                log.warning("cached artifact %s rejected by wasmtime: %s", path, exc)
        else:
            log.warning("cached artifact %s is damaged; recompiling", path)
        path.unlink(missing_ok=True)
        return None

    def store(self, sha256: str, module: wasmtime.Module) -> None:
        """Persist ``module`` atomically; a failure is logged, never raised.

        Errors: none; without a cache the executor still works, only slower to start.
        """
        body = bytes(module.serialize())
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(MAGIC + hashlib.sha256(body).digest() + body)
                os.replace(tmp, self.path(sha256))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning("cannot cache compiled module %s: %s", sha256, exc)
