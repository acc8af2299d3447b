"""Check what a package references: schemas compile, modules compile, link and fit an ABI.

Modules are checked exactly as the executor will run them, through
``jobico.executor.engine`` (its engine settings, its linker, its ABI rules): a
module using shared memory or memory64, importing anything Jobico does not
serve, or lacking its ABI's exports is a load error of its package, and the
last good version stays live.

Compiling is the expensive part of a reload (a 1.3 MB module takes ~660 ms), so
results, failures included, are remembered per content hash: re-validating a
tenant after an unrelated edit costs a dict lookup per file. Only the exports
are kept, not the compiled code (the artifact goes to the executors' cache).
Synchronous: ctl builds each tenant in a worker thread.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import jsonschema_rs

from jobico.ctl.packages import Job
from jobico.errors import UserError
from jobico.executor import abi as abis
from jobico.executor import engine
from jobico.repo.files import sha256_bytes
from jobico.schemas import compile_offline, json_pointer

CACHE_ENTRIES = 512


class CheckFailed(ValueError):
    """A referenced file is unusable; the message says why (the caller adds file and line)."""


def _schema_message(error: Exception) -> str:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    at = json_pointer(getattr(error, "instance_path", ()) or ())
    return f"schema does not compile: {first}" + (f" (at {at})" if at else "")


class Checker:
    """Compiles and inspects files, once per content hash. Thread-safe: ctl builds tenants
    on several threads, and a compile holds no lock (two threads checking the same new
    file both compile it; the results are the same)."""

    def __init__(self, runtime: engine.Runtime | None = None) -> None:
        self.runtime = runtime or engine.Runtime()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, kind: str, data: bytes, compute: Any) -> Any:
        key = (kind, sha256_bytes(data))
        with self._lock:
            result = self._cache.get(key)
            if result is not None:
                self._cache.move_to_end(key)
        if result is None:
            try:
                result = compute(data)
            except CheckFailed as e:
                result = e
            with self._lock:
                self._cache[key] = result
                if len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        if isinstance(result, CheckFailed):
            raise result
        return result

    def schema(self, data: bytes) -> Any:
        """The parsed schema (object or boolean). Errors: CheckFailed."""
        return self._cached("schema", data, _compile_schema)

    def exports(self, data: bytes) -> dict[str, Any]:
        """The module's exports by name (wasmtime types), once it compiled and linked as the executor's.

        Errors: CheckFailed "wasm does not compile: ..." or "wasm cannot be linked: ...".
        """
        return self._cached("wasm", data, self._compile_module)

    def _compile_module(self, data: bytes) -> dict[str, Any]:
        try:
            return self.runtime.prepare(data, "wasm").exports
        except UserError as e:
            raise CheckFailed(str(e)) from None


def _compile_schema(data: bytes) -> Any:
    try:
        schema = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckFailed(f"schema is not valid JSON: {e}") from None
    if not isinstance(schema, dict | bool):
        raise CheckFailed("schema must be a JSON object or boolean")
    try:
        compile_offline(schema)
    except (jsonschema_rs.ValidationError, ValueError) as e:
        raise CheckFailed(_schema_message(e)) from None
    return schema


def resolve_abi(job: Job, exports: dict[str, Any]) -> str:
    """The ABI the job runs under (SPEC §4), by the executor's rules. Errors: CheckFailed naming exports."""
    try:
        return abis.detect(exports, job.abi, job.entry)
    except UserError as e:
        raise CheckFailed(str(e)) from None
