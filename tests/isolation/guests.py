"""Hostile guests (WAT): each tries to reach something the sandbox must not give it.

A probe guest's result code is what the host answered: a WASI errno (0 means the
host let it through) or a count of what it found (0 means nothing leaked).
"""

from __future__ import annotations

import wasmtime

from tests.executor.guests import jobicolet

WASI = "wasi_snapshot_preview1"
IMPORTS = f"""
  (import "{WASI}" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "{WASI}" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "{WASI}" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "{WASI}" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "{WASI}" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
"""
PATHS = '(data (i32.const 512) "etc/passwd") (data (i32.const 528) "/etc/passwd") (data (i32.const 544) "..")'
ALL_RIGHTS = "(i64.const 0x1fffffff)"  # every preview1 right


def probe(expr: str) -> bytes:
    """A jobicolet guest whose result code is the i32 ``expr`` evaluates to."""
    return jobicolet(
        f"(call $ret (local.get $r) (i64.extend_i32_u {expr}) (i32.const 0) (i32.const 0))",
        imports=IMPORTS, data=PATHS,
        extra="""
  ;; errno of the first fd in 3..63 that has a preopen, else of fd 63: 0 = something was preopened
  (func $any_preopen (result i32) (local $fd i32) (local $e i32)
    (local.set $fd (i32.const 3))
    (loop $next
      (local.set $e (call $fd_prestat_get (local.get $fd) (i32.const 256)))
      (if (i32.eqz (local.get $e)) (then (return (i32.const 0))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 64))))
    (local.get $e))""",
    )


def _open(fd: int, path_at: int, length: int) -> str:
    return (f"(call $path_open (i32.const {fd}) (i32.const 0) (i32.const {path_at}) (i32.const {length})"
            f" (i32.const 0) {ALL_RIGHTS} {ALL_RIGHTS} (i32.const 0) (i32.const 300))")


PROBES: dict[str, bytes] = {
    "any preopened directory": probe("(call $any_preopen)"),
    "open etc/passwd under fd 3": probe(_open(3, 512, 10)),
    "open /etc/passwd under fd 3": probe(_open(3, 528, 11)),
    "open .. under fd 3": probe(_open(3, 544, 2)),
    "open a file under stdin": probe(_open(0, 512, 10)),
    "open a file under stdout": probe(_open(1, 512, 10)),
    "read fd 3": probe(
        "(i32.store (i32.const 256) (i32.const 1024)) (i32.store (i32.const 260) (i32.const 64))"
        " (call $fd_read (i32.const 3) (i32.const 256) (i32.const 1) (i32.const 264))"),
    "list fd 3": probe("(call $fd_readdir (i32.const 3) (i32.const 1024) (i32.const 256) (i64.const 0)"
                       " (i32.const 264))"),
    "unlink under fd 3": probe("(call $path_unlink_file (i32.const 3) (i32.const 512) (i32.const 10))"),
    "accept a socket": probe("(call $sock_accept (i32.const 3) (i32.const 0) (i32.const 264))"),
}

# Result code = argc the host passed (0 = none).
ARGS_COUNT = probe(
    "(drop (call $args_sizes_get (i32.const 256) (i32.const 260))) (i32.load (i32.const 256))")

MARK = "0x5ec12e7"

# Looks for what an earlier run would have left behind: a marker in memory, a
# bumped global, a grown memory. Code 0 = a fresh instance; then leaves all three.
REMEMBERS = jobicolet(
    f"""(local $seen i32)
    (if (i32.eq (i32.load (i32.const 4096)) (i32.const {MARK})) (then (local.set $seen (i32.const 1))))
    (if (i32.ne (global.get $runs) (i32.const 0))
      (then (local.set $seen (i32.or (local.get $seen) (i32.const 2)))))
    (if (i32.gt_u (memory.size) (i32.const 2))
      (then (local.set $seen (i32.or (local.get $seen) (i32.const 4)))))
    (i32.store (i32.const 4096) (i32.const {MARK}))
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (drop (memory.grow (i32.const 1)))
    (call $ret (local.get $r) (i64.extend_i32_u (local.get $seen)) (i32.const 0) (i32.const 0))""",
    extra="(global $runs (mut i32) (i32.const 0))",
)

