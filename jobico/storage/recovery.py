"""Recovery: reading a store's files back on open, telling a crash from a bad disk.

What ``storage.frames`` finds wrong in a file, a store handles the same way:

- a damaged record in the middle of a file (a bad disk, or an intact frame
  this version cannot read) is skipped and reported: logged as an error, kept
  in ``Recovery.damaged`` for the store's status. It is never a reason to drop
  the records after it, and the file is left as it is, for inspection;
- a *torn tail* (the last append cut short by a crash) is cut off the file the
  store appends to, so later appends are readable: a warning, not damage, as a
  crash is expected to leave one. In a file the store no longer appends to
  (a sealed segment), no crash can have torn it: there it is damage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from jobico.storage.frames import Damage, Frames

T = TypeVar("T")


class Recovery:
    """Reads the files of one store back; ``damaged`` lists what was skipped, by file."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self.damaged: list[tuple[Path, Damage]] = []

    def records(
        self, path: Path, found: Frames[T], cut: Callable[[int], None] | None
    ) -> Iterator[tuple[int, int, T]]:
        """The readable records of the file at ``path`` as ``(offset, length, record)``, lazily.

        Once the last one is taken, the file's damage is reported and a torn tail is cut
        by ``cut`` (given where the good data ends), or, where ``cut`` is None (a sealed
        file), reported as damage too: iterate to the end.
        """
        yield from found
        for damage in found.damaged:
            self.damage(path, damage)
        if found.tail is None:
            return
        torn = found.size - found.end
        if cut is None:
            self.damage(path, Damage(found.end, torn, f"{found.tail}, and no record after it"))
            return
        self._log.warning("%s: cut a torn tail of %d bytes at offset %d (%s)",
                          path, torn, found.end, found.tail)
        cut(found.end)

    def damage(self, path: Path, damage: Damage) -> None:
        """Report a record lost to damage loudly: the records around it are kept."""
        self._log.error("%s: skipped %d damaged bytes at offset %d: %s (the records after them are kept)",
                        path, damage.length, damage.offset, damage.reason)
        self.damaged.append((path, damage))
