"""A stand-in for ``os.fsync`` and ``os.fdatasync``: proves an answer waits for its sync.

A kill -9 cannot show a missing fsync (the page cache survives it), and reading
back in the same process reads the cache. So the tests hold each sync of the
store's files until they release it, and check that nothing was acknowledged
meanwhile; a store that skipped the sync would answer while the gate is shut.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest


class SyncGate:
    """Every sync of a file under ``root`` waits for ``release`` (or passes at once when
    created open), takes ``slow_s`` more (a slow disk: writes arrive during it), then may
    fail with ``fail_next``; ``log`` records each one that returned."""

    def __init__(
        self, root: Path, monkeypatch: pytest.MonkeyPatch, *, shut: bool = True, slow_s: float = 0.0
    ) -> None:
        self._root = str(root)
        self._slow_s = slow_s
        self._open = threading.Event()
        if not shut:
            self._open.set()
        self.waiting = threading.Event()  # a sync is (or was) held at the gate
        self.fail_next: OSError | None = None
        self.log: list[tuple[str, ...]] = []  # ("synced", path, size); tests add their own entries
        for name in ("fsync", "fdatasync"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))

    def _wrap(self, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            if not path.startswith(self._root):
                return real(fd)
            self.waiting.set()
            if not self._open.wait(60):
                raise TimeoutError("the test never released the sync")
            time.sleep(self._slow_s)
            failure, self.fail_next = self.fail_next, None
            if failure is not None:
                raise failure
            real(fd)
            self.log.append(("synced", path, str(os.fstat(fd).st_size)))
            return None

        return sync

    def release(self) -> None:
        self._open.set()
