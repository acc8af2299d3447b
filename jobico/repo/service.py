"""The repo component: tenant files over RPC, and their changes as a stream.

Its contract is ``jobico.repo.api`` (``read``, ``upload``, ``files``, stream
``changes``), answered as ``methods`` lists. The watcher owns the index; this
shell only answers calls and fans changes out to subscribers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import trio

from jobico.component import Context
from jobico.repo import api
from jobico.repo.files import read_file, write_file
from jobico.repo.watcher import FileIndex, watch
from jobico.rpc.api import Empty
from jobico.rpc.dispatch import Methods

# A subscriber that falls this far behind is dropped; its stream ends and it
# re-subscribes, getting a fresh snapshot instead of a backlog.
SUBSCRIBER_BUFFER = 4096


class RepoService:
    """Serves ``tenants/`` of ``ctx.home``: reads, atomic uploads and live changes."""

    def __init__(self, ctx: Context) -> None:
        self._tenants = ctx.home.tenants
        self._log = ctx.log
        self._index = FileIndex()
        self._subscribers: set[trio.MemorySendChannel[api.FileChange]] = set()

    def methods(self) -> Methods:
        return (Methods()
                .call(api.read, self.read)
                .call(api.upload, self.upload)
                .call(api.files, self.files)
                .stream(api.changes, self.changes))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled; ready once the first full scan is indexed."""
        await watch(self._tenants, self._index, self._publish, task_status=task_status)

    def _publish(self, changes: list[api.FileChange]) -> None:
        for change in changes:
            self._log.info("file %s/%s -> %s", change.tenant, change.path, change.sha256 or change.error)
        for channel in list(self._subscribers):
            try:
                for change in changes:
                    channel.send_nowait(change)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._log.warning("dropping a changes subscriber that fell behind")
                self._subscribers.discard(channel)
                channel.close()

    async def status(self) -> dict[str, Any]:
        return {"files": len(self._index.snapshot()), "subscribers": len(self._subscribers)}

    async def read(self, request: api.Read) -> api.Content:
        return api.Content(await trio.to_thread.run_sync(read_file, self._tenants, request.tenant,
                                                         request.path))

    async def upload(self, request: api.Upload) -> api.Uploaded:
        sha = await trio.to_thread.run_sync(write_file, self._tenants, request.tenant, request.path,
                                            request.data)
        return api.Uploaded(sha)

    async def files(self, request: api.ListFiles) -> api.FileList:
        return api.FileList(tuple(self._index.snapshot(request.tenant)))

    async def changes(self, request: Empty) -> AsyncGenerator[api.Snapshot | api.FileChange, None]:
        """A snapshot of every file, then each change as it happens.

        The snapshot is taken and the subscription made without a checkpoint in
        between, so no change falls in the gap. Ends if the subscriber lags.
        """
        send, receive = trio.open_memory_channel[api.FileChange](SUBSCRIBER_BUFFER)
        snapshot = api.Snapshot(tuple(self._index.snapshot()))
        self._subscribers.add(send)
        try:
            yield snapshot
            async with receive:
                async for change in receive:
                    yield change
        finally:
            self._subscribers.discard(send)
