"""Component logs as ``jobico logs`` reads them: rotated files in order, followed across rotation.

Each component writes ``.jobico/logs/<component>.log`` through a rotating handler that
renames it to ``.log.1`` (``.1`` to ``.2``, ...) at 10 MiB, so the oldest lines are in
the highest number. Lines of the component loggers start with their time
(``2026-01-02 10:00:00,123``); a line that does not (a traceback's) belongs to the entry
above it, which is how several components' logs merge in time order.
"""

from __future__ import annotations

import heapq
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+")


def components(logs: Path) -> list[str]:
    """Every component that has a log in ``logs``."""
    if not logs.is_dir():
        return []
    return sorted({p.name.split(".log")[0] for p in logs.glob("*.log*")})


def current(logs: Path, component: str) -> Path:
    return logs / f"{component}.log"


def rotated(logs: Path, component: str) -> list[Path]:
    """The component's rotated log files, oldest first: ``.log.N`` ... ``.log.1``."""
    found = [p for p in logs.glob(f"{component}.log.*") if p.suffix[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.suffix[1:]), reverse=True)


def lines_of(paths: Iterable[Path]) -> Iterator[str]:
    """Every line of ``paths`` in order, without line ends; a file gone meanwhile is skipped."""
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    yield line.rstrip("\n")
        except FileNotFoundError:  # rotated away between the listing and now
            continue


def merged(streams: dict[str, Iterable[str]]) -> Iterator[tuple[str, str]]:
    """``(component, line)`` from several components' lines, in time order (each stream is)."""

    def keyed(name: str, lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        stamp = ""
        for line in lines:
            found = _STAMP.match(line)
            stamp = found.group(0).replace(",", ".") if found else stamp
            yield stamp, name, line

    for _, name, line in heapq.merge(*(keyed(n, s) for n, s in streams.items()), key=lambda t: t[0]):
        yield name, line


class Follower:
    """New complete lines of one log file on each ``poll``, followed by name across rotation
    and truncation (``tail -F``); one implementation for ``jobico logs -f`` and the
    dashboard's log pane.

    After a rotation, the rest of the old file is read through the handle already open,
    then the new file from its start, so no line is lost between the rename and the
    reopen; a file cut short (truncated in place) is read again from its start. With a
    ``window`` (bytes), a first open or a burst larger than that starts at a line near
    the end, after a line saying how much was skipped: the dashboard keeps only the last
    lines and never reads a whole huge file. Without one (``jobico logs``), every line
    is returned. Blocking file I/O: ``poll`` may run in a thread and ``close`` come from
    another (a cancelled reader): it waits for a poll under way.
    """

    def __init__(self, path: Path, window: int | None = None) -> None:
        self.path = path
        self._window = window
        self._file: BinaryIO | None = None
        self._partial = b""
        self._lock = threading.Lock()

    def poll(self) -> list[str]:
        with self._lock:
            return self._poll()

    def _poll(self) -> list[str]:
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
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open between polls
        except FileNotFoundError:
            return False
        return True

    def _drain(self, into: list[str]) -> None:
        """Read to the end; past ``window`` bytes waiting, skip to a line start near the end
        and say how much was skipped."""
        assert self._file is not None
        position = self._file.tell()
        size = os.fstat(self._file.fileno()).st_size
        if self._window is not None and size - position > self._window:
            self._file.seek(size - self._window - 1)
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
