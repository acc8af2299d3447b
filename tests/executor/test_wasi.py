"""Jobico's WASI answers as wasmtime's own implementation does, call by call.

Each case calls one preview1 function from a tiny module, once linked against
wasmtime's WASI (``Linker.define_wasi``, stdin "hello", env A=1, stdout and
stderr to files) and once against Jobico's (``engine.Runtime``), and compares
the errno (or that both trapped), the memory the call may write and what
reached stdout/stderr.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from jobico.executor import hostcalls, wasi
from jobico.executor.engine import Runtime
from jobico.executor.limits import LogSink

W = wasi.MODULE
STDIN = b"hello"
OUT = 1024  # where calls write their results
SIGNATURES = {name: (params, results) for name, (params, results, _) in wasi.FUNCTIONS.items()}
_WAT_TYPES = {"i": "i32", "I": "i64"}


@dataclass(frozen=True)
class Seen:
    errno: int | str  # the errno, or "trap"
    memory: bytes
    stdout: bytes
    stderr: bytes


def probe_module(name: str, args: str, setup: str = "", *, calls: int = 1) -> bytes:
    """A module whose ``probe`` runs ``setup``, then calls ``name(args)`` ``calls`` times: the last errno."""
    params, results = SIGNATURES[name]
    sig = " ".join(f"(param {_WAT_TYPES[p]})" for p in params) + (" (result i32)" if results else "")
    call = f"(call $f {args})" if results else f"(call $f {args}) (i32.const 0)"
    body = " ".join([f"(drop {call})"] * (calls - 1) + [call])
    return bytes(
        wasmtime.wat2wasm(f"""
