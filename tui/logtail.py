"""Follow a component's log file by name, as `tail -F` does, keeping memory bounded.

Components log through a RotatingFileHandler (jobico/component.py): at 10 MiB the
file is renamed to ``.1`` and a new one is created under the same name. The
dashboard keeps only the last lines, so it never reads more than ``TAIL_BYTES``
at a time: a first open, or a burst larger than that, starts near the end.
Blocking file I/O: call ``read`` from a thread; ``close`` may come from another
(a cancelled reader) and waits for a read under way.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

KEEP_LINES = 2000
TAIL_BYTES = 1 << 20  # enough for KEEP_LINES of ~500 bytes


class LogTail:
    """New complete lines of ``path`` on each ``read``: what was appended, then (after a
    rotation) the rest of the old file and the new file from its start; a file cut
    short (truncated in place) is read again from its start."""

    def __init__(self, path: Path, tail_bytes: int = TAIL_BYTES) -> None:
        self.path = path
        self._tail_bytes = tail_bytes
        self._file: BinaryIO | None = None
        self._partial = b""
        self._lock = threading.Lock()

    def read(self) -> list[str]:
        with self._lock:
            return self._read()

    def _read(self) -> list[str]:
        lines: list[str] = []
        if self._file is None and not self._open():
            return lines
        assert self._file is not None
        self._drain(lines)
        current = _stat(self.path)
        mine = os.fstat(self._file.fileno())
        if current is not None and current.st_ino != mine.st_ino:
            self._drain(lines)  # rotated: what was written before the rename, then the new file
            lines += self._flush_partial()
            self._close()
            if self._open():
                self._drain(lines)
        elif current is not None and current.st_size < self._file.tell():
            self._file.seek(0)  # truncated in place
            self._partial = b""
            self._drain(lines)
        return lines

    def _open(self) -> bool:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open between reads
        except FileNotFoundError:
            return False
        return True

    def _drain(self, into: list[str]) -> None:
        """Read to the end; when more than ``TAIL_BYTES`` wait, skip to a line start near
        the end and say how much was skipped."""
        assert self._file is not None
        position = self._file.tell()
        size = os.fstat(self._file.fileno()).st_size
        if size - position > self._tail_bytes:
            self._file.seek(size - self._tail_bytes - 1)
            self._file.readline()  # up to the first line start (the byte before may be one)
            self._partial = b""
            into.append(f"… {self._file.tell() - position:,} bytes not shown …")
        data = self._partial + self._file.read()
        *complete, self._partial = data.split(b"\n")
        into.extend(line.decode("utf-8", errors="replace").rstrip("\r") for line in complete)

    def _flush_partial(self) -> list[str]:
        rest, self._partial = self._partial, b""
        return [rest.decode("utf-8", errors="replace")] if rest else []

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None
