"""Module blobs, ``.jobico/blobs/<sha256>.wasm``: written before a version names them, removed when
nothing can need them any more.

An executor runs the module its own copy of the catalog names, and that copy
may be a few versions behind ctl's for a moment (it follows the catalog stream,
and keeps its last catalog while ctl restarts). So a blob outlives its last
reference. The rule: a blob is removed only when

- no job of the current catalog, nor of the ``KEEP_VERSIONS`` catalogs
  published before it, names it, and
- for ``GRACE_S`` seconds no published catalog has named it and it was not
  written (blobs found on disk when ctl starts count as named at that start).

So a tenant cycling versions leaves at most the blobs of the last
``KEEP_VERSIONS`` + 1 catalogs plus those of the versions published within the
last ``GRACE_S``; the live version's blob is never removed.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from jobico.ctl.api import Catalog
from jobico.private import private_dir
from jobico.storage.files import atomic_write

KEEP_VERSIONS = 4
GRACE_S = 60.0
# A blob, or the temp file of a write a crash interrupted (atomic_write's names).
_NAME = re.compile(r"^(?P<sha>[0-9a-f]{64})\.wasm$|^\.[0-9a-f]{64}\.wasm\..*\.tmp$")


def modules_of(catalog: Catalog) -> frozenset[str]:
    """The module hashes every job of a catalog names."""
    return frozenset(job.module_sha256 for job in catalog.jobs())


class Blobs:
    """Owns the blobs folder for one ctl. Not thread-safe: one builder calls it in turn."""

    def __init__(
        self,
        folder: Path,
        *,
        keep_versions: int = KEEP_VERSIONS,
        grace_s: float = GRACE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.grace_s = grace_s
        self._clock = clock
        self._started = clock()
        self._recent: deque[frozenset[str]] = deque(maxlen=keep_versions + 1)
        self._named_at: dict[str, float] = {}  # sha -> when a published catalog last named it

    def store(self, modules: Mapping[str, bytes]) -> None:
        """Write the blobs that are missing (blocking: call it from a thread)."""
        private_dir(self.folder)
        for sha, data in modules.items():
            target = self.folder / f"{sha}.wasm"
            if not target.exists():
                atomic_write(target, data)

    def published(self, catalog: Catalog) -> None:
        """Note the modules a just-published catalog names."""
        named = modules_of(catalog)
        self._recent.append(named)
        now = self._clock()
        self._named_at.update(dict.fromkeys(named, now))

    def collect(self) -> list[str]:
        """Remove what nothing can need any more; returns the names removed (blocking).

        Errors: none for a file that vanished meanwhile; other OSErrors propagate.
        """
        kept = frozenset().union(*self._recent)
        cutoff = self._clock() - self.grace_s
        removed = []
        for entry in os.scandir(self.folder):
            match = _NAME.match(entry.name)
            if match is None or match["sha"] in kept:
                continue
            try:
                written = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            last = max(self._named_at.get(match["sha"] or "", self._started), written)
            if last <= cutoff:
                Path(entry.path).unlink(missing_ok=True)
                self._named_at.pop(match["sha"] or "", None)
                removed.append(entry.name)
        return sorted(removed)
