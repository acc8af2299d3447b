from __future__ import annotations

from pathlib import Path

import pytest
import trio

from jobico.errors import NotFound, UserError
from jobico.repo import service as service_module
from jobico.repo.api import FileChange, Snapshot
from jobico.repo.files import sha256_bytes
from jobico.repo.service import RepoService
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY
from tests.repo.helpers import make_ctx, running_repo


@pytest.mark.trio
async def test_upload_is_read_listed_and_streamed(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with (
            running_repo(tmp_path),
            await trio_shell.connect(tmp_path / ".jobico/run/repo.sock") as client,
            client.stream("changes", {}) as items,
        ):
            assert await anext(aiter(items)) == {"kind": "snapshot", "files": []}
            reply = await client.call("upload", {"tenant": "acme", "path": "s/x.json", "data": b"{}"})
            assert reply == {"sha256": sha256_bytes(b"{}")}
            assert (tmp_path / "tenants/acme/s/x.json").read_bytes() == b"{}"
            assert await client.call("read", {"tenant": "acme", "path": "s/x.json"}) == b"{}"
            change = {"kind": "change", "tenant": "acme", "path": "s/x.json", "sha256": reply["sha256"],
                      "error": None}
            assert await anext(aiter(items)) == change
            assert await client.call("files", {"tenant": "acme"}) == [
                {"tenant": "acme", "path": "s/x.json", "sha256": reply["sha256"], "size": 2, "error": None}
            ]
            (tmp_path / "tenants/acme/s/x.json").unlink()
            assert await anext(aiter(items)) == {**change, "sha256": None}


@pytest.mark.trio
async def test_bad_paths_and_tenants_are_user_errors(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with (
            running_repo(tmp_path),
            await trio_shell.connect(tmp_path / ".jobico/run/repo.sock") as client,
        ):
            with pytest.raises(NotFound):
                await client.call("read", {"tenant": "acme", "path": "nope"})
            with pytest.raises(UserError, match=r"'\.\.' may not leave"):
                await client.call("upload", {"tenant": "acme", "path": "../x", "data": b""})
            with pytest.raises(UserError, match="tenant 'Acme' is not a valid id"):
                await client.call("read", {"tenant": "Acme", "path": "x"})
            with pytest.raises(UserError, match="'data' must be bytes"):
                await client.call("upload", {"tenant": "acme", "path": "x", "data": "text"})
    assert not (tmp_path / "x").exists()


@pytest.mark.trio
async def test_snapshot_lists_existing_files(tmp_path: Path) -> None:
    (tmp_path / "tenants/acme").mkdir(parents=True)
    (tmp_path / "tenants/acme/a.toml").write_bytes(b"a")
    with trio.fail_after(10):
        async with (
            running_repo(tmp_path),
            await trio_shell.connect(tmp_path / ".jobico/run/repo.sock") as client,
            client.stream("changes", {}) as items,
        ):
            first = await anext(aiter(items))
            assert [(f["tenant"], f["path"]) for f in first["files"]] == [("acme", "a.toml")]


@pytest.mark.trio
async def test_a_lagging_subscriber_is_ended_not_buffered_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "SUBSCRIBER_BUFFER", 1)
    repo = RepoService(make_ctx(tmp_path, "repo"))
    changes = repo.changes(EMPTY)
    assert await anext(changes) == Snapshot(())
    repo._publish([FileChange("acme", "a", "1"), FileChange("acme", "b", "2")])
    assert await anext(changes) == FileChange("acme", "a", "1")
    with pytest.raises(StopAsyncIteration):
        await anext(changes)
    assert (await repo.status())["subscribers"] == 0
