"""Guests flood stdout and stderr until their end, through a real ``jobico up``.

SPEC §4: result and log output are capped (1 MiB of result; 10,000 log lines and
1 MiB of log text), the excess cut and flagged, a run ends within 100 ms of its
``timeout_ms``, and a run affects no other tenant. The executor serves WASI itself
and captures a guest's stdout and stderr in memory, keeping the first 1 MiB of each
and counting the rest (jobico/executor/wasi.py, ``Capture``). Here two wasi guests
write 4 KiB blocks to stdout and to stderr in a tight loop (~390 MiB/s of each on
this machine: unbounded captures would hold most of a GiB per guest): one until its
``timeout_ms``, one for 1.5 s before it exits 0 (so its result, the first MiB of
stdout, is kept). The first writes stderr lines of one letter (the 10,000-line cap
cuts them), the second lines of 4 KiB (the 1 MiB cap cuts them). Meanwhile the
executor's resident memory is sampled every few milliseconds, and another tenant's
events are posted and must finish before the flood does.
"""

from __future__ import annotations

import threading
import time

import msgpack
import pytest
import wasmtime

from jobico.caps import MAX_LOG_BYTES, MAX_LOG_LINES, MAX_RECORD_BYTES, MAX_RESULT_BYTES, MIB
from jobico.procs import status_kib
from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, finished_at, package, started_at, wait_until
from tests.executor.guests import ECHO

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 2000
FLOOD_S = 1.5  # how long the guest that ends by itself floods
BLOCK = 4096  # bytes a write
OUT, ERR = 1024, 8192  # where the stdout block and the stderr lines sit in the guest's memory
SHORT_LINE, LONG_LINE = 2, BLOCK  # bytes a stderr line, newline included
# Two captures of 1 MiB per guest, plus the records being built; unbounded, ~800 MiB a guest.
RSS_BOUND = 64 * MIB
QUIET_EVENTS = 20


def flood(seconds: float | None, line: int) -> bytes:
    """A wasi guest writing stdout blocks of ``o`` and stderr lines of ``e`` (``line`` bytes each,
    newline included) in a tight loop, for ``seconds`` of the monotonic clock and then exiting
    0, or (None) until stopped."""
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
    (memory.fill (i32.const {ERR}) (i32.const 101) (i32.const {BLOCK}))  ;; the letter e
    (local.set $p (i32.const {ERR + line - 1}))
    (loop $lines  ;; a newline ends every line
      (i32.store8 (local.get $p) (i32.const 10))
      (local.set $p (i32.add (local.get $p) (i32.const {line})))
      (br_if $lines (i32.lt_u (local.get $p) (i32.const {ERR + BLOCK}))))
    (loop $more
      (call $write (i32.const 1) (i32.const {OUT}))
      (call $write (i32.const 2) (i32.const {ERR}))
      {more})))
"""))


def rss(pid: int) -> int:
    """Process ``pid``'s resident memory, in bytes."""
    return status_kib(pid, "VmRSS") * 1024


class RssWatch:
    """The most resident memory process ``pid`` had, sampled from a thread until ``stop``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flood-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.most = max(self.most, rss(self.pid))
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def install(p: Platform) -> None:
    p.write("flooder/flood.wasm", flood(None, SHORT_LINE))
    p.write("flooder/flood-exit.wasm", flood(FLOOD_S, LONG_LINE))
    p.write("flooder/pkg.toml", package(
        {"event": "flood", "wasm": "flood.wasm", "timeout_ms": TIMEOUT_MS, "max_attempts": 1},
        {"event": "flood-exit", "wasm": "flood-exit.wasm", "timeout_ms": 30_000, "max_attempts": 1},
    ))
    p.write("quiet/echo.wasm", ECHO)
    p.write("quiet/pkg.toml", package({"event": "ping", "wasm": "echo.wasm"}))
    p.wait_for_event("flooder", "flood", timeout=30)
    p.wait_for_event("flooder", "flood-exit", timeout=30)
    p.wait_for_event("quiet", "ping", timeout=30)


def idle_rss(p: Platform, pid: int) -> int:
    """The executor's resident memory once warm (it has run an event), before the flood."""
    status, reply = p.post("quiet", "ping", {"n": -1})
    assert status == 202, reply
    p.wait_records(1, timeout=30, tenant="quiet", status="ok")
    samples = []
    for _ in range(20):
        samples.append(rss(pid))
        time.sleep(0.025)
    return max(samples)


def test_guests_flooding_stdout_and_stderr_are_cut_at_the_caps_in_bounded_memory(
    platform_factory: Factory,
) -> None:
    p = platform_factory()
    install(p)
    pid = p.component("executor-1")["pid"]
    idle = idle_rss(p, pid)
    watch = RssWatch(pid)
    try:
        ids = {}
        for event in ("flood", "flood-exit"):
            status, reply = p.post("flooder", event, {})
            assert status == 202, reply
            ids[event] = reply["ids"][0]
        wait_until(lambda: len(p.rpc("executor-1", "status")["running_events"]) == 2, 30,
                   "both floods to run")
        status, reply = p.post("quiet", "ping", {"data": [{"n": n} for n in range(QUIET_EVENTS)]})
        assert status == 202, reply
        quiet = p.wait_records(QUIET_EVENTS + 1, timeout=60, tenant="quiet", status="ok")
        records = {r["event"]: r for r in p.wait_records(2, timeout=60, tenant="flooder")}
    finally:
        watch.stop()
    timed_out, exited = records["flood"], records["flood-exit"]
    quiet_done = max(finished_at(r) for r in quiet)
    runs = "; ".join(f"{r['event']}: {r['status']} in {r['duration_ms']:.0f} ms, result "
                     f"{len(r['result'])} B, {len(r['logs'])} log lines of "
                     f"{sum(len(line['message']) for line in r['logs'])} B" for r in records.values())
    print(f"\nflood: executor RSS {idle / MIB:.0f} MiB idle, at most {watch.most / MIB:.0f} MiB over "
          f"{watch.samples} samples; {runs}; the quiet tenant was done "
          f"{quiet_done - started_at(timed_out):.2f}s into the flood")
    assert watch.most - idle <= RSS_BOUND, (
        f"the executor grew by {(watch.most - idle) / MIB:.0f} MiB during the flood")
    assert {r["event_id"] for r in records.values()} == set(ids.values())
    assert timed_out["status"] == "timeout", timed_out["reason"]
    assert exited["status"] == "ok", exited["reason"]
    assert timed_out["duration_ms"] <= TIMEOUT_MS + 100
    assert exited["result"] == "o" * MAX_RESULT_BYTES  # the first bytes are the ones kept
    assert len(timed_out["logs"]) == MAX_LOG_LINES  # lines of one letter: the line cap cuts them
    assert sum(len(line["message"]) for line in exited["logs"]) > MAX_LOG_BYTES - LONG_LINE  # bytes cap
    for record in records.values():
        assert record["truncated"] is True
        assert len(record["result"].encode()) <= MAX_RESULT_BYTES
        assert 0 < len(record["logs"]) <= MAX_LOG_LINES
        assert sum(len(line["message"].encode()) for line in record["logs"]) <= MAX_LOG_BYTES
        assert {line["message"].strip("e") for line in record["logs"]} == {""}, record["logs"][:3]
        assert len(msgpack.packb(record)) <= MAX_RECORD_BYTES
    assert quiet_done < finished_at(timed_out), "the quiet tenant waited for the flood"
