"""Compiled guest code kept on disk, so a restarted executor does not recompile.

Compiling a 1.3 MB module takes ~660 ms (plus ~60 ms to start the compiling
child, ``compiler.py``); loading its artifact takes ~1 ms. ctl writes the
artifacts of the modules it checks, so executors load them instead of
compiling them again. Files live in ``<home>/.jobico/cache/<module sha256>-<engine key>.cwasm``: the
engine key hashes the wasmtime version, the platform and every engine setting,
so an upgrade or a settings change simply misses the cache (compiled code is
only valid for the exact engine that made it).

Each file is ``MAGIC + sha256(artifact) + artifact``, written to a temporary
name and renamed. wasmtime trusts a serialized artifact completely: loading one
runs its native code, and a damaged one is undefined behaviour, not an error.
So an artifact is loaded only when nobody but this user could have written it:
the folder is a real directory owned by the user and not group/world-writable
(it is created 0700 and tightened to 0700 before each write, whatever the
umask), and the file, opened without following a symlink, is a regular file
owned by the user and not group/world-writable (files are written 0600). The
digest is then checked before the bytes are handed to ``Module.deserialize``
(in ``engine.Runtime.module``; which is why they are read, not
``deserialize_file``). Anything else is ignored and recompiled, and the rename
of the new artifact replaces it.

The folder is bounded: after each write the least recently used artifacts
(a load touches a file's mtime) past ``MAX_ARTIFACTS`` files or
``MAX_ARTIFACT_BYTES`` are removed, artifacts of other engine keys included.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from jobico.caps import MIB

MAGIC = b"JOBICO-CWASM-1\n"
MAX_ARTIFACTS = 256
MAX_ARTIFACT_BYTES = 1024 * MIB
STALE_TMP_S = 3600  # a temporary file this old was left by a killed writer
_DIGEST = 32
_SUFFIX = ".cwasm"
_TMP = ".tmp-"
_UNSAFE = stat.S_IWGRP | stat.S_IWOTH

log = logging.getLogger("jobico.executor.cache")


def engine_key(settings: Mapping[str, object]) -> str:
    """A short hash naming the engine an artifact was compiled for."""
    identity = {
        "wasmtime": importlib.metadata.version("wasmtime"),
        "machine": platform.machine(),
        "system": platform.system(),
        "settings": dict(settings),
    }
    text = json.dumps(identity, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def _trusted(info: os.stat_result, kind: int) -> bool:
    """A file or folder of ``kind`` (``stat.S_IFREG``/``S_IFDIR``) only this user can write."""
    return stat.S_IFMT(info.st_mode) == kind and info.st_uid == os.getuid() and not info.st_mode & _UNSAFE


class ArtifactCache:
    """Serialized modules in one folder, keyed by module hash and engine key."""

    def __init__(
        self, folder: Path, key: str, *, max_files: int = MAX_ARTIFACTS, max_bytes: int = MAX_ARTIFACT_BYTES
    ) -> None:
        self.folder = folder
        self.key = key
        self.max_files = max_files
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        return self.folder / f"{sha256}-{self.key}{_SUFFIX}"

    def read(self, sha256: str) -> bytes | None:
        """The cached artifact, or None when absent, untrusted or damaged (a damaged file is removed).

        Errors: none; an unreadable cache only costs a recompile.
        """
        path = self.path(sha256)
        data = self._read_trusted(path)
        if data is None:
            return None
        header = len(MAGIC) + _DIGEST
        body = data[header:]
        if not data.startswith(MAGIC) or hashlib.sha256(body).digest() != data[len(MAGIC) : header]:
            self.discard(sha256, "it is damaged")
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return body

    def discard(self, sha256: str, why: str) -> None:
        """Remove an artifact that cannot be used (``why``), so the next write replaces it."""
        log.warning("cached artifact %s: %s; recompiling", self.path(sha256), why)
        self.path(sha256).unlink(missing_ok=True)

    def _read_trusted(self, path: Path) -> bytes | None:
        try:
            if not _trusted(os.lstat(self.folder), stat.S_IFDIR):
                log.warning("cache folder %s is not private to this user; not loading from it", self.folder)
                return None
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as file:
            if not _trusted(os.fstat(fd), stat.S_IFREG):
                log.warning("cached artifact %s is not private to this user; recompiling", path)
                return None
            return file.read()

    def write(self, sha256: str, body: bytes) -> None:
        """Persist the artifact ``body`` atomically (0600 in a 0700 folder), then prune; failures
        are logged.

        Errors: none; without a cache the executor still works, only slower to start.
        """
        try:
            self._private_folder()
            fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as file:
                    os.fchmod(file.fileno(), 0o600)
                    file.write(MAGIC + hashlib.sha256(body).digest() + body)
                os.replace(tmp, self.path(sha256))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._prune()
        except OSError as exc:
            log.warning("cannot cache compiled module %s: %s", sha256, exc)

    def _private_folder(self) -> None:
        """Create the folder 0700, or tighten it to 0700. Errors: ``OSError``, also when it is not ours."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{self.folder} is not a folder owned by this user")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.folder, 0o700)

    def _prune(self) -> None:
        """Remove least recently used artifacts past the bounds, and temporary files of dead writers."""
        artifacts: list[tuple[float, int, str]] = []
        now = time.time()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.endswith(_SUFFIX):
                    artifacts.append((info.st_mtime, info.st_size, entry.name))
                elif entry.name.startswith(_TMP) and now - info.st_mtime > STALE_TMP_S:
                    self._remove(entry.name)
        artifacts.sort(reverse=True)  # newest first
        kept_bytes = 0
        for count, (_, size, name) in enumerate(artifacts, start=1):
            kept_bytes += size
            if count > self.max_files or (count > 1 and kept_bytes > self.max_bytes):
                self._remove(name)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.folder / name)
