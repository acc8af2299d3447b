"""A guest that runs for a set time and shows, while it runs, which event it is running.

Kills only test the interesting case when they land in the middle of a run, and
a test can only claim that if it can see the run. ``busy(seconds)`` writes its
environment (``JOBICO_EVENT_ID``, ``JOBICO_ATTEMPT``, ...) to stdout first, then
spins on the monotonic clock (``clock_time_get``, not ``poll_oneoff``: a busy loop
is what SPEC's timeout is about, and it needs no sleeping host call), then writes
``END``. The executor captures stdout in a file on tmpfs (jobico/executor/wasi.py),
so ``running`` reads which runs the live executor processes have begun and not ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import wasmtime

from jobico.executor.wasi import PREFIX
from tests.e2e.platform import alive, scratch_folders

END = b"\nend"


def busy(seconds: float) -> bytes:
    """A wasi guest that announces its run on stdout, spins ``seconds``, then writes ``END``."""
    return bytes(wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "\\nend")  ;; END
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "_start") (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const {int(seconds * 1e9)})))
    (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
    (drop (call $environ_get (i32.const 1024) (i32.const 4096)))
    (call $write (i32.const 4096) (i32.load (i32.const 44)))
    (loop $wait (br_if $wait (i64.lt_u (call $now) (local.get $end))))
    (call $write (i32.const 256) (i32.const {len(END)}))))
"""))


@dataclass(frozen=True, slots=True)
class Run:
    tenant: str
    event_id: str
    attempt: int


def running(pid: int | None = None) -> dict[int, set[Run]]:
    """The ``busy`` runs that executor process ``pid`` (or every live one) has begun and not
    finished, as their captures show, by pid. A killed executor's captures stay until
    its successor starts: they count no more once it is dead."""
    found: dict[int, set[Run]] = {}
    for folder in scratch_folders(pid):
        digits = folder.name.removeprefix(PREFIX).partition("-")[0]
        owner = int(digits) if digits.isdigit() else 0
        if not owner or not alive(owner):
            continue
        runs = {run for capture in folder.glob("*/stdout") if (run := _begun(capture)) is not None}
        found.setdefault(owner, set()).update(runs)
    return {owner: runs for owner, runs in found.items() if runs}


def _begun(capture: Path) -> Run | None:
    try:
        data = capture.read_bytes()
    except OSError:  # the executor removes its captures as it stops
        return None
    if not data or data.endswith(END):
        return None
    env = dict(entry.decode().partition("=")[::2] for entry in data.split(b"\0")[:-1])  # complete ones
    if not {"JOBICO_TENANT", "JOBICO_EVENT_ID", "JOBICO_ATTEMPT"} <= env.keys():
        return None
    return Run(env["JOBICO_TENANT"], env["JOBICO_EVENT_ID"], int(env["JOBICO_ATTEMPT"]))
