"""Segments: a log kept as numbered files in one folder, appended to the newest, deleted whole.

A log that only grows cannot give back space record by record, so it is cut
into segments: appends go to the newest one until ``Rollover`` says it is full
(by size, or by age for a store that expires records by time), and a segment is
deleted whole once the store needs none of its records (the queue: once they are
all finished; the recorder: once they are all past retention).

Names: ``00000001.seg``, or ``00000001-<created>.seg`` (epoch seconds) for a
store that ages its segments. A file of another name is not a segment; it is
listed as a stray for the store to warn about, never read or deleted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

_NUMBERED = re.compile(r"^(\d{8,})(?:-(\d+))?$")


@dataclass(frozen=True, slots=True)
class Numbered:
    """One numbered file of a folder: its number, its creation time if it was stamped, its path."""

    number: int
    created: int | None
    path: Path


def name(number: int, created: float | None = None, suffix: str = ".seg") -> str:
    stamp = "" if created is None else f"-{int(created)}"
    return f"{number:08d}{stamp}{suffix}"


def listed(folder: Path, *, stamped: bool = False, suffix: str = ".seg") -> tuple[list[Numbered], list[Path]]:
    """The numbered files of ``folder`` oldest first (with a creation stamp in their name, or
    without), and every other file in it. Errors: ``OSError`` when it cannot be read."""
    found: list[Numbered] = []
    strays: list[Path] = []
    if not folder.is_dir():
        return found, strays  # not made yet: no segment either
    for path in folder.iterdir():
        match = _NUMBERED.match(path.name[:-len(suffix)]) if path.name.endswith(suffix) else None
        if match is None or (match[2] is not None) != stamped:
            strays.append(path)
        else:
            found.append(Numbered(int(match[1]), None if match[2] is None else int(match[2]), path))
    found.sort(key=lambda n: n.number)
    return found, strays


@dataclass(frozen=True, slots=True)
class Rollover:
    """When the segment receiving appends is full: past ``max_bytes`` with the next append,
    or ``max_age_s`` old. A segment always takes its first append, however big."""

    max_bytes: int
    max_age_s: float = math.inf

    def due(self, size: int, adding: int, created: float = 0.0, now: float = 0.0) -> bool:
        return size > 0 and (size + adding > self.max_bytes or now - created >= self.max_age_s)
