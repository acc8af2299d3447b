"""WASI preview1, served by Jobico: stdio in memory, no files, no call that outlives the run.

Why not wasmtime's own implementation: its host code is out of the epoch
deadline's reach, and several of its calls take as long as a guest asks
(measured on wasmtime 50, 2 cores): ``poll_oneoff`` on a 2 s clock slept 2 s
of a 200 ms run (2^63 ns would hold the thread for good); ``random_get`` of
64 MiB took 213 ms; ``fd_write`` of 127 MiB took 71 ms; ``fd_read`` and
``fd_write`` scan up to 16M iovecs (28-61 ms); ``path_open`` copies a 128 MiB
path before it looks at the descriptor (69 ms); a straight run of cheap calls
is never interrupted at all (see ``hostcalls.py``). And its functions cannot be
wrapped: called from the host rather than from wasm, they find no guest memory.

A Jobico guest's world is small: descriptors 0, 1 and 2 (stdin, stdout,
stderr), no preopened directory (so no path ever resolves and no other
descriptor can be opened), no sockets, no arguments, only the ``JOBICO_*``
environment. So every function is implemented here, in Python, and each one
first checks the run's deadline (``hostcalls.define``). Answers match
wasmtime's on the same calls (``tests/executor/test_wasi.py`` compares both).

Review of every import, with what bounds it:

- ``poll_oneoff``: stdio subscriptions are always ready (stdin is in memory,
  stdout/stderr never block); otherwise it sleeps until the earliest clock,
  and when that lies past the run's deadline it sleeps only until the deadline
  and the run ends as a ``timeout``. At most ``MAX_SUBSCRIPTIONS`` (else EINVAL).
- ``fd_read`` (stdin), ``fd_write`` (stdout/stderr): copy between guest memory
  and the run's buffers; at most ``IOV_MAX`` iovecs (else EINVAL, as POSIX
  ``readv``/``writev``); stdout/stderr keep their first ``limit`` bytes and
  count the rest (the guest is told all was written). Cost: the bytes kept.
- ``random_get``: ``os.urandom`` in 1 MiB pieces (~3 ms each), the deadline
  checked before each.
- ``sched_yield``: returns at once (a hint; a tight loop of it is wasm, and
  the epoch interrupt stops it).
- ``clock_time_get``/``clock_res_get``: realtime and monotonic clocks (the
  latter counts from the run's start, as wasmtime's does); CPU-time clocks
  EBADF, as in wasmtime.
- ``args_*``: none. ``environ_*``: the run's ``JOBICO_*`` variables.
- ``proc_exit``: ends the run with its code. ``proc_raise``: ENOTSUP.
- ``fd_close``/``fd_renumber``: act on the three stdio descriptors.
- ``fd_fdstat_get``, ``fd_filestat_get``: fixed answers for stdio;
  ``fd_seek``/``fd_tell``/``fd_pread``/``fd_pwrite``: ESPIPE on stdio;
  ``fd_prestat_dir_name``: ENOTDIR; ``sock_*``: ENOTSOCK on stdio.
- Everything that needs a file or a directory (``path_*``, ``fd_readdir``,
  ``fd_prestat_get``, ``fd_advise``, ``fd_allocate``, ``fd_sync``,
  ``fd_datasync``, ``fd_fdstat_set_*``, ``fd_filestat_set_*``) and any other
  descriptor: EBADF, without reading the call's buffers.

A pointer outside the guest's memory is a trap naming it, never a host error.
Unlike wasmtime, misaligned pointers are accepted.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Mapping

import wasmtime

from jobico.executor.hostcalls import (
    Caller,
    DeadlineReached,
    Exited,
    GuestFault,
    Host,
    Memory,
    define,
    guest_memory,
)

MODULE = "wasi_snapshot_preview1"
IOV_MAX = 1024
MAX_SUBSCRIPTIONS = 1024
RANDOM_CHUNK = 1024 * 1024

# errno values of wasi_snapshot_preview1
SUCCESS, BADF, INVAL, NOTDIR, NOTSOCK, NOTSUP, SPIPE = 0, 8, 28, 54, 57, 58, 70

STDIN, STDOUT, STDERR = 0, 1, 2
_CLOCK, _FD_READ, _FD_WRITE = 0, 1, 2  # subscription / event types
_REALTIME, _MONOTONIC, _PROCESS_CPU, _THREAD_CPU = 0, 1, 2, 3
_ABSTIME = 1
_FD_READ_RIGHT, _FD_WRITE_RIGHT = 0x2, 0x40
_U32MAX = 0xFFFFFFFF

_U32 = struct.Struct("<I")
_U32X2 = struct.Struct("<II")
_U64 = struct.Struct("<Q")
_FDSTAT = struct.Struct("<BxHxxxxQQ")
_FILESTAT_SIZE = 64
_SUBSCRIPTION = struct.Struct("<QB7xI4xQQH6x")
_EVENT = struct.Struct("<QHB5xQH6x")


class Capture:
    """The first ``limit`` bytes written to stdout or stderr, and whether more came."""

    __slots__ = ("cut", "data", "limit")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.cut = False

    def add(self, memory: Memory, ptr: int, length: int) -> None:
        room = self.limit - len(self.data)
        if length > room:
            self.cut, length = True, room
        if length > 0:
            self.data += memory.read(ptr, length)

    def collect(self) -> tuple[bytes, bool]:
        return bytes(self.data), self.cut


class Stdio:
    """One run's three streams and environment, and which descriptor holds which stream."""

    __slots__ = ("env", "fds", "position", "stderr", "stdin", "stdout")

    def __init__(self, *, stdin: bytes = b"", env: Mapping[str, str] | None = None, limit: int) -> None:
        self.stdin = stdin
        self.position = 0
        self.env = tuple(f"{key}={value}\0".encode() for key, value in (env or {}).items())
        self.stdout = Capture(limit)
        self.stderr = Capture(limit)
        self.fds = {0: STDIN, 1: STDOUT, 2: STDERR}


