"""Tenant files on disk: ids, confined paths, hashes, atomic writes, listings.

Every path a user names (an RPC ``read``/``upload``, a package's ``schema`` or
``wasm``) is relative to its tenant folder and must stay inside it (SPEC §1), so
the checks live here once and are shared by repo and ctl. Everything is
synchronous: the services call it through ``trio.to_thread``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from jobico.errors import NotFound, UserError
from jobico.names import check_id, is_id
from jobico.private import new_dir, private_dir, private_dirs
from jobico.repo.api import MAX_FILE_BYTES, FileInfo
from jobico.storage.files import atomic_write

CHUNK_BYTES = 1024 * 1024
# Editor and tool leftovers that must never reach the catalog: vim swap files and
# its "4913" write probe, emacs "#name#" autosaves and "name~" backups, our own
# and other tools' "*.tmp" / "*.part" temp names. Dotfiles are hidden by rule.
_TEMP_NAME = re.compile(r"(\.sw[a-z]|~|\.tmp|\.part)$|^4913$|^#.*#$")
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


class UnusableFile(UserError):
    """A tenant file that is there but must not be read; ``reason`` says why."""

    def __init__(self, tenant: str, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"file {path!r} of tenant {tenant!r} {reason}")


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def over_limit(tenant: str, path: str, size: int, cap: int) -> UnusableFile:
    """The error for a file of ``size`` bytes where at most ``cap`` may be read."""
    return UnusableFile(tenant, path, f"is {size} bytes ({_size(size)}), over the limit of {cap} "
                                      f"bytes ({_size(cap)})")


def is_ignored(relpath: str) -> bool:
    """True for dotfiles, files in dot-folders and editor/temporary files."""
    parts = PurePosixPath(relpath).parts
    return any(part.startswith(".") for part in parts) or bool(parts and _TEMP_NAME.search(parts[-1]))


def clean_relpath(path: object) -> str:
    """Normalise a tenant-relative path, rejecting anything that could leave the folder.

    Errors: UserError naming the path for empty, absolute, NUL-holding or ``..`` paths.
    """
    if not isinstance(path, str) or not path.strip():
        raise UserError(f"invalid file path {path!r}: must be a non-empty string")
    if "\0" in path:
        raise UserError(f"invalid file path {path!r}: contains a NUL byte")
    if "\\" in path:
        raise UserError(f"invalid file path {path!r}: use '/' to separate folders")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise UserError(f"invalid file path {path!r}: must be relative to the tenant folder")
    if ".." in pure.parts:
        raise UserError(f"invalid file path {path!r}: '..' may not leave the tenant folder")
    return pure.as_posix()


def resolve(tenants: Path, tenant: str, path: str) -> Path:
    """The absolute file for ``tenant``/``path``, proven to stay inside the tenant folder.

    Symlinks are followed and must end inside the folder too (a loop resolves to
    a path that then fails to open with ELOOP).
    Errors: UserError naming the tenant or path when either is invalid;
    UnusableFile when the path escapes.
    """
    folder = Path(os.path.realpath(tenants / check_id(tenant)))
    target = Path(os.path.realpath(folder / clean_relpath(path)))
    if not target.is_relative_to(folder):
        raise UnusableFile(tenant, path, "escapes the tenant folder")
    return target


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "is a symlink loop"
    return f"cannot be read: {error.strerror}"


def _check_kind(tenant: str, path: str, info: os.stat_result, cap: int) -> None:
    kind = stat.S_IFMT(info.st_mode)
    if kind != stat.S_IFREG:
        raise UnusableFile(tenant, path, f"is {_KINDS.get(kind, 'not a regular file')}, not a regular file")
    if info.st_size > cap:
        raise over_limit(tenant, path, info.st_size, cap)


def _chunks(tenants: Path, tenant: str, path: str, cap: int) -> Iterator[bytes]:
    """The bytes of a regular tenant file of at most ``cap`` bytes, a chunk at a time.

    Only what is known safe is opened: the kind and size are checked on the
    path before opening (a FIFO would block the open, a device might act on
    it), then again on the opened descriptor (the path may have been swapped),
    and the read stops at ``cap + 1`` bytes in case the file grows meanwhile.
    Errors: NotFound when the file is gone; UnusableFile naming why it cannot be read.
    """
    target = resolve(tenants, tenant, path)
    try:
        _check_kind(tenant, path, os.stat(target), cap)
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"no file {path!r} in tenant {tenant!r}") from None
    except OSError as e:
        raise UnusableFile(tenant, path, _reason(e)) from None
    try:
        _check_kind(tenant, path, os.fstat(fd), cap)
        total = 0
        while chunk := os.read(fd, min(CHUNK_BYTES, cap + 1 - total)):
            total += len(chunk)
            if total > cap:
                raise UnusableFile(tenant, path, f"grew over the limit of {cap} bytes while being read")
            yield chunk
    except OSError as e:
        raise UnusableFile(tenant, path, _reason(e)) from None
    finally:
        os.close(fd)


def read_file(tenants: Path, tenant: str, path: str, cap: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular tenant file of at most ``cap`` bytes.

    Errors: UserError for a bad path, NotFound if missing, UnusableFile naming
    why it cannot be read (not a regular file, a symlink loop, over ``cap``...).
    """
    return b"".join(_chunks(tenants, tenant, path, cap))