SCAN_PAGES = 64  # 4 MiB

# Grows its memory and fills it with the marker, then spins a while (so its memory is
# live while others run), then succeeds.
FILLER = jobicolet(
    f"""(local $a i32) (local $i i32)
    (local.set $a (i32.mul (memory.grow (i32.const {SCAN_PAGES})) (i32.const 65536)))
    (loop $fill
      (i32.store (i32.add (local.get $a) (local.get $i)) (i32.const {MARK}))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const {SCAN_PAGES * 65536}))))
    (local.set $i (i32.const 0))
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 20000000))))
    (call $ret (local.get $r) (i64.const 0) (i32.const 0) (i32.const 0))""")

# Grows its memory as FILLER does and counts the markers anywhere in it: code = hits.
SCANNER = jobicolet(
    f"""(local $i i32) (local $hits i32) (local $end i32)
    (drop (memory.grow (i32.const {SCAN_PAGES})))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (loop $scan
      (if (i32.eq (i32.load (local.get $i)) (i32.const {MARK}))
        (then (local.set $hits (i32.add (local.get $hits) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $scan (i32.lt_u (local.get $i) (local.get $end))))
    (call $ret (local.get $r) (i64.extend_i32_u (local.get $hits)) (i32.const 0) (i32.const 0))""")


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


# Post-MVP features Jobico refuses: proposals, or standard but not what it supports.
REFUSED_FEATURES = {
    "threads (shared memory)": "(module (memory 1 1 shared))",
    "atomics": "(module (memory 1 1 shared) (func (result i32) (i32.atomic.load (i32.const 0))))",
    "memory64": "(module (memory i64 1))",
    "multi-memory": "(module (memory 1) (memory 1))",
    "exception handling": "(module (tag $e) (func (throw $e)))",
    "gc": "(module (type (struct (field i32))))",
    "typed function references": "(module (type $t (func)) (func (param (ref $t))))",
    "wide arithmetic": "(module (func (result i64 i64)"
                       " (i64.add128 (i64.const 1) (i64.const 1) (i64.const 1) (i64.const 1))))",
    "custom page sizes": "(module (memory 1 (pagesize 1)))",
    "stack switching": "(module (type $f (func)) (type $c (cont $f)))",
}

# Standard features every toolchain emits today (wasm 2.0), which must load.
ACCEPTED_FEATURES = {
    "simd": "(module (func (result v128) (v128.const i32x4 1 2 3 4)))",
    "bulk memory": "(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))))",
    "reference types": "(module (table 1 externref))",
    "multi-value": "(module (func (result i32 i32) (i32.const 1) (i32.const 2)))",
    "sign extension": "(module (func (result i32) (i32.extend8_s (i32.const 255))))",
    "saturating conversions": "(module (func (result i32) (i32.trunc_sat_f32_s (f32.const 1e30))))",
}


# --- guests that try to outlive their deadline through host calls -------------------

def command(start: str, *, imports: str = "", pages: int = 1, extra: str = "") -> bytes:
    """A wasi command module (``_start`` runs ``start``) importing ``imports`` and proc_exit."""
    return wat(f"""(module
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  {imports}
  (memory (export "memory") {pages})
  {extra}
  (func (export "_start") {start}))""")


POLL = f'(import "{WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))'
SUBSCRIPTIONS = 4096  # subscriptions start here, 48 bytes each; events go to 1024


