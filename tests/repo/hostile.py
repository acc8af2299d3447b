"""Hostile files a tenant can drop into its folder, shared by the repo, ctl and e2e tests.

Each is something a plain ``read_bytes()`` or ``resolve()`` chokes on: a symlink
loop (RuntimeError), a FIFO (blocks the open forever), a sparse 20 GiB file
(read whole), a folder linking to itself (a walk that follows it never ends).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HUGE = 20 << 30  # sparse: costs no disk, but 20 GiB to whoever reads it whole

# path -> the reason repo lists and ctl reports (a substring of it).
REASONS = {
    "loop.wasm": "is a symlink loop",
    "fifo.wasm": "is a FIFO, not a regular file",
    "huge.wasm": f"is {HUGE} bytes (20.0 GiB), over the limit of",
}


def plant(folder: Path) -> dict[str, str]:
    """Drop every hostile file into ``folder``; returns ``REASONS`` (plus the loop's other half)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loop").symlink_to("loop.wasm")
    (folder / "loop.wasm").symlink_to("loop")
    os.mkfifo(folder / "fifo.wasm")
    with open(folder / "huge.wasm", "wb") as out:
        out.truncate(HUGE)
    (folder / "again").symlink_to(".")  # a folder loop: must never be walked into
    return {**REASONS, "loop": REASONS["loop.wasm"]}


def _release(folder: Path) -> None:
    """Open every FIFO under ``folder`` for writing once: a reader stuck on it gets EOF."""
    for fifo in folder.rglob("*"):
        if fifo.is_fifo():
            with contextlib.suppress(OSError):  # ENXIO: nobody reading, nothing to release
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@contextmanager
def fifos_released(folder: Path, after_s: float = 30.0) -> Iterator[None]:
    """Release readers stuck on a FIFO under ``folder`` (the bug under test) on exit, and
    every half second from ``after_s`` on: a thread stuck in ``open`` cannot be cancelled,
    so without this a test of that bug would hang instead of failing."""
    done = threading.Event()

    def watchdog() -> None:
        if not done.wait(after_s):
            while not done.wait(0.5):
                _release(folder)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        _release(folder)


def call_within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a daemon thread; AssertionError if it has not returned in ``seconds``."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"{getattr(fn, '__name__', fn)} still running after {seconds} s")
    if errors:
        raise errors[0]
    return result[0]
