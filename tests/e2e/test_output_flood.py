"""A guest floods stdout and stderr until its timeout, through a real ``jobico up``.

SPEC §4: result and log output are capped (1 MiB, 10,000 log lines), the excess cut
and flagged, and a run affects no other tenant. The executor captures a guest's
stdout and stderr in files on tmpfs, which is RAM; its ``FloodGuard`` cuts any
capture past twice its cap (jobico/executor/wasi.py). Here two wasi guests write
256-byte blocks to stdout and lines of ``e`` to stderr in a tight loop (~280 MiB/s
each on this machine), one for its whole ``timeout_ms``, one for 1.5 s before it
exits 0 (so its result, the first MiB of stdout, is kept); meanwhile the executor's
capture folder is measured as ``du`` does, every few milliseconds, and another
tenant's events are posted and must finish before the flood does.
"""

from __future__ import annotations

import threading

import msgpack
import pytest
import wasmtime

from jobico.caps import MAX_LOG_BYTES, MAX_LOG_LINES, MAX_RECORD_BYTES, MAX_RESULT_BYTES, MIB
from tests.e2e.conftest import Factory
from tests.e2e.platform import (
    Platform,
    disk_usage,
    finished_at,
    package,
    scratch_folders,
    started_at,
    wait_until,
)
from tests.executor.guests import ECHO

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 2000
FLOOD_S = 1.5  # how long the guest that ends by itself floods
BLOCK = 256  # bytes a write: ~280 MiB/s, ~3 MiB between two of the guard's 10 ms checks
OUT, ERR = 1024, 2048  # where the stdout block and the stderr lines sit in the guest's memory


def flood(seconds: float | None) -> bytes:
    """A wasi guest writing stdout blocks of ``o`` and stderr lines of ``e`` in a tight loop,
    for ``seconds`` of the monotonic clock and then exiting 0, or (None) until stopped."""
    more = "(br $more)" if seconds is None else "(br_if $more (i64.lt_u (call $now) (local.get $end)))"
    return bytes(wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func $write (param $fd i32) (param $ptr i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (i32.const {BLOCK}))
    (drop (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "_start") (local $p i32) (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const {int((seconds or 0) * 1e9)})))
    (memory.fill (i32.const {OUT}) (i32.const 111) (i32.const {BLOCK}))  ;; the letter o
    (local.set $p (i32.const {ERR}))
    (loop $fill
      (i32.store16 (local.get $p) (i32.const 0x0a65))  ;; "e" and a newline
      (local.set $p (i32.add (local.get $p) (i32.const 2)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.const {ERR + BLOCK}))))
    (loop $more
      (call $write (i32.const 1) (i32.const {OUT}))
      (call $write (i32.const 2) (i32.const {ERR}))
      {more})))
"""))


# Four captures (two guests) the guard keeps under 2 x 1 MiB each, plus what the guests
# write while the guard's ticker waits for a CPU (~100 ms, 2 x 28 MiB); unguarded, ~1 GiB.
DISK_BOUND = 64 * MIB
QUIET_EVENTS = 20


class DiskWatch:
    """The most the executor's capture folders held, sampled from a thread until ``stop``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flood-du", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            used = sum(disk_usage(folder) for folder in scratch_folders(self.pid))
            self.most = max(self.most, used)
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def install(p: Platform) -> None:
    p.write("flooder/flood.wasm", flood(None))
    p.write("flooder/flood-exit.wasm", flood(FLOOD_S))
    p.write("flooder/pkg.toml", package(
        {"event": "flood", "wasm": "flood.wasm", "timeout_ms": TIMEOUT_MS, "max_attempts": 1},
        {"event": "flood-exit", "wasm": "flood-exit.wasm", "timeout_ms": 30_000, "max_attempts": 1},
    ))
    p.write("quiet/echo.wasm", ECHO)
    p.write("quiet/pkg.toml", package({"event": "ping", "wasm": "echo.wasm"}))
    p.wait_for_event("flooder", "flood", timeout=30)
    p.wait_for_event("flooder", "flood-exit", timeout=30)
    p.wait_for_event("quiet", "ping", timeout=30)


def test_guests_flooding_stdout_and_stderr_are_cut_at_the_caps_and_bounded_on_tmpfs(
    platform_factory: Factory,
) -> None:
    p = platform_factory()
    install(p)
    pid = p.component("executor-1")["pid"]
    watch = DiskWatch(pid)
    try:
        ids = {}
        for event in ("flood", "flood-exit"):
            status, reply = p.post("flooder", event, {})
            assert status == 202, reply
            ids[event] = reply["ids"][0]
        wait_until(lambda: watch.most > 2 * MIB, 30, "the floods to fill their captures")
        status, reply = p.post("quiet", "ping", {"data": [{"n": n} for n in range(QUIET_EVENTS)]})
        assert status == 202, reply
        quiet = p.wait_records(QUIET_EVENTS, timeout=60, tenant="quiet", status="ok")
        records = {r["event"]: r for r in p.wait_records(2, timeout=60, tenant="flooder")}
    finally:
        watch.stop()
    timed_out, exited = records["flood"], records["flood-exit"]
    quiet_done = max(finished_at(r) for r in quiet)
    runs = "; ".join(f"{r['event']}: {r['status']} in {r['duration_ms']:.0f} ms, result "
                     f"{len(r['result'])} B, {len(r['logs'])} log lines" for r in records.values())
    print(f"\nflood: captures at most {watch.most / MIB:.1f} MiB on tmpfs over {watch.samples} samples; "
          f"{runs}; the quiet tenant was done {quiet_done - started_at(timed_out):.2f}s into the flood")
    assert watch.most <= DISK_BOUND, f"the captures held {watch.most / MIB:.0f} MiB of tmpfs at once"
    assert {r["event_id"] for r in records.values()} == set(ids.values())
    assert timed_out["status"] == "timeout", timed_out["reason"]
    assert exited["status"] == "ok", exited["reason"]
    assert timed_out["duration_ms"] <= TIMEOUT_MS + 100
    assert exited["result"] == "o" * MAX_RESULT_BYTES  # the first bytes survive the guard's cuts
    for record in records.values():
        assert record["truncated"] is True
        assert len(record["result"].encode()) <= MAX_RESULT_BYTES
        assert 0 < len(record["logs"]) <= MAX_LOG_LINES
        assert sum(len(line["message"].encode()) for line in record["logs"]) <= MAX_LOG_BYTES
        assert {line["message"] for line in record["logs"]} == {"e"}, record["logs"][:3]
        assert len(msgpack.packb(record)) <= MAX_RECORD_BYTES
    assert quiet_done < finished_at(timed_out), "the quiet tenant waited for the flood"
