"""A guest that runs for a set time, so that a kill can land in the middle of its run.

``busy(seconds)`` spins on the monotonic clock (``clock_time_get``, not
``poll_oneoff``: a busy loop is what SPEC's timeout is about, and it needs no
sleeping host call) and exits 0. Which runs are going is the executor's to say
(``runs.py``).
"""

from __future__ import annotations

import wasmtime


def busy(seconds: float) -> bytes:
    """A wasi guest that spins ``seconds`` of the monotonic clock, then exits 0."""
    return bytes(wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func (export "_start") (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const {int(seconds * 1e9)})))
    (loop $wait (br_if $wait (i64.lt_u (call $now) (local.get $end))))))
"""))
