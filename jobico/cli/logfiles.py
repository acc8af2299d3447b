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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

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
    """New lines of one log file as it grows, across rotation and truncation (``tail -F``).

    The first ``poll`` returns the whole current file. A rotated file is read to its end
    through the handle already open before the new file is opened, so no line is lost
    between the rename and the reopen.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._inode: int | None = None
        self._partial = ""

    def poll(self) -> list[str]:
        if self._file is None and not self._open():
            return []
        assert self._file is not None
        lines = self._read()
        try:
            now = os.stat(self.path)
        except FileNotFoundError:  # between the rename and the new file
            return lines
        if now.st_ino != self._inode:
            lines += self._read()  # written between the first read and the rename
            if self._partial:
                lines.append(self._partial)
                self._partial = ""
            self._file.close()
            self._file = None
            if self._open():
                lines += self._read()
        elif now.st_size < self._file.tell():  # truncated in place
            self._file.seek(0)
            lines += self._read()
        return lines

    def _open(self) -> bool:
        try:
            self._file = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except FileNotFoundError:
            return False
        self._inode = os.fstat(self._file.fileno()).st_ino
        return True

    def _read(self) -> list[str]:
        assert self._file is not None
        text = self._partial + self._file.read()
        *complete, self._partial = text.split("\n")
        return complete

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
