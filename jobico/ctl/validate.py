"""Check what a package references: schemas compile, modules compile and fit an ABI.

Compiling is the expensive part of a reload (a 1.3 MB module takes ~660 ms), so
results, failures included, are remembered per content hash: re-validating a
tenant after an unrelated edit costs a dict lookup per file. Synchronous: ctl
runs a whole build in a worker thread.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import wasmtime

from jobico.ctl.packages import Job
from jobico.repo.files import sha256_bytes

CACHE_ENTRIES = 512


class CheckFailed(ValueError):
    """A referenced file is unusable; the message says why (the caller adds file and line)."""


@dataclass(frozen=True, slots=True)
class Export:
    kind: str  # "func" | "memory" | "global" | "table"
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()


def _export(item: Any) -> Export:
    kind = item.type
    if isinstance(kind, wasmtime.FuncType):
        return Export("func", tuple(map(str, kind.params)), tuple(map(str, kind.results)))
    if isinstance(kind, wasmtime.MemoryType):
        return Export("memory")
    return Export("global" if isinstance(kind, wasmtime.GlobalType) else "table")


def _schema_message(error: Exception) -> str:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    where = "/".join(map(str, getattr(error, "instance_path", ()) or ()))
    return f"schema does not compile: {first}" + (f" (at /{where})" if where else "")


class Checker:
    """Compiles and inspects files, once per content hash. Not thread-safe: one builder."""

    def __init__(self, engine: wasmtime.Engine | None = None) -> None:
        self.engine = engine or wasmtime.Engine()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def _cached(self, kind: str, data: bytes, compute: Any) -> Any:
        key = (kind, sha256_bytes(data))
        if key not in self._cache:
            try:
                self._cache[key] = compute(data)
            except CheckFailed as e:
                self._cache[key] = e
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        result = self._cache[key]
        if isinstance(result, CheckFailed):
            raise result
        return result

    def schema(self, data: bytes) -> Any:
        """The parsed schema (object or boolean). Errors: CheckFailed."""
        return self._cached("schema", data, _compile_schema)

    def exports(self, data: bytes) -> dict[str, Export]:
        """The module's exports by name. Errors: CheckFailed when it does not compile."""
        return self._cached("wasm", data, self._compile_module)

    def _compile_module(self, data: bytes) -> dict[str, Export]:
        try:
            wasmtime.Module.validate(self.engine, data)
            module = wasmtime.Module(self.engine, data)
        except (wasmtime.WasmtimeError, ValueError, TypeError) as e:
            reason = " ".join(str(e).split())
            raise CheckFailed(f"wasm does not compile: {reason}") from None
        return {item.name: _export(item) for item in module.exports}


def _compile_schema(data: bytes) -> Any:
    try:
        schema = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckFailed(f"schema is not valid JSON: {e}") from None
    if not isinstance(schema, dict | bool):
        raise CheckFailed("schema must be a JSON object or boolean")
    try:
        jsonschema_rs.validator_for(schema, offline=True)
    except (jsonschema_rs.ValidationError, ValueError) as e:
        raise CheckFailed(_schema_message(e)) from None
    return schema


_I32 = ("i32",)


def _missing_jobicolet(job: Job, exports: dict[str, Export]) -> list[str]:
    wanted = {
        "memory": lambda e: e.kind == "memory",
        "malloc": lambda e: e == Export("func", _I32, _I32),
        "free": lambda e: e.kind == "func" and e.params in (_I32, _I32 * 2),
        "init": lambda e: e.kind == "func" and not e.params,
        job.entry: lambda e: e.kind == "func" and e.params == _I32 * 3,
    }
    shapes = {
        "memory": "memory",
        "malloc": "func (i32) -> i32",
        "free": "func (i32) or (i32, i32)",
        "init": "func ()",
        job.entry: "func (i32, i32, i32)",
    }
    return [
        f"{name}: {shapes[name]}"
        for name, fits in wanted.items()
        if name not in exports or not fits(exports[name])
    ]


def _missing_wasi(exports: dict[str, Export]) -> list[str]:
    missing = [] if exports.get("memory", Export("")).kind == "memory" else ["memory: memory"]
    start = exports.get("_start")
    if start is None or start.kind != "func" or start.params:
        missing.append("_start: func ()")
    return missing


def resolve_abi(job: Job, exports: dict[str, Export]) -> str:
    """The ABI the job runs under (SPEC §4). Errors: CheckFailed naming missing exports."""
    abi = job.abi
    if abi == "auto":
        if job.entry in exports and "malloc" in exports:
            abi = "jobicolet"
        elif "_start" in exports:
            abi = "wasi"
        else:
            raise CheckFailed(
                f"abi auto: the module exports neither {job.entry!r} and 'malloc' (jobicolet)"
                " nor '_start' (wasi)"
            )
    missing = _missing_jobicolet(job, exports) if abi == "jobicolet" else _missing_wasi(exports)
    if missing:
        raise CheckFailed(f"module lacks the {abi} exports " + "; ".join(missing))
    return abi
