"""WASI plumbing for a run: its WASI config, stdio captured in files on tmpfs, a flood guard.

Why files: wasmtime-py's ``stdout_custom`` callback printed a Rust panic at
interpreter exit in 14 of 15 runs (DESIGN.md). Each worker thread owns one
``Scratch`` (two files it reuses run after run: WASI truncates them when it
opens them); stdin is handed over as bytes, with no file. Only guests that can
write (wasi guests, jobicolet guests importing ``fd_write``/``fd_pwrite``) get
the files; reading them back is one ``stat`` each when they stayed empty.

A guest could write gigabytes to stdout before its deadline and fill the tmpfs
(which is RAM). The ``FloodGuard``, checked by the sandbox's ticker thread,
cuts any capture that grows past twice its cap back to ``cap + 1`` bytes: the
guest keeps writing at its offset into a sparse file, the holes cost nothing,
and the first ``cap`` bytes plus the fact that there was more survive.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import wasmtime
from wasmtime import _bindings as capi
from wasmtime import _ffi as ffi
from wasmtime._wasi import to_char_array

from jobico.executor import fastcall
from jobico.executor.limits import cap

SHM = Path("/dev/shm")
PREFIX = "jobico-exec-"
_BYTES = ctypes.POINTER(ctypes.c_ubyte)
_SET_OUTPUT = (capi._wasi_config_set_stdout_file, capi._wasi_config_set_stderr_file)


def scratch_root() -> Path:
    """A private folder for this process's captures, on tmpfs when there is one.

    Its name carries the pid, so folders left by a killed process (tmpfs is RAM)
    are removed by the next one that starts.
    """
    base = Path(SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else tempfile.gettempdir())
    for stale in base.glob(f"{PREFIX}*-*"):
        pid = stale.name.removeprefix(PREFIX).partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            remove_root(stale)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_root(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


class FloodGuard:
    """Registered captures that the ticker keeps under ``2 * cap`` bytes on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}

    def watch(self, paths: Iterable[str], limit: int) -> None:
        with self._lock:
            for path in paths:
                self._active[path] = limit

    def release(self, paths: Iterable[str]) -> None:
        """Stop watching ``paths``; after this returns the guard never touches them again."""
        with self._lock:
            for path in paths:
                self._active.pop(path, None)

    def check(self) -> None:
        """Cut every capture past twice its cap (called by the ticker each tick)."""
        with self._lock:
            for path, limit in self._active.items():
                try:
                    if os.stat(path).st_size > 2 * limit + 1:
                        os.truncate(path, limit + 1)
                except OSError:
                    continue


def config(*, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> fastcall.WasiConfig:
    """WASI with no args, no preopens, only ``env``; stdin holds ``stdin`` (else it is empty).

    stdout and stderr discard what is written to them; ``Scratch.config`` captures them.
    """
    wasi = capi._wasi_config_new()
    if stdin:
        data = ffi.wasm_byte_vec_t()
        capi._wasm_byte_vec_new(ctypes.byref(data), len(stdin), ctypes.cast(stdin, _BYTES))
        capi._wasi_config_set_stdin_bytes(wasi, ctypes.byref(data))  # takes the copy over
    if env and not capi._wasi_config_set_env(
        wasi, len(env), to_char_array(list(env)), to_char_array(list(env.values()))
    ):
        capi._wasi_config_delete(wasi)
        raise wasmtime.WasmtimeError(f"cannot set the guest environment {sorted(env)}")
    return wasi


class Scratch:
    """One worker thread's stdout/stderr capture files, and the WASI setup using them."""

    def __init__(self, root: Path, guard: FloodGuard) -> None:
        folder = Path(tempfile.mkdtemp(prefix="t", dir=root))
        self._paths = (str(folder / "stdout"), str(folder / "stderr"))
        self._guard = guard

    def config(
        self, *, stdin: bytes | None, env: Mapping[str, str] | None, limit: int
    ) -> fastcall.WasiConfig:
        """``config(stdin=, env=)`` with stdout and stderr written to this scratch's files.

        Errors: ``OSError`` naming the file that cannot be opened.
        """
        wasi = config(stdin=stdin, env=env)
        for set_file, path in zip(_SET_OUTPUT, self._paths, strict=True):
            if not set_file(wasi, path.encode()):
                capi._wasi_config_delete(wasi)
                raise OSError(f"cannot open the capture file {path}")
        self._guard.watch(self._paths, limit)
        return wasi

    def collect(self, limit: int) -> tuple[tuple[bytes, bool], tuple[bytes, bool]]:
        """(stdout, cut), (stderr, cut) of the finished run, each read up to ``limit``."""
        self._guard.release(self._paths)
        return _read_capture(self._paths[0], limit), _read_capture(self._paths[1], limit)


def _read_capture(path: str, limit: int) -> tuple[bytes, bool]:
    """The file's first ``limit`` bytes and whether there were more.

    Most runs write nothing, so a stat comes first; a read asks for no more than the
    file holds (``read(limit + 1)`` would allocate a MiB buffer per run to shrink it).
    """
    try:
        size = os.stat(path).st_size
        if not size:
            return b"", False
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return b"", False
    try:
        want, chunks = min(size, limit + 1), []
        while want > 0 and (chunk := os.read(fd, want)):  # the guard may cut the file meanwhile
            chunks.append(chunk)
            want -= len(chunk)
    finally:
        os.close(fd)
    return cap(b"".join(chunks), limit)
