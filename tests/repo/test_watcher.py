from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from jobico.repo.files import FileInfo, sha256_bytes
from jobico.repo.watcher import FileChange, FileIndex, Scope, merge_scopes, scope_of, watch
from tests.repo.hostile import fifos_released, plant


def info(tenant: str, path: str, data: bytes = b"x") -> FileInfo:
    return FileInfo(tenant, path, sha256_bytes(data), len(data))


def test_index_reports_only_real_differences() -> None:
    index = FileIndex([info("a", "x.toml"), info("a", "sub/s.json"), info("b", "y")])
    changes = index.apply(Scope("a", "sub"), [info("a", "sub/s.json", b"new"), info("a", "sub/t")])
    assert changes == [
        FileChange("a", "sub/s.json", sha256_bytes(b"new")),
        FileChange("a", "sub/t", sha256_bytes(b"x")),
    ]
    assert index.apply(Scope("a", "sub"), [info("a", "sub/s.json", b"new"), info("a", "sub/t")]) == []


def test_index_deletes_everything_missing_under_the_scope_only() -> None:
    index = FileIndex([info("a", "x.toml"), info("a", "sub/s.json"), info("a", "subway")])
    assert index.apply(Scope("a", "sub"), []) == [FileChange("a", "sub/s.json", None)]
    assert [f.path for f in index.snapshot("a")] == ["subway", "x.toml"]


def test_scope_of_maps_paths_and_drops_what_is_not_ours(tmp_path: Path) -> None:
    assert scope_of(tmp_path, str(tmp_path)) == Scope(None)
    assert scope_of(tmp_path, str(tmp_path / "acme")) == Scope("acme", "")
    assert scope_of(tmp_path, str(tmp_path / "acme/sub/x.wasm")) == Scope("acme", "sub/x.wasm")
    assert scope_of(tmp_path, str(tmp_path / "acme/.x.swp")) is None
    assert scope_of(tmp_path, str(tmp_path / "Not A Tenant/x")) is None
    assert scope_of(tmp_path, "/elsewhere/x") is None


def test_merge_scopes_keeps_the_widest() -> None:
    merged = merge_scopes([Scope("a", "sub/x"), Scope("a", "sub"), Scope("b", "y"), Scope("a", "z")])
    assert sorted(merged, key=str) == sorted([Scope("a", "sub"), Scope("a", "z"), Scope("b", "y")], key=str)
    assert merge_scopes([Scope("a", "x"), Scope(None)]) == [Scope(None)]


class Recorder:
    """Collects published changes; ``until`` waits for a condition on the index."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = FileIndex()
        self.changes: list[FileChange] = []
        self._published = trio.Event()

    def publish(self, changes: list[FileChange]) -> None:
        self.changes.extend(changes)
        self._published.set()
        self._published = trio.Event()

    def hashes(self) -> dict[tuple[str, str], str | None]:
        return {(f.tenant, f.path): f.sha256 for f in self.index.snapshot()}

    def errors(self) -> dict[tuple[str, str], str]:
        return {(f.tenant, f.path): f.error for f in self.index.snapshot() if f.error}

    async def until(self, check: Callable[[], bool]) -> None:
        with trio.fail_after(5):
            while not check():
                await self._published.wait()


@pytest.fixture
async def watched(tmp_path: Path, nursery: trio.Nursery) -> Recorder:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "old.toml").write_bytes(b"old")
    rec = Recorder(tmp_path)
    await nursery.start(watch, tmp_path, rec.index, rec.publish)
    return rec


@pytest.mark.trio
async def test_ready_means_indexed_and_probe_gone(watched: Recorder) -> None:
    assert watched.hashes() == {("acme", "old.toml"): sha256_bytes(b"old")}
    assert sorted(os.listdir(watched.root)) == ["acme"]


@pytest.mark.trio
async def test_drop_replace_delete_rename(watched: Recorder) -> None:
    root, key = watched.root, ("acme", "new.json")
    (root / "acme" / "new.json").write_bytes(b"1")
    await watched.until(lambda: watched.hashes().get(key) == sha256_bytes(b"1"))

    (root / "acme" / ".new.json.tmp").write_bytes(b"2")
    os.replace(root / "acme" / ".new.json.tmp", root / "acme" / "new.json")
    await watched.until(lambda: watched.hashes().get(key) == sha256_bytes(b"2"))

    os.rename(root / "acme" / "new.json", root / "acme" / "moved.json")
    await watched.until(lambda: key not in watched.hashes())
    assert watched.hashes()[("acme", "moved.json")] == sha256_bytes(b"2")

    (root / "acme" / "moved.json").unlink()
    await watched.until(lambda: ("acme", "moved.json") not in watched.hashes())
    assert FileChange("acme", "moved.json", None) in watched.changes


@pytest.mark.trio
async def test_slow_in_place_write_ends_on_the_final_content(watched: Recorder) -> None:
    chunks = [bytes([65 + i]) * 4096 for i in range(8)]
    async with await trio.open_file(watched.root / "acme" / "big.wasm", "wb") as out:
        for chunk in chunks:
            await out.write(chunk)
            await out.flush()
            await trio.sleep(0.03)
    final = sha256_bytes(b"".join(chunks))
    await watched.until(lambda: watched.hashes().get(("acme", "big.wasm")) == final)


@pytest.mark.trio
async def test_folder_moved_in_and_out_is_seen_whole(watched: Recorder, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "beta"
    (outside / "sub").mkdir(parents=True)
    (outside / "p.toml").write_bytes(b"p")
    (outside / "sub" / "s.json").write_bytes(b"s")
    os.rename(outside, watched.root / "beta")
    await watched.until(lambda: ("beta", "sub/s.json") in watched.hashes())
    assert ("beta", "p.toml") in watched.hashes()
    os.rename(watched.root / "beta", outside)
    await watched.until(lambda: not any(t == "beta" for t, _ in watched.hashes()))


@pytest.mark.trio
async def test_editor_temp_files_never_show(watched: Recorder) -> None:
    folder = watched.root / "acme"
    for name in (".old.toml.swp", "4913", "old.toml~", "#old.toml#", ".hidden"):
        (folder / name).write_bytes(b"junk")
    (folder / "real.json").write_bytes(b"{}")
    await watched.until(lambda: ("acme", "real.json") in watched.hashes())
    assert {c.path for c in watched.changes} == {"real.json"}


@pytest.mark.trio
async def test_hostile_files_are_published_with_their_reason_and_watching_goes_on(watched: Recorder) -> None:
    acme = watched.root / "acme"
    with fifos_released(acme):
        reasons = plant(acme)
        await watched.until(lambda: {p for _, p in watched.errors()} == set(reasons))
        for path, reason in reasons.items():
            assert reason in watched.errors()[("acme", path)]
            assert FileChange("acme", path, None, watched.errors()[("acme", path)]) in watched.changes
        (acme / "fifo.wasm").unlink()
        (acme / "fifo.wasm").write_bytes(b"fixed")
        (watched.root / "beta").mkdir()
        (watched.root / "beta" / "p.toml").write_bytes(b"p")
        await watched.until(lambda: ("beta", "p.toml") in watched.hashes())
        await watched.until(lambda: watched.hashes()[("acme", "fifo.wasm")] == sha256_bytes(b"fixed"))
