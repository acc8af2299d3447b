"""Watch ``tenants/`` and turn raw file-system events into hashed file changes.

watchfiles reports paths, possibly many times while a file is being written, and
only the folder when a whole folder is moved in or out. So every event is read
as "something under this path changed": the path is rescanned and hashed, and
the result diffed against an index of what was last published. A change is
published only when a hash really differs, which also folds the burst of
events an in-place write produces into the states a reader can actually see.

``FileIndex`` and ``scope_of`` are pure; ``watch`` is the trio shell around
``watchfiles.awatch``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import anyio
import trio
from watchfiles import awatch

from jobico.names import is_id
from jobico.private import new_dir
from jobico.repo.api import FileChange, FileInfo
from jobico.repo.files import file_info, is_ignored, list_files

log = logging.getLogger(__name__)
logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch at INFO

DEBOUNCE_MS = 60
STEP_MS = 10
PROBE = f".jobico-watch-probe-{os.getpid()}"
PROBE_EVERY_S = 0.05
PROBE_GIVE_UP_S = 3.0


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything under ``tenant``/``path``; tenant None is the whole tree, path "" a tenant."""

    tenant: str | None
    path: str = ""

    def covers(self, tenant: str | None, path: str) -> bool:
        if self.tenant is None:
            return True
        if tenant != self.tenant:
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")


def scope_of(tenants: Path, raw: str) -> Scope | None:
    """The scope an event on absolute path ``raw`` invalidates, or None if it is not ours."""
    try:
        parts = PurePosixPath(Path(raw).relative_to(tenants)).parts
    except ValueError:
        return None
    if not parts:
        return Scope(None)
    if not is_id(parts[0]):
        return None
    relpath = "/".join(parts[1:])
    if relpath and is_ignored(relpath):
        return None
    return Scope(parts[0], relpath)


def merge_scopes(scopes: Iterable[Scope]) -> list[Scope]:
    """Drop scopes another one already covers, so nothing is scanned twice."""
    unique = sorted(set(scopes), key=lambda s: (s.tenant or "", len(s.path), s.path))
    kept: list[Scope] = []
    for scope in unique:
        if not any(k.covers(scope.tenant, scope.path) for k in kept):
            kept.append(scope)
    return kept


class FileIndex:
    """What repo last published: (tenant, path) -> FileInfo."""

    def __init__(self, files: Iterable[FileInfo] = ()) -> None:
        self._files = {(f.tenant, f.path): f for f in files}

    def snapshot(self, tenant: str | None = None) -> list[FileInfo]:
        return [f for key, f in sorted(self._files.items()) if tenant in (None, f.tenant)]

    def apply(self, scope: Scope, found: Iterable[FileInfo]) -> list[FileChange]:
        """Make the index under ``scope`` equal ``found``; return the differences, sorted."""
        fresh = {(f.tenant, f.path): f for f in found}
        changes = [
            FileChange(t, p, None) for (t, p) in self._files if scope.covers(t, p) and (t, p) not in fresh
        ]
        for key in changes:
            del self._files[(key.tenant, key.path)]
        for key, info in fresh.items():
            old = self._files.get(key)
            if old is None or (old.sha256, old.error) != (info.sha256, info.error):
                changes.append(FileChange(info.tenant, info.path, info.sha256, info.error))
            self._files[key] = info
        return sorted(changes, key=lambda c: (c.tenant, c.path))


def scan(tenants: Path, scope: Scope) -> list[FileInfo]:
    """The files now on disk under ``scope`` (blocking: call it in a thread)."""
    if scope.tenant is None:
        return list_files(tenants)
    target = tenants / scope.tenant / scope.path
    if target.is_dir():  # a symlinked folder is not walked, as in a full scan
        return [] if target.is_symlink() else list_files(tenants, scope.tenant, under=scope.path)
    if not scope.path:
        return []
    info = file_info(tenants, scope.tenant, scope.path)
    return [info] if info else []


async def _pump(
    tenants: Path,
    stop: anyio.Event,
    out: trio.MemorySendChannel[list[str]],
    debounce_ms: int,
    step_ms: int,
) -> None:
    def keep(_change: object, raw: str) -> bool:
        return raw.endswith(PROBE) or scope_of(tenants, raw) is not None

    async with out:
        async for batch in awatch(
            tenants, watch_filter=keep, debounce=debounce_ms, step=step_ms, stop_event=stop
        ):
            await out.send([raw for _change, raw in batch])


def _prepare(tenants: Path) -> Path:
    new_dir(tenants)
    return tenants.resolve()  # watchfiles reports resolved paths


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


async def _stop_when_cancelled(stop: anyio.Event) -> None:
    try:
        await trio.sleep_forever()
    finally:
        stop.set()


async def _until_live(tenants: Path, batches: trio.MemoryReceiveChannel[list[str]]) -> None:
    """Touch a probe file until the watcher reports it: from then on nothing is missed."""
    probe = tenants / PROBE
    with trio.move_on_after(PROBE_GIVE_UP_S):
        while True:
            await trio.to_thread.run_sync(probe.touch)
            with trio.move_on_after(PROBE_EVERY_S):
                while not any(raw.endswith(PROBE) for raw in await batches.receive()):
                    pass
                break
    if not await trio.to_thread.run_sync(_remove, probe):
        log.warning("file watcher on %s did not report its probe; continuing", tenants)


async def watch(
    tenants: Path,
    index: FileIndex,
    publish: Callable[[list[FileChange]], None],
    *,
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Fill ``index`` from disk, report ready, then ``publish`` every batch of real changes.

    Ready means the watcher is live and the index holds a full scan taken after
    that, so no change made from then on is missed. ``publish`` runs
    synchronously right after ``index`` is updated, so a reader that takes a
    snapshot and subscribes without awaiting in between sees every change once.
    Cancellation: stops within about ``step_ms`` (awatch waits in a shielded
    thread that only checks its stop event every step; a helper task sets that
    event as soon as we are cancelled, instead of waiting for the 5 s rust timeout).
    """
    tenants = await trio.to_thread.run_sync(_prepare, tenants)
    stop = anyio.Event()
    send, batches = trio.open_memory_channel[list[str]](64)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_when_cancelled, stop)
        nursery.start_soon(_pump, tenants, stop, send, debounce_ms, step_ms)
        await _until_live(tenants, batches)
        index.apply(Scope(None), await trio.to_thread.run_sync(list_files, tenants))
        task_status.started()
        async for paths in batches:
            scopes = merge_scopes(s for raw in paths if (s := scope_of(tenants, raw)))
            changes: list[FileChange] = []
            for scope in scopes:
                found = await trio.to_thread.run_sync(scan, tenants, scope)
                changes.extend(index.apply(scope, found))
            if changes:
                publish(changes)
