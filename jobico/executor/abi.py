"""Which guest ABI a module speaks, decided from its exports (SPEC §4 ``abi = "auto"``).

Pure over wasmtime's export types, so ctl can check a package without running
it and the sandbox can refuse a module before its first event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import wasmtime

from jobico.ctl.api import ABIS
from jobico.errors import UserError

Abi = Literal["jobicolet", "wasi"]


def exports_of(module: wasmtime.Module) -> dict[str, Any]:
    """Export name -> its wasmtime type (``FuncType``, ``MemoryType``, ...)."""
    return {export.name: export.type for export in module.exports}


def detect(exports: Mapping[str, Any], abi: str = "auto", entry: str = "event") -> Abi:
    """The ABI to use for ``abi`` (auto, jobicolet or wasi), its exports checked.

    Errors: ``UserError`` naming the missing or mistyped exports.
    """
    if abi not in ABIS:
        raise UserError(f"abi {abi!r} is not one of {', '.join(ABIS)}")
    chosen: Abi
    if abi == "auto":
        if entry in exports and "malloc" in exports:
            chosen = "jobicolet"
        elif "_start" in exports:
            chosen = "wasi"
        else:
            raise UserError(
                f"abi auto: the module exports neither {entry!r} and 'malloc' (jobicolet) "
                f"nor '_start' (wasi); it exports {_names(exports)}"
            )
    else:
        chosen = abi  # type: ignore[assignment]
    problems = _check_jobicolet(exports, entry) if chosen == "jobicolet" else _check_wasi(exports)
    if problems:
        raise UserError(f"abi {chosen}: " + "; ".join(problems))
    return chosen


def _names(exports: Mapping[str, Any]) -> str:
    return ", ".join(repr(name) for name in sorted(exports)) or "nothing"


def _func(exports: Mapping[str, Any], name: str, params: tuple[int, ...], results: int) -> str | None:
    kind = exports.get(name)
    if kind is None:
        return f"missing export {name!r}"
    if not isinstance(kind, wasmtime.FuncType):
        return f"export {name!r} is not a function"
    if len(kind.params) not in params or len(kind.results) != results:
        wanted = " or ".join(str(n) for n in params)
        return (
            f"export {name!r} takes {len(kind.params)} parameters and returns "
            f"{len(kind.results)} values; expected {wanted} parameters and {results} results"
        )
    return None


def _check_jobicolet(exports: Mapping[str, Any], entry: str) -> list[str]:
    problems = [
        _func(exports, "malloc", (1,), 1),
        _func(exports, "free", (1, 2), 0),
        _func(exports, "init", (0,), 0),
        _func(exports, entry, (3,), 0),
    ]
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        problems.append("missing export 'memory' (a linear memory)")
    if "ver" in exports:
        problems.append(_func(exports, "ver", (0,), 1))
    return [p for p in problems if p]


def _check_wasi(exports: Mapping[str, Any]) -> list[str]:
    problem = _func(exports, "_start", (0,), 0)
    return [problem] if problem else []
