"""Owner-only files and folders: 0600 and 0700, set explicitly, whatever the umask.

What Jobico writes holds secrets (a package's webhook secret) or code it will
run (compiled artefacts in ``.jobico/cache``). Under a umask of 002 those used
to be readable, even writable, by the owner's group, so modes are set here on
purpose rather than inherited from whoever ran ``jobico up``. A folder that
belongs to another user is refused rather than written into: its owner could
read or replace what we put there.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from jobico.errors import UserError

DIR_MODE = 0o700
FILE_MODE = 0o600
OTHERS = 0o077  # group and world bits: never set on anything private
# The umask of every Jobico process (components and the CLI), set once at its start.
UMASK = OTHERS


def _not_ours(path: Path, uid: int) -> UserError:
    return UserError(
        f"{path} belongs to uid {uid}, not to you (uid {os.geteuid()}); Jobico keeps its files "
        "private to their owner: remove it, or run Jobico as its owner"
    )


def new_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 if it is missing; an existing folder is left as it is.

    For folders that belong to the user (``tenants/``, possibly shared or
    mounted from elsewhere) but that Jobico may have to create.
    """
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, DIR_MODE)


def private_dir(path: Path) -> None:
    """Make ``path`` an existing folder of ours with mode 0700 (its parent must exist).

    Errors: UserError when ``path`` is not a folder or belongs to another user.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, DIR_MODE)
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UserError(f"{path} is not a folder")
    if info.st_uid != os.geteuid():
        raise _not_ours(path, info.st_uid)
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)


def private_dirs(top: Path, folder: Path) -> None:
    """``private_dir`` for ``top`` and every folder from it down to ``folder`` (inside it)."""
    relative = folder.relative_to(top)
    for depth in range(len(relative.parts) + 1):
        private_dir(top.joinpath(*relative.parts[:depth]))


def tighten(root: Path) -> None:
    """Take the group and world bits off ``root`` and everything under it (symlinks left alone).

    For homes made before modes were set explicitly. A file of another user is
    left as it is (we cannot chmod it; what reads it checks its owner).
    Errors: UserError for a folder that belongs to another user.
    """
    _tighten(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            _tighten(Path(dirpath, name))


def _tighten(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:  # removed meanwhile by a running component
        return
    if stat.S_ISLNK(info.st_mode):
        return
    if info.st_uid != os.geteuid():
        if stat.S_ISDIR(info.st_mode):
            raise _not_ours(path, info.st_uid)
        return
    if info.st_mode & OTHERS:
        with contextlib.suppress(FileNotFoundError):  # removed since the lstat
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~OTHERS)