def _stdio(host: Host) -> Stdio:
    if host.stdio is None:
        raise GuestFault("WASI was not set up for this run")
    return host.stdio


def _iovecs(memory: Memory, ptr: int, count: int) -> list[tuple[int, int]] | None:
    """The (ptr, len) pairs of an iovec array, each checked; None when there are too many."""
    if count > IOV_MAX:
        return None
    vectors = list(_U32X2.iter_unpack(memory.read(ptr, count * _U32X2.size)))
    for base, length in vectors:
        memory.check(base, length)
    return vectors


def fd_write(host: Host, caller: Caller, fd: int, iovs: int, count: int, nwritten: int) -> int:
    stdio = _stdio(host)
    stream = stdio.fds.get(fd)
    if stream not in (STDOUT, STDERR):
        return BADF
    memory = guest_memory(host, caller)
    vectors = _iovecs(memory, iovs, count)
    if vectors is None:
        return INVAL
    total = sum(length for _, length in vectors)
    if total > _U32MAX:
        return INVAL
    capture = stdio.stdout if stream == STDOUT else stdio.stderr
    for base, length in vectors:
        capture.add(memory, base, length)
    memory.pack(nwritten, _U32, total)
    return SUCCESS


def fd_read(host: Host, caller: Caller, fd: int, iovs: int, count: int, nread: int) -> int:
    stdio = _stdio(host)
    if stdio.fds.get(fd) != STDIN:
        return BADF
    memory = guest_memory(host, caller)
    vectors = _iovecs(memory, iovs, count)
    if vectors is None:
        return INVAL
    start = stdio.position
    for base, length in vectors:
        chunk = stdio.stdin[stdio.position : stdio.position + length]
        memory.write(base, chunk)
        stdio.position += len(chunk)
        if len(chunk) < length:
            break
    memory.pack(nread, _U32, stdio.position - start)
    return SUCCESS


def _stream_error(host: Host, fd: int, when: int, answer: int) -> int:
    """``answer`` when ``fd`` holds the stream ``when`` (-1: any stream), else EBADF."""
    stream = _stdio(host).fds.get(fd)
    return answer if stream is not None and when in (-1, stream) else BADF


def fd_pread(host: Host, _caller: Caller, fd: int, *_args: int) -> int:
    return _stream_error(host, fd, STDIN, SPIPE)


def fd_pwrite(host: Host, _caller: Caller, fd: int, *_args: int) -> int:
    stream = _stdio(host).fds.get(fd)
    return SPIPE if stream in (STDOUT, STDERR) else BADF


def fd_seek(host: Host, _caller: Caller, fd: int, *_args: int) -> int:
    return _stream_error(host, fd, -1, SPIPE)


def fd_prestat_dir_name(host: Host, _caller: Caller, fd: int, *_args: int) -> int:
    return _stream_error(host, fd, -1, NOTDIR)


def sock_call(host: Host, _caller: Caller, fd: int, *_args: int) -> int:
    return _stream_error(host, fd, -1, NOTSOCK)


