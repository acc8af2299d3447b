"""Tiny WAT guests for ctl tests: just enough exports to exercise ABI detection."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import wasmtime

JOBICOLET_WAT = """(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) i32.const 8)
  (func (export "free") (param i32 i32))
  (func (export "init"))
  (func (export "{entry}") (param i32 i32 i32)))"""
WASI_WAT = """(module (memory (export "memory") 1) (data (i32.const 0) "{tag}") (func (export "_start")))"""
NEITHER_WAT = """(module (memory (export "memory") 1) (func (export "run")))"""


@cache
def jobicolet(entry: str = "event") -> bytes:
    return bytes(wasmtime.wat2wasm(JOBICOLET_WAT.replace("{entry}", entry)))


@cache
def wasi(tag: str = "") -> bytes:
    """A WASI module; each ``tag`` makes a different one (a new version of "the same" guest)."""
    return bytes(wasmtime.wat2wasm(WASI_WAT.replace("{tag}", tag)))


@cache
def neither() -> bytes:
    return bytes(wasmtime.wat2wasm(NEITHER_WAT))


SCHEMA = json.dumps({"type": "object", "required": ["name"]}).encode()


def package(*events: str, wasm: str = "g.wasm", schema: str | None = "s.json", extra: str = "") -> str:
    jobs = "".join(
        f'[[jobs]]\nevent = "{e}"\nwasm = "{wasm}"\n' + (f'schema = "{schema}"\n' if schema else "")
        for e in events
    )
    return extra + jobs


def write_tenant(folder: Path, files: dict[str, bytes | str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)

