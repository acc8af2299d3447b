from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tui.wasminfo import blob_info, exports

WAT = """(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) i32.const 0)
  (func (export "event") (param i32 i32 i32))
  (global (export "ver") i32 (i32.const 1)))"""


def test_exports_in_module_order() -> None:
    assert exports(wasmtime.wat2wasm(WAT)) == ("memory", "malloc", "event", "ver")


def test_not_wasm_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="magic"):
        exports(b"hello world")


def test_blob_info_reads_size_and_exports_or_none(tmp_path: Path) -> None:
    data = wasmtime.wat2wasm(WAT)
    (tmp_path / "abc.wasm").write_bytes(data)
    assert blob_info(tmp_path, "abc") == (len(data), ("memory", "malloc", "event", "ver"))
    assert blob_info(tmp_path, "missing") is None