def fd_fdstat_get(host: Host, caller: Caller, fd: int, buf: int) -> int:
    stream = _stdio(host).fds.get(fd)
    if stream is None:
        return BADF
    rights = _FD_READ_RIGHT if stream == STDIN else _FD_WRITE_RIGHT
    guest_memory(host, caller).pack(buf, _FDSTAT, 0, 0, rights, rights)
    return SUCCESS


def fd_filestat_get(host: Host, caller: Caller, fd: int, buf: int) -> int:
    if fd not in _stdio(host).fds:
        return BADF
    guest_memory(host, caller).write(buf, bytes(_FILESTAT_SIZE))
    return SUCCESS


def fd_close(host: Host, _caller: Caller, fd: int) -> int:
    return SUCCESS if _stdio(host).fds.pop(fd, None) is not None else BADF


def fd_renumber(host: Host, _caller: Caller, fd: int, to: int) -> int:
    fds = _stdio(host).fds
    if fd not in fds or to not in fds:
        return BADF
    fds[to] = fds.pop(fd)
    return SUCCESS


def no_descriptor(_host: Host, _caller: Caller, *_args: int) -> int:
    """A call that needs a file or a directory, which a guest never has."""
    return BADF


def args_sizes_get(host: Host, caller: Caller, argc: int, size: int) -> int:
    memory = guest_memory(host, caller)
    memory.pack(argc, _U32, 0)
    memory.pack(size, _U32, 0)
    return SUCCESS


def args_get(_host: Host, _caller: Caller, _argv: int, _buf: int) -> int:
    return SUCCESS


def environ_sizes_get(host: Host, caller: Caller, count: int, size: int) -> int:
    env = _stdio(host).env
    memory = guest_memory(host, caller)
    memory.pack(count, _U32, len(env))
    memory.pack(size, _U32, sum(map(len, env)))
    return SUCCESS


def environ_get(host: Host, caller: Caller, environ: int, buf: int) -> int:
    env = _stdio(host).env
    memory = guest_memory(host, caller)
    pointers, at = [], buf
    for entry in env:
        pointers.append(at)
        at += len(entry)
    memory.write(environ, struct.pack(f"<{len(pointers)}I", *pointers))
    memory.write(buf, b"".join(env))
    return SUCCESS


def _clock(clock: int) -> int | None:
    """None for the clocks a guest can read; else the errno (CPU-time clocks are not offered)."""
    if clock in (_REALTIME, _MONOTONIC):
        return None
    if clock in (_PROCESS_CPU, _THREAD_CPU):
        return BADF
    raise GuestFault(f"invalid enum value Clockid: {clock}")


def clock_res_get(host: Host, caller: Caller, clock: int, out: int) -> int:
    errno = _clock(clock)
    if errno is None:
        guest_memory(host, caller).pack(out, _U64, 1)
    return errno or SUCCESS


def clock_time_get(host: Host, caller: Caller, clock: int, _precision: int, out: int) -> int:
    errno = _clock(clock)
    if errno is None:
        now = time.time_ns() if clock == _REALTIME else time.monotonic_ns() - host.started_ns
        guest_memory(host, caller).pack(out, _U64, now)
    return errno or SUCCESS


def random_get(host: Host, caller: Caller, buf: int, length: int) -> int:
    memory = guest_memory(host, caller)
    memory.check(buf, length)
    for offset in range(0, length, RANDOM_CHUNK):
        host.check_deadline()
        memory.write(buf + offset, os.urandom(min(RANDOM_CHUNK, length - offset)))
    return SUCCESS


def sched_yield(_host: Host, _caller: Caller) -> int:
    return SUCCESS


def proc_exit(_host: Host, _caller: Caller, code: int) -> None:
    if code >= 126:
        raise GuestFault("exit with invalid exit status outside of [0..126)")
    raise Exited(code)


def proc_raise(_host: Host, _caller: Caller, _signal: int) -> int:
    return NOTSUP