def clock_subscriptions(count: int, timeout_ns: int) -> str:
    """WAT filling ``count`` relative monotonic clock subscriptions of ``timeout_ns`` at SUBSCRIPTIONS."""
    return f"""(local $i i32) (local $at i32)
    (loop $fill
      (local.set $at (i32.add (i32.const {SUBSCRIPTIONS}) (i32.mul (local.get $i) (i32.const 48))))
      (i64.store (local.get $at) (i64.extend_i32_u (local.get $i)))   ;; userdata
      (i32.store8 offset=8 (local.get $at) (i32.const 0))                ;; a clock
      (i32.store offset=16 (local.get $at) (i32.const 1))               ;; monotonic
      (i64.store offset=24 (local.get $at) (i64.const {timeout_ns}))   ;; relative timeout
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const {count}))))"""


def poller(count: int, timeout_ns: int, *, pages: int = 1) -> bytes:
    """Polls ``count`` clocks of ``timeout_ns`` again and again; exits 0 if a poll ever returns 0 events."""
    return command(
        f"""{clock_subscriptions(count, timeout_ns)}
    (loop $again
      (drop (call $poll (i32.const {SUBSCRIPTIONS}) (i32.const 1024) (i32.const {count}) (i32.const 1020)))
      (br $again))""",
        imports=POLL, pages=pages)


TWO_SECONDS = 2_000_000_000
POLL_ATTACKS: dict[str, tuple[bytes, int]] = {  # guest, memory_mb
    "a 2 s clock": (poller(1, TWO_SECONDS), 64),
    "a 2^63 ns clock": (poller(1, 2**63 - 1), 64),
    "1000 clocks of 2 s": (poller(1000, TWO_SECONDS), 64),
    "a million clocks": (poller(1_000_000, TWO_SECONDS, pages=800), 64),
}

# Subscriptions or events outside memory: a trap, not a host error.
POLL_BAD_POINTERS = {
    "subscriptions": command(
        "(drop (call $poll (i32.const -64) (i32.const 1024) (i32.const 1) (i32.const 1020)))", imports=POLL),
    "events": command(f"{clock_subscriptions(1, 0)}"
                      f" (drop (call $poll (i32.const {SUBSCRIPTIONS}) (i32.const 65530) (i32.const 1)"
                      " (i32.const 1020)))", imports=POLL),
    "count": command(
        "(drop (call $poll (i32.const 60000) (i32.const 1024) (i32.const 200) (i32.const 1020)))",
        imports=POLL),
}


def straight_line(call: str, times: int) -> str:
    """``call`` written out ``times`` times: no loop, so no epoch check between the calls."""
    return " ".join([call] * times)


_FD_WRITE = f'(import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))'
_RANDOM = f'(import "{WASI}" "random_get" (func $random (param i32 i32) (result i32)))'
_PATH_OPEN = (f'(import "{WASI}" "path_open"'
              ' (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))')
_LOG = '(import "env" "log" (func $log (param i32 i32 i32)))'
_CLOCK = f'(import "{WASI}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))'
_CLOSE = f'(import "{WASI}" "fd_close" (func $close (param i32) (result i32)))'
DEADLINE_MS = 200  # the timeout the deadline attacks are run with
BIG = 64 << 20

# Host calls that each take long with wasmtime's own WASI (measured: 213 ms for 64 MiB of
# random, 40 ms for a 64 MiB write, 28 ms for 8M empty iovecs, 69 ms for a 128 MiB path),
# made back to back so that no epoch check comes between them.
SLOW_CALL_ATTACKS: dict[str, bytes] = {
    "64 MiB of random, 8 times": command(
        straight_line(f"(drop (call $random (i32.const 65536) (i32.const {BIG})))", 8),
        imports=_RANDOM, pages=1100),
    # Each call is short (~1 us), but 150k of them made just before the deadline are not:
    # only a check at every call stops them.
    "150k cheap calls at the deadline": command(
        f"""(loop $wait  ;; until {DEADLINE_MS - 10} ms into the run, by the guest's monotonic clock
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
      (br_if $wait (i64.lt_u (i64.load (i32.const 0)) (i64.const {(DEADLINE_MS - 10) * 1_000_000}))))
    i32.const 9 {straight_line("call $close", 150_000)} drop""",
        imports=_CLOCK + _CLOSE),
    "64 MiB writes to stdout, 30 times": command(
        f"(i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (i32.const {BIG})) "
        + straight_line("(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))",
                        30),
        imports=_FD_WRITE, pages=1100),
    "8M empty iovecs, 30 times": command(
        straight_line(f"(drop (call $fd_write (i32.const 1) (i32.const 65536) (i32.const {8 << 20})"
                      " (i32.const 8)))", 30),
        imports=_FD_WRITE, pages=1100),
    "a 64 MiB path, 30 times": command(
        straight_line(f"(drop (call $open (i32.const 3) (i32.const 0) (i32.const 65536) (i32.const {BIG})"
                      " (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 8)))", 30),
        imports=_PATH_OPEN, pages=1100),
    # env.log cost ~3 us per call with wasmtime-py's trampoline: 60k calls outlived the deadline.
    "60k log calls": command(straight_line("(call $log (i32.const 0) (i32.const 0) (i32.const 0))", 60_000),
                             imports=_LOG),
}
SLOW_CALL_MEMORY_MB = 128

