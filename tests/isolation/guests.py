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