def write_file(tenants: Path, tenant: str, path: str, data: bytes) -> str:
    """Atomically store a tenant file, 0600 in 0700 folders; returns its sha256.

    The tenant folder and every folder below it on the way are made 0700 (the
    file may be a package holding its webhook secret); ``tenants/`` is created
    0700 when missing, else left as the user made it.
    Errors: UserError for bad paths, or a folder on the way that is not ours.
    """
    relpath = clean_relpath(path)
    if is_ignored(relpath):
        raise UserError(f"file path {path!r} is a hidden or temporary name the watcher ignores")
    new_dir(tenants)
    private_dir(tenants / check_id(tenant))
    target = resolve(tenants, tenant, relpath)
    private_dirs(Path(os.path.realpath(tenants / tenant)), target.parent)
    atomic_write(target, data)
    return sha256_bytes(data)


def file_info(tenants: Path, tenant: str, relpath: str) -> FileInfo | None:
    """Hash one file, reading at most ``MAX_FILE_BYTES``; None when it is gone.

    A file that cannot be used is listed with the reason (see ``FileInfo``).
    """
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in _chunks(tenants, tenant, relpath, MAX_FILE_BYTES):
            digest.update(chunk)
            size += len(chunk)
    except NotFound:
        return None
    except UnusableFile as e:
        return FileInfo(tenant, relpath, None, size, e.reason)
    return FileInfo(tenant, relpath, digest.hexdigest(), size)


def list_tenants(tenants: Path) -> list[str]:
    """Folder names under ``tenants/`` that are valid tenant ids, sorted."""
    if not tenants.is_dir():
        return []
    return sorted(p.name for p in tenants.iterdir() if p.is_dir() and is_id(p.name))


def list_files(tenants: Path, tenant: str | None = None, under: str = "") -> list[FileInfo]:
    """Every visible file of one tenant (or all), hashed, sorted by tenant then path.

    ``under`` limits the walk to one sub-folder (used to rescan a renamed folder).
    Folders (symlinked ones included) are walked, never followed through a
    symlink, so a link loop cannot trap the walk.
    """
    found: list[FileInfo] = []
    for name in [check_id(tenant)] if tenant else list_tenants(tenants):
        folder = tenants / name
        start = folder / under if under else folder
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                relpath = Path(dirpath, filename).relative_to(folder).as_posix()
                if not is_ignored(relpath) and (info := file_info(tenants, name, relpath)):
                    found.append(info)
    return found