# --- memory and tables ------------------------------------------------------------------

# Grows its memory one page at a time until refused; result code = the pages it got.
MEMORY_PAGES = jobicolet(
    "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))"
    " (call $ret (local.get $r) (i64.extend_i32_u (memory.size)) (i32.const 0) (i32.const 0))")

TABLE = "(table $t 1 funcref)"

# The attack: table.grow by 40M entries. Code = what table.grow returned, plus 1
# (0: refused).
TABLE_GROW_40M = jobicolet(
    "(call $ret (local.get $r)"
    " (i64.extend_i32_u (i32.add (table.grow $t (ref.null func) (i32.const 40000000)) (i32.const 1)))"
    " (i32.const 0) (i32.const 0))", extra=TABLE)


def table_doubling(stop_at: int) -> bytes:
    """Doubles its table until refused or past ``stop_at`` elements; code = elements it got."""
    return jobicolet(
        f"""(loop $more
      (if (i32.lt_u (table.size $t) (i32.const {stop_at}))
        (then (br_if $more (i32.ne (table.grow $t (ref.null func) (table.size $t)) (i32.const -1))))))
    (call $ret (local.get $r) (i64.extend_i32_u (table.size $t)) (i32.const 0) (i32.const 0))""",
        extra=TABLE)


_OK = "(call $ret (local.get $r) (i64.const 0) (i32.const 0) (i32.const 0))"

# Declares a 40M-element table: instantiating it would take 320 MB.
DECLARED_TABLE_40M = jobicolet(_OK, extra="(table $t 40000000 funcref)")

# --- logs and records ---------------------------------------------------------------------

# env.log(0, 0, 0) in a loop: empty lines, each costing the record ~25 bytes.
EMPTY_LOG_LINES = 100_000
EMPTY_LOGS = jobicolet(f"""(local $i i32)
    (loop $more
      (call $log (i32.const 0) (i32.const 0) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const {EMPTY_LOG_LINES}))))
    {_OK}""")

# 100k one-byte lines on stderr, one write.
STDERR_LINES = command(
    """(local $i i32)
    (loop $fill
      (i32.store16 (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 1))) (i32.const 0x0a78))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 100000))))
    (i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (i32.const 200000))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))""",
    imports=_FD_WRITE, pages=8)

# A 1 MiB result and 1 MiB of log messages, all bytes 0xff (invalid UTF-8: each becomes
# a 3-byte U+FFFD in the record's text), logged in 100-byte messages.
INVALID_UTF8 = jobicolet(f"""(local $q i32) (local $i i32)
    (local.set $q (call $malloc (i32.const {1 << 20})))
    (memory.fill (local.get $q) (i32.const 255) (i32.const {1 << 20}))
    (loop $more
      (call $log (i32.const 1) (local.get $q) (i32.const 100))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 20000))))
    (call $ret (local.get $r) (i64.const 0) (local.get $q) (i32.const {1 << 20}))""")
