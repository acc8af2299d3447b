"""WASI plumbing for a run: stdio as files on tmpfs, and a guard against floods.

Why files: wasmtime-py's ``stdout_custom`` callback printed a Rust panic at
interpreter exit in 14 of 15 runs (DESIGN.md), while a file on ``/dev/shm``
costs about 120 µs per event. Each worker thread owns one ``Scratch`` (three
files it reuses run after run: WASI truncates them when it opens them).

A guest could write gigabytes to stdout before its deadline and fill the tmpfs
(which is RAM). The ``FloodGuard``, checked by the sandbox's ticker thread,
cuts any capture that grows past twice its cap back to ``cap + 1`` bytes: the
guest keeps writing at its offset into a sparse file, the holes cost nothing,
and the first ``cap`` bytes plus the fact that there was more survive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

import wasmtime

from jobico.executor.limits import cap

SHM = Path("/dev/shm")
PREFIX = "jobico-exec-"


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

    def watch(self, path: Path, limit: int) -> None:
        with self._lock:
            self._active[str(path)] = limit

    def release(self, path: Path) -> None:
        """Stop watching ``path``; after this returns the guard never touches it again."""
        with self._lock:
            self._active.pop(str(path), None)

    def check(self) -> None:
        """Cut every capture past twice its cap (called by the ticker each tick)."""
        with self._lock:
            for path, limit in self._active.items():
                try:
                    if os.stat(path).st_size > 2 * limit + 1:
                        os.truncate(path, limit + 1)
                except OSError:
                    continue


class Scratch:
    """One worker thread's stdin/stdout/stderr files, and the WASI setup using them."""

    def __init__(self, root: Path, guard: FloodGuard) -> None:
        folder = Path(tempfile.mkdtemp(prefix="t", dir=root))
        self.stdin = folder / "stdin"
        self.stdout = folder / "stdout"
        self.stderr = folder / "stderr"
        self._guard = guard

    def config(self, *, stdin: bytes | None, env: Mapping[str, str], limit: int) -> wasmtime.WasiConfig:
        """WASI with no args, no preopens, only ``env``; stdio in this scratch's files.

        ``stdin`` None gives the guest an empty stdin (jobicolet reads none).
        """
        wasi = wasmtime.WasiConfig()
        if stdin is not None:
            self.stdin.write_bytes(stdin)
            wasi.stdin_file = str(self.stdin)
        wasi.stdout_file = str(self.stdout)
        wasi.stderr_file = str(self.stderr)
        if env:
            wasi.env = list(env.items())
        for path in (self.stdout, self.stderr):
            self._guard.watch(path, limit)
        return wasi

    def collect(self, limit: int) -> tuple[tuple[bytes, bool], tuple[bytes, bool]]:
        """(stdout, cut), (stderr, cut) of the finished run, each read up to ``limit``."""
        out = []
        for path in (self.stdout, self.stderr):
            self._guard.release(path)
            try:
                with open(path, "rb") as file:
                    data = file.read(limit + 1)
            except FileNotFoundError:
                data = b""
            out.append(cap(data, limit))
        return out[0], out[1]