(module (import "{W}" "{name}" (func $f {sig}))
  (import "{W}" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "\\00\\03\\00\\00\\05\\00\\00\\00")  ;; iovec at 512: 5 bytes at 768
  (data (i32.const 768) "world")
  (func (export "probe") (result i32) {setup} {body}))""")
    )


def native(module_bytes: bytes, tmp: Path) -> Seen:
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    (tmp / "in").write_bytes(STDIN)
    config = wasmtime.WasiConfig()
    config.env = [("A", "1")]
    config.stdin_file = str(tmp / "in")
    config.stdout_file = str(tmp / "out")
    config.stderr_file = str(tmp / "err")
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    return _call(store, linker, wasmtime.Module(engine, module_bytes), lambda: (
        (tmp / "out").read_bytes(), (tmp / "err").read_bytes()))


def jobico(module_bytes: bytes, runtime: Runtime) -> Seen:
    stdio = wasi.Stdio(stdin=STDIN, env={"A": "1"}, limit=1 << 20)
    now = time.monotonic_ns()
    hostcalls.bind(hostcalls.Host(now + 10**10, now, LogSink(), stdio))
    try:
        store = wasmtime.Store(runtime.engine)
        store.set_epoch_deadline(1 << 40)
        module = wasmtime.Module(runtime.engine, module_bytes)
        streams = (stdio.stdout.data, stdio.stderr.data)
        return _call(store, runtime.linker, module, lambda: tuple(map(bytes, streams)))
    finally:
        hostcalls.bind(None)


def _call(store: wasmtime.Store, linker: wasmtime.Linker, module: wasmtime.Module, streams) -> Seen:
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    try:
        errno: int | str = exports["probe"](store)
    except (wasmtime.Trap, wasmtime.WasmtimeError):
        errno = "trap"
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return Seen(errno, bytes(memory.read(store, OUT, OUT + 64)), *streams())


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    yield Runtime()


FD_CALLS = {
    "fd_fdstat_get": "(i32.const {fd}) (i32.const 1024)",
    "fd_filestat_get": "(i32.const {fd}) (i32.const 1024)",
    "fd_fdstat_set_flags": "(i32.const {fd}) (i32.const 4)",
    "fd_fdstat_set_rights": "(i32.const {fd}) (i64.const 0) (i64.const 0)",
    "fd_filestat_set_size": "(i32.const {fd}) (i64.const 0)",
    "fd_filestat_set_times": "(i32.const {fd}) (i64.const 0) (i64.const 0) (i32.const 0)",
    "fd_advise": "(i32.const {fd}) (i64.const 0) (i64.const 0) (i32.const 0)",
    "fd_allocate": "(i32.const {fd}) (i64.const 0) (i64.const 1)",
    "fd_datasync": "(i32.const {fd})",
    "fd_sync": "(i32.const {fd})",
    "fd_seek": "(i32.const {fd}) (i64.const 0) (i32.const 0) (i32.const 1024)",
    "fd_tell": "(i32.const {fd}) (i32.const 1024)",
    "fd_prestat_get": "(i32.const {fd}) (i32.const 1024)",
    "fd_prestat_dir_name": "(i32.const {fd}) (i32.const 1024) (i32.const 8)",
    "fd_readdir": "(i32.const {fd}) (i32.const 1024) (i32.const 64) (i64.const 0) (i32.const 1100)",
    "fd_read": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i32.const 1100)",
    "fd_pread": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i64.const 0) (i32.const 1100)",
    "fd_write": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i32.const 1100)",
    "fd_pwrite": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i64.const 0) (i32.const 1100)",
    "fd_close": "(i32.const {fd})",
    "fd_renumber": "(i32.const {fd}) (i32.const 2)",
    "sock_accept": "(i32.const {fd}) (i32.const 0) (i32.const 1024)",
    "sock_recv": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i32.const 0) (i32.const 1024)"
    " (i32.const 1028)",
    "sock_send": "(i32.const {fd}) (i32.const 512) (i32.const 1) (i32.const 0) (i32.const 1024)",
    "sock_shutdown": "(i32.const {fd}) (i32.const 1)",
    "path_open": "(i32.const {fd}) (i32.const 0) (i32.const 768) (i32.const 5) (i32.const 0) (i64.const 0)"
    " (i64.const 0) (i32.const 0) (i32.const 1024)",
    "path_create_directory": "(i32.const {fd}) (i32.const 768) (i32.const 5)",
    "path_unlink_file": "(i32.const {fd}) (i32.const 768) (i32.const 5)",
    "path_filestat_get": "(i32.const {fd}) (i32.const 0) (i32.const 768) (i32.const 5) (i32.const 1024)",
}
POLL = "(i32.const 2048) (i32.const 1024) (i32.const {n}) (i32.const 1020)"  # subscriptions at 2048
FD_SUBSCRIPTION = (
    "(i32.store8 (i32.const 2056) (i32.const {kind})) (i32.store (i32.const 2064) (i32.const {fd}))"
)
OTHER_CALLS = {
    "renumber to a closed fd": ("fd_renumber", "(i32.const 1) (i32.const 7)", ""),
    "read stdin twice": ("fd_read", "(i32.const 0) (i32.const 512) (i32.const 1) (i32.const 1100)", ""),
    "two iovecs": ("fd_write", "(i32.const 1) (i32.const 512) (i32.const 2) (i32.const 1100)",
                   "(i32.store (i32.const 520) (i32.const 768)) (i32.store (i32.const 524) (i32.const 0))"),
    "write after close": ("fd_write", "(i32.const 1) (i32.const 512) (i32.const 1) (i32.const 1100)",
                          "(drop (call $close (i32.const 1)))"),
    "write out of bounds": ("fd_write", "(i32.const 1) (i32.const 70000) (i32.const 1) (i32.const 1100)", ""),
    "iovec out of bounds": ("fd_write", "(i32.const 1) (i32.const 600) (i32.const 1) (i32.const 1100)",
                            "(i32.store (i32.const 600) (i32.const 65530))"
                            " (i32.store (i32.const 604) (i32.const 100))"),
    "args_sizes_get": ("args_sizes_get", "(i32.const 1024) (i32.const 1028)", ""),
    "args_get": ("args_get", "(i32.const 1024) (i32.const 1040)", ""),
    "environ_sizes_get": ("environ_sizes_get", "(i32.const 1024) (i32.const 1028)", ""),
    "environ_get": ("environ_get", "(i32.const 1024) (i32.const 1040)", ""),
    "environ_get out of bounds": ("environ_get", "(i32.const 65535) (i32.const 1040)", ""),
    "sched_yield": ("sched_yield", "", ""),
    "proc_raise": ("proc_raise", "(i32.const 9)", ""),
    "random_get out of bounds": ("random_get", "(i32.const 65535) (i32.const 4)", ""),
    **{f"clock_res_get {c}": ("clock_res_get", f"(i32.const {c}) (i32.const 1024)", "") for c in range(5)},
    **{f"clock_time_get {c}": ("clock_time_get", f"(i32.const {c}) (i64.const 0) (i32.const 1024)", "")
       for c in range(2, 5)},
    "poll stdio and a due clock": ("poll_oneoff", POLL.format(n=3),
        # fd_read on 0, fd_write on 2, a relative clock of 0 ns
        "(i64.store (i32.const 2048) (i64.const 11)) (i32.store8 (i32.const 2056) (i32.const 1))"
        " (i64.store (i32.const 2096) (i64.const 12)) (i32.store8 (i32.const 2104) (i32.const 2))"
        " (i32.store (i32.const 2112) (i32.const 2))"
        " (i64.store (i32.const 2144) (i64.const 13)) (i32.store (i32.const 2160) (i32.const 1))"),
    "poll nothing": ("poll_oneoff", POLL.format(n=0), ""),
    "poll fd_read on stdout": ("poll_oneoff", POLL.format(n=1), FD_SUBSCRIPTION.format(kind=1, fd=1)),
    "poll a cpu clock": ("poll_oneoff", POLL.format(n=1), "(i32.store (i32.const 2064) (i32.const 2))"),
    "poll a closed fd": ("poll_oneoff", POLL.format(n=1), FD_SUBSCRIPTION.format(kind=2, fd=5)),
}


@pytest.mark.parametrize("fd", [0, 1, 2, 3])
@pytest.mark.parametrize("name", list(FD_CALLS))
def test_descriptor_calls_answer_as_wasmtime(tmp_path: Path, runtime: Runtime, name: str, fd: int) -> None:
    module = probe_module(name, FD_CALLS[name].format(fd=fd))
    assert jobico(module, runtime) == native(module, tmp_path)


@pytest.mark.parametrize("case", list(OTHER_CALLS))
def test_other_calls_answer_as_wasmtime(tmp_path: Path, runtime: Runtime, case: str) -> None:
    name, args, setup = OTHER_CALLS[case]
    module = probe_module(name, args, setup, calls=2 if case == "read stdin twice" else 1)
    assert jobico(module, runtime) == native(module, tmp_path)


def test_the_clocks_read_as_wasmtimes(tmp_path: Path, runtime: Runtime) -> None:
    wall = probe_module("clock_time_get", "(i32.const 0) (i64.const 0) (i32.const 1024)")
    mono = probe_module("clock_time_get", "(i32.const 1) (i64.const 0) (i32.const 1024)")
    ours, theirs = jobico(wall, runtime), native(wall, tmp_path)
    assert ours.errno == theirs.errno == 0
    assert abs(int.from_bytes(ours.memory[:8], "little") - time.time_ns()) < 10**9
    ours, theirs = jobico(mono, runtime), native(mono, tmp_path)
    assert ours.errno == theirs.errno == 0
    assert 0 < int.from_bytes(ours.memory[:8], "little") < 10**9  # counts from the run's start


def test_every_function_has_wasmtimes_signature() -> None:
    engine, runtime = wasmtime.Engine(), Runtime()
    theirs, ours = wasmtime.Linker(engine), runtime.linker
    theirs.define_wasi()
    for name in wasi.FUNCTIONS:
        store_a, store_b = wasmtime.Store(engine), wasmtime.Store(runtime.engine)
        a, b = theirs.get(store_a, W, name), ours.get(store_b, W, name)
        assert isinstance(a, wasmtime.Func) and isinstance(b, wasmtime.Func)
        ta, tb = a.type(store_a), b.type(store_b)
        assert (list(map(str, ta.params)), list(map(str, ta.results))) == (
            list(map(str, tb.params)), list(map(str, tb.results))), name
    assert len(wasi.FUNCTIONS) == 46  # every function of wasi_snapshot_preview1
