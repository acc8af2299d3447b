"""Hand-written guest programs (WAT) for the executor's tests, and the e2e tests'.

Each constant is a compiled module (``bytes``). The jobicolet guests share one
bump allocator and follow SPEC §4; the wasi guests use only preview1 calls.
Importing this module compiles them once (a few milliseconds).
"""

from __future__ import annotations

import hashlib

import wasmtime

_ALLOCATOR = """
  (global $heap (mut i32) (i32.const 65536))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7))
                             (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have))
                                                     (i32.const 16))
                                          (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))
  ;; store the 16-byte result at r: code, then (ptr << 32) | len
  (func $ret (param $r i32) (param $code i64) (param $ptr i32) (param $len i32)
    (i64.store (local.get $r) (local.get $code))
    (i64.store offset=8 (local.get $r)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
              (i64.extend_i32_u (local.get $len)))))
  ;; a fresh copy of n bytes at p
  (func $copy (param $p i32) (param $n i32) (result i32)
    (local $q i32)
    (local.set $q (call $malloc (local.get $n)))
    (memory.copy (local.get $q) (local.get $p) (local.get $n))
    (local.get $q))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24))))
"""

_FREE1 = '(func (export "free") (param i32))'
_ECHO = "(call $ret (local.get $r) (i64.const 0) (call $copy (local.get $p) (local.get $n)) (local.get $n))"
ECHO_BODY = _ECHO  # for tests that build variants of ECHO


def jobicolet(event: str, *, free: str = _FREE1, extra: str = "", data: str = "", imports: str = "") -> bytes:
    """A jobicolet module whose entry ``event(r, p, n)`` has the body ``event``."""
    return bytes(
        wasmtime.wat2wasm(f"""
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  {imports}
  (memory (export "memory") 2)
  {data}
  {_ALLOCATOR}
  {free}
  (func (export "init"))
  {extra}
  (func (export "event") (param $r i32) (param $p i32) (param $n i32)
    {event}))
""")
    )


def wasi(start: str, *, data: str = "") -> bytes:
    """A wasi command module whose ``_start`` has the body ``start``."""
    return bytes(
        wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 16)
  {data}
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24))))
  ;; read all of stdin to 65536..., return its length
  (func $read_stdin (result i32)
    (local $off i32)
    (loop $more
      (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $off)))
      (i32.store (i32.const 4) (i32.const 65536))
      (i32.store (i32.const 8) (i32.const 0))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $off (i32.add (local.get $off) (i32.load (i32.const 8))))
      (br_if $more (i32.load (i32.const 8))))
    (local.get $off))
  (func (export "_start")
    {start}))
""")
    )


def nested_blocks(depth: int) -> bytes:
    """A wasi module whose ``_start`` is ``depth`` nested empty blocks: valid, and for
    wasmtime's compiler far costlier than its size (700,000: 2.1 MB of wasm, 1.3 s and
    ~1 GB to compile on 2 cores)."""
    return bytes(wasmtime.wat2wasm(f'(module (func (export "_start") {"block " * depth}{"end " * depth}))'))


def sha256(module: bytes) -> str:
    return hashlib.sha256(module).hexdigest()


# --- jobicolet ---------------------------------------------------------------------------

ECHO = jobicolet(_ECHO)

FAIL = jobicolet(
    "(call $ret (local.get $r) (i64.const 7) (i32.const 256) (i32.const 9))",
    data='(data (i32.const 256) "bad input")',
)

SPIN = jobicolet("(loop $forever (br $forever))")

TRAP = jobicolet("unreachable")

GROW = jobicolet("""
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable""")

BIG_RESULT_BYTES = 4 * 1024 * 1024
BIG_RESULT = jobicolet(f"""
    (local $q i32)
    (local.set $q (call $malloc (i32.const {BIG_RESULT_BYTES})))
    (memory.fill (local.get $q) (i32.const 97) (i32.const {BIG_RESULT_BYTES}))
    (call $ret (local.get $r) (i64.const 0) (local.get $q) (i32.const {BIG_RESULT_BYTES}))""")

LOG_FLOOD_LINES = 2048  # of 1 KiB each: twice the default cap
LOG_FLOOD = jobicolet(f"""
    (local $i i32) (local $q i32)
    (local.set $q (call $malloc (i32.const 1024)))
    (memory.fill (local.get $q) (i32.const 120) (i32.const 1024))
    (loop $more
      (call $log (i32.const 1) (local.get $q) (i32.const 1024))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const {LOG_FLOOD_LINES}))))
    {_ECHO}""")

# Logs from each step, so a test sees the call order _start, ver, init, event.
LOGS = bytes(
    wasmtime.wat2wasm(f"""
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 256) "_start")
  (data (i32.const 272) "ver")
  (data (i32.const 288) "init")
  (data (i32.const 304) "event")
  (data (i32.const 320) "to stdout\\n")
  (data (i32.const 336) "to stderr\\n")
  {_ALLOCATOR}
  {_FREE1}
  (func (export "_start") (call $log (i32.const 0) (i32.const 256) (i32.const 6)))
  (func (export "ver") (result i32) (call $log (i32.const 0) (i32.const 272) (i32.const 3)) (i32.const 0))
  (func (export "init") (call $log (i32.const 0) (i32.const 288) (i32.const 4)))
  (func (export "event") (param $r i32) (param $p i32) (param $n i32)
    (call $log (i32.const 2) (i32.const 304) (i32.const 5))
    (call $log (i32.const 9) (i32.const 304) (i32.const 5))
    (call $write (i32.const 1) (i32.const 320) (i32.const 10))
    (call $write (i32.const 2) (i32.const 336) (i32.const 10))
    {_ECHO}))
