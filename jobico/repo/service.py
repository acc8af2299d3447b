"""The repo component: tenant files over RPC, and their changes as a stream.

RPC (docs/internals.md, repo): ``read``, ``upload``, ``files``, stream ``changes``.
The watcher owns the index; this shell only answers calls and fans changes
out to subscribers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import trio

from jobico.errors import UserError
from jobico.names import check_id
from jobico.repo.files import MAX_FILE_BYTES, read_file, write_file
from jobico.repo.watcher import FileChange, FileIndex, watch

# A subscriber that falls this far behind is dropped; its stream ends and it
# re-subscribes, getting a fresh snapshot instead of a backlog.
SUBSCRIBER_BUFFER = 4096


def _str_param(params: object, key: str, *, required: bool = True) -> str | None:
    if not isinstance(params, Mapping):
        raise UserError(f"params must be a map with {key!r}")
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise UserError(f"param {key!r} must be a string, got {value!r}")
    return value


class RepoService:
    """Serves ``tenants/`` of ``ctx.home``: reads, atomic uploads and live changes."""

    def __init__(self, ctx: Any) -> None:
        self._tenants = ctx.home.tenants
        self._log = ctx.log
        self._index = FileIndex()
        self._subscribers: set[trio.MemorySendChannel[dict[str, Any]]] = set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled; ready once the first full scan is indexed."""
        await watch(self._tenants, self._index, self._publish, task_status=task_status)

    def _publish(self, changes: list[FileChange]) -> None:
        for change in changes:
            self._log.info("file %s/%s -> %s", change.tenant, change.path, change.sha256 or change.error)
        for channel in list(self._subscribers):
            try:
                for change in changes:
                    channel.send_nowait(change.as_dict())
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._log.warning("dropping a changes subscriber that fell behind")
                self._subscribers.discard(channel)
                channel.close()

    async def status(self) -> dict[str, Any]:
        return {"files": len(self._index.snapshot()), "subscribers": len(self._subscribers)}

    async def rpc_read(self, params: Any) -> bytes:
        """Errors: UserError for a bad tenant or path or a file that cannot be read
        (not a regular file, over ``MAX_FILE_BYTES``...), NotFound for a missing file."""
        tenant, path = _str_param(params, "tenant"), _str_param(params, "path")
        return await trio.to_thread.run_sync(read_file, self._tenants, tenant, path)

    async def rpc_upload(self, params: Any) -> dict[str, str]:
        """Store a file atomically (the watcher then publishes it). Errors: UserError."""
        tenant, path = _str_param(params, "tenant"), _str_param(params, "path")
        data = params.get("data")
        if not isinstance(data, bytes):
            raise UserError("param 'data' must be bytes")
        if len(data) > MAX_FILE_BYTES:
            raise UserError(f"file {path!r} is {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
        sha = await trio.to_thread.run_sync(write_file, self._tenants, tenant, path, data)
        return {"sha256": sha}

    async def rpc_files(self, params: Any) -> list[dict[str, object]]:
        tenant = _str_param(params or {}, "tenant", required=False)
        if tenant is not None:
            check_id(tenant)
        return [f.as_dict() for f in self._index.snapshot(tenant)]

    async def stream_changes(self, params: Any) -> AsyncIterator[dict[str, Any]]:
        """A snapshot of every file, then each change as it happens.

        The snapshot is taken and the subscription made without a checkpoint in
        between, so no change falls in the gap. Ends if the subscriber lags.
        """
        send, receive = trio.open_memory_channel[dict[str, Any]](SUBSCRIBER_BUFFER)
        files = [f.as_dict() for f in self._index.snapshot()]
        self._subscribers.add(send)
        try:
            yield {"kind": "snapshot", "files": files}
            async with receive:
                async for item in receive:
                    yield item
        finally:
            self._subscribers.discard(send)