def poll_oneoff(host: Host, caller: Caller, subs: int, events: int, count: int, nevents: int) -> int:
    """Stdio is ready at once; clocks sleep, but never past the run's deadline."""
    if count == 0 or count > MAX_SUBSCRIPTIONS:
        return INVAL
    stdio = _stdio(host)
    memory = guest_memory(host, caller)
    raw = memory.read(subs, count * _SUBSCRIPTION.size)
    memory.check(events, count * _EVENT.size)
    memory.check(nevents, _U32.size)
    now = time.monotonic_ns()
    due: list[tuple[int, int, int]] = []  # (userdata, type, monotonic ns at which it fires)
    for userdata, kind, which, timeout, _precision, flags in _SUBSCRIPTION.iter_unpack(raw):
        if kind == _CLOCK:
            absolute = flags & _ABSTIME
            if which == _REALTIME:
                at = now + (timeout - time.time_ns() if absolute else timeout)
            elif which == _MONOTONIC:
                at = host.started_ns + timeout if absolute else now + timeout
            else:
                return INVAL
        elif kind in (_FD_READ, _FD_WRITE):
            stream = stdio.fds.get(which)
            if stream is None or (stream == STDIN) != (kind == _FD_READ):
                return BADF
            at = now
        else:
            raise GuestFault(f"invalid enum value Eventtype: {kind}")
        due.append((userdata, kind, at))
    first = min(at for _, _, at in due)
    if first > now:
        if first > host.deadline_ns:
            time.sleep(max(host.deadline_ns - now, 0) / 1e9)
            raise DeadlineReached
        time.sleep((first - now) / 1e9)
        now = time.monotonic_ns()
    ready = [_EVENT.pack(data, SUCCESS, kind, int(kind != _CLOCK), 0) for data, kind, at in due if at <= now]
    memory.write(events, b"".join(ready))
    memory.pack(nevents, _U32, len(ready))
    return SUCCESS


# name -> (params, results, implementation); "i" is i32, "I" is i64, as in preview1.
FUNCTIONS = {
    "args_get": ("ii", "i", args_get),
    "args_sizes_get": ("ii", "i", args_sizes_get),
    "environ_get": ("ii", "i", environ_get),
    "environ_sizes_get": ("ii", "i", environ_sizes_get),
    "clock_res_get": ("ii", "i", clock_res_get),
    "clock_time_get": ("iIi", "i", clock_time_get),
    "fd_advise": ("iIIi", "i", no_descriptor),
    "fd_allocate": ("iII", "i", no_descriptor),
    "fd_close": ("i", "i", fd_close),
    "fd_datasync": ("i", "i", no_descriptor),
    "fd_fdstat_get": ("ii", "i", fd_fdstat_get),
    "fd_fdstat_set_flags": ("ii", "i", no_descriptor),
    "fd_fdstat_set_rights": ("iII", "i", no_descriptor),
    "fd_filestat_get": ("ii", "i", fd_filestat_get),
    "fd_filestat_set_size": ("iI", "i", no_descriptor),
    "fd_filestat_set_times": ("iIIi", "i", no_descriptor),
    "fd_pread": ("iiiIi", "i", fd_pread),
    "fd_prestat_get": ("ii", "i", no_descriptor),
    "fd_prestat_dir_name": ("iii", "i", fd_prestat_dir_name),
    "fd_pwrite": ("iiiIi", "i", fd_pwrite),
    "fd_read": ("iiii", "i", fd_read),
    "fd_readdir": ("iiiIi", "i", no_descriptor),
    "fd_renumber": ("ii", "i", fd_renumber),
    "fd_seek": ("iIii", "i", fd_seek),
    "fd_sync": ("i", "i", no_descriptor),
    "fd_tell": ("ii", "i", fd_seek),
    "fd_write": ("iiii", "i", fd_write),
    "path_create_directory": ("iii", "i", no_descriptor),
    "path_filestat_get": ("iiiii", "i", no_descriptor),
    "path_filestat_set_times": ("iiiiIIi", "i", no_descriptor),
    "path_link": ("iiiiiii", "i", no_descriptor),
    "path_open": ("iiiiiIIii", "i", no_descriptor),
    "path_readlink": ("iiiiii", "i", no_descriptor),
    "path_remove_directory": ("iii", "i", no_descriptor),
    "path_rename": ("iiiiii", "i", no_descriptor),
    "path_symlink": ("iiiii", "i", no_descriptor),
    "path_unlink_file": ("iii", "i", no_descriptor),
    "poll_oneoff": ("iiii", "i", poll_oneoff),
    "proc_exit": ("i", "", proc_exit),
    "proc_raise": ("i", "i", proc_raise),
    "random_get": ("ii", "i", random_get),
    "sched_yield": ("", "i", sched_yield),
    "sock_accept": ("iii", "i", sock_call),
    "sock_recv": ("iiiiii", "i", sock_call),
    "sock_send": ("iiiii", "i", sock_call),
    "sock_shutdown": ("ii", "i", sock_call),
}


def define_all(linker: wasmtime.Linker) -> None:
    """Offer every preview1 function to guests linked with ``linker``."""
    for name, (params, results, fn) in FUNCTIONS.items():
        define(linker, MODULE, name, params, results, fn)