""")
)

# Exports `event` and memory only: neither jobicolet (no malloc) nor wasi (no _start).
MISSING_EXPORTS = bytes(
    wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "event") (param i32 i32 i32)))')
)

# free(ptr, size) logs the bytes it frees, so a test sees what was freed, in order.
FREE2 = jobicolet(
    _ECHO,
    free='(func (export "free") (param $ptr i32) (param $size i32)'
    " (call $log (i32.const 0) (local.get $ptr) (local.get $size)))",
)

FREE_LOGS = jobicolet(
    _ECHO,
    free='(func (export "free") (param $ptr i32) (call $log (i32.const 0) (i32.const 256) (i32.const 4)))',
    data='(data (i32.const 256) "free")',
)

FREE_TRAPS = jobicolet(_ECHO, free='(func (export "free") (param i32) unreachable)')

# The original Rust SDK's malloc hands out one address every time: p == r here.
SAME_ADDRESS = bytes(
    wasmtime.wat2wasm(f"""
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  {_FREE1}
  (func (export "init"))
  (func (export "event") (param $r i32) (param $p i32) (param $n i32)
    (memory.copy (i32.const 4096) (local.get $p) (local.get $n))
    (i64.store (local.get $r) (i64.const 0))
    (i64.store offset=8 (local.get $r)
      (i64.or (i64.const {4096 << 32}) (i64.extend_i32_u (local.get $n))))))
""")
)

# --- wasi ---------------------------------------------------------------------------------

WASI_ECHO = wasi(
    """(local $n i32)
    (local.set $n (call $read_stdin))
    (call $write (i32.const 1) (i32.const 65536) (local.get $n))
    (call $write (i32.const 2) (i32.const 256) (i32.const 22))""",
    data='(data (i32.const 256) "log line one\\nline two\\n")',
)

WASI_EXIT = wasi(
    """(call $write (i32.const 2) (i32.const 256) (i32.const 8))
    (call $proc_exit (i32.const 3))""",
    data='(data (i32.const 256) "failing\\n")',
)

WASI_SPIN = wasi("(loop $forever (br $forever))")

# Exits 42 if it can open a host file through fd 3 (a preopen); else writes its
# environment (NUL-separated) to stdout and exits 0.
WASI_PROBE = wasi(
    """(if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 10)
                                (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
                                (i32.const 32)))
      (then (call $proc_exit (i32.const 42))))
    (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
    (drop (call $environ_get (i32.const 1024) (i32.const 65536)))
    (call $write (i32.const 1) (i32.const 65536) (i32.load (i32.const 44)))""",
    data='(data (i32.const 256) "etc/passwd")',
)

# Writes 4 MiB to stdout in 1 KiB writes: the result is cut at the cap.
WASI_FLOOD = wasi(
    """(local $i i32)
    (memory.fill (i32.const 65536) (i32.const 122) (i32.const 1024))
    (loop $more
      (call $write (i32.const 1) (i32.const 65536) (i32.const 1024))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 4096))))"""
)

# jobicolet guest whose result code is the number of environment variables it sees.
JOBICOLET_ENV_COUNT = bytes(
    wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  {_ALLOCATOR}
  {_FREE1}
  (func (export "init"))
  (func (export "event") (param $r i32) (param $p i32) (param $n i32)
    (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
    (call $ret (local.get $r) (i64.extend_i32_u (i32.load (i32.const 40))) (i32.const 0) (i32.const 0))))
""")
)

# Returns a result pointer far outside its memory.
BAD_POINTER = jobicolet("(call $ret (local.get $r) (i64.const 0) (i32.const -65536) (i32.const 10))")
