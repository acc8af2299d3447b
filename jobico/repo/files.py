"""Tenant files on disk: ids, confined paths, hashes, atomic writes, listings.

Every path a user names (an RPC ``read``/``upload``, a package's ``schema`` or
``wasm``) is relative to its tenant folder and must stay inside it (SPEC §1), so
the checks live here once and are shared by repo and ctl. Everything is
synchronous: the services call it through ``trio.to_thread``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jobico.errors import NotFound, UserError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Editor and tool leftovers that must never reach the catalog: vim swap files and
# its "4913" write probe, emacs "#name#" autosaves and "name~" backups, our own
# and other tools' "*.tmp" / "*.part" temp names. Dotfiles are hidden by rule.
_TEMP_NAME = re.compile(r"(\.sw[a-z]|~|\.tmp|\.part)$|^4913$|^#.*#$")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One tenant file as listed by repo: path is relative to the tenant folder."""

    tenant: str
    path: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"tenant": self.tenant, "path": self.path, "sha256": self.sha256, "size": self.size}


def check_id(value: object, what: str = "tenant id") -> str:
    """``value`` if it is a valid tenant/package id (SPEC §1), else a UserError naming it."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise UserError(f"invalid {what} {value!r}: must match {ID_PATTERN.pattern}")
    return value


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

    Symlinks are followed and must end inside the folder too.
    Errors: UserError naming the tenant or path when either is invalid or escapes.
    """
    folder = (tenants / check_id(tenant)).resolve()
    target = (folder / clean_relpath(path)).resolve()
    if not target.is_relative_to(folder):
        raise UserError(f"file path {path!r} of tenant {tenant!r} escapes the tenant folder")
    return target


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(tenants: Path, tenant: str, path: str) -> bytes:
    """The bytes of a tenant file. Errors: UserError for a bad path, NotFound if missing."""
    target = resolve(tenants, tenant, path)
    try:
        return target.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"no file {path!r} in tenant {tenant!r}") from None


def atomic_write(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` so readers see the old or the new file, never half.

    A dot-named temp file in the same folder (ignored by the watcher) is written,
    fsync'd, renamed over the target, and the folder fsync'd so the rename survives
    a crash.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_file(tenants: Path, tenant: str, path: str, data: bytes) -> str:
    """Atomically store a tenant file; returns its sha256. Errors: UserError for bad paths."""
    relpath = clean_relpath(path)
    if is_ignored(relpath):
        raise UserError(f"file path {path!r} is a hidden or temporary name the watcher ignores")
    atomic_write(resolve(tenants, tenant, relpath), data)
    return sha256_bytes(data)


def file_info(tenants: Path, tenant: str, relpath: str) -> FileInfo | None:
    """Hash one file; None when it is gone, not a regular file, or a symlink that escapes."""
    try:
        target = resolve(tenants, tenant, relpath)
        data = target.read_bytes()
    except (OSError, UserError):
        return None
    return FileInfo(tenant, relpath, sha256_bytes(data), len(data))


def list_tenants(tenants: Path) -> list[str]:
    """Folder names under ``tenants/`` that are valid tenant ids, sorted."""
    if not tenants.is_dir():
        return []
    return sorted(p.name for p in tenants.iterdir() if p.is_dir() and ID_PATTERN.fullmatch(p.name))


def list_files(tenants: Path, tenant: str | None = None, under: str = "") -> list[FileInfo]:
    """Every visible file of one tenant (or all), hashed, sorted by tenant then path.

    ``under`` limits the walk to one sub-folder (used to rescan a renamed folder).
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
