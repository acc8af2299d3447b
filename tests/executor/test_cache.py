from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.executor.cache import MAGIC
from jobico.executor.engine import Runtime, artifact_cache
from jobico.executor.sandbox import Sandbox

from . import guests

ITEM = b'{"n":1}'


def echo_once(sandbox: Sandbox) -> str:
    loaded = sandbox.load(guests.ECHO, guests.sha256(guests.ECHO))
    return sandbox.run(loaded, ITEM).result


def test_a_restart_loads_the_artifact_instead_of_compiling(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        assert echo_once(first) == ITEM.decode()
        assert echo_once(first) == ITEM.decode()
        assert first.compiles == 1
    (artifact,) = tmp_path.glob(f"{guests.sha256(guests.ECHO)}-*.cwasm")
    assert artifact.read_bytes().startswith(MAGIC)
    with Sandbox(tmp_path) as second:
        assert echo_once(second) == ITEM.decode()
        assert second.compiles == 0
    assert [p.name for p in tmp_path.iterdir()] == [artifact.name]  # no temporary files left


def test_an_executor_loads_what_ctls_check_compiled_instead_of_compiling_it(tmp_path: Path) -> None:
    checker = Runtime(cache=artifact_cache(tmp_path))  # as ctl's, on the default allocator
    checker.prepare(guests.ECHO, "echo.wasm")
    assert checker.compiles == 1
    with Sandbox(tmp_path) as executor:
        assert echo_once(executor) == ITEM.decode()
        assert executor.compiles == 0
    assert len(list(tmp_path.glob("*.cwasm"))) == 1


def test_a_damaged_artifact_is_discarded_and_recompiled(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        echo_once(first)
    (artifact,) = tmp_path.glob("*.cwasm")
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with Sandbox(tmp_path) as second:
        assert echo_once(second) == ITEM.decode()
        assert second.compiles == 1
    with Sandbox(tmp_path) as third:  # the rewritten artifact is good again
        echo_once(third)
        assert third.compiles == 0


def test_a_truncated_artifact_is_recompiled(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as first:
        echo_once(first)
    (artifact,) = tmp_path.glob("*.cwasm")
    artifact.write_bytes(artifact.read_bytes()[:10])
    with Sandbox(tmp_path) as second:
        assert echo_once(second) == ITEM.decode()
        assert second.compiles == 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_002() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def test_the_cache_is_private_whatever_the_umask(tmp_path: Path, umask_002: None) -> None:
    folder = tmp_path / "cache"
    with Sandbox(folder) as sandbox:
        echo_once(sandbox)
    (artifact,) = folder.glob("*.cwasm")
    assert (_mode(folder), _mode(artifact)) == (0o700, 0o600)


def test_a_group_writable_artifact_is_ignored_and_replaced(tmp_path: Path, umask_002: None) -> None:
    with Sandbox(tmp_path) as first:
        echo_once(first)
    (artifact,) = tmp_path.glob("*.cwasm")
    artifact.chmod(0o620)  # a group member could have written native code into it
    with Sandbox(tmp_path) as second:
        assert echo_once(second) == ITEM.decode()
        assert second.compiles == 1
    assert _mode(artifact) == 0o600
    with Sandbox(tmp_path) as third:
        echo_once(third)
        assert third.compiles == 0


def test_artifacts_in_a_group_writable_folder_are_ignored_and_the_folder_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    with Sandbox(folder) as first:
        echo_once(first)
    folder.chmod(0o770)
    with Sandbox(folder) as second:
        echo_once(second)
        assert second.compiles == 1
    assert _mode(folder) == 0o700
    with Sandbox(folder) as third:
        echo_once(third)
        assert third.compiles == 0


def test_an_artifact_owned_by_another_user_is_ignored(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a file to another user")
    with Sandbox(tmp_path) as first:
        echo_once(first)
    (artifact,) = tmp_path.glob("*.cwasm")
    os.chown(artifact, 65534, 65534)
    with Sandbox(tmp_path) as second:
        assert echo_once(second) == ITEM.decode()
        assert second.compiles == 1
    assert artifact.stat().st_uid == os.getuid()  # replaced by our own


def test_a_symlinked_artifact_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    with Sandbox(folder) as first:
        echo_once(first)
    (artifact,) = folder.glob("*.cwasm")
    planted = tmp_path / "planted.cwasm"
    artifact.rename(planted)
    artifact.symlink_to(planted)
    with Sandbox(folder) as second:
        echo_once(second)
        assert second.compiles == 1
    assert not artifact.is_symlink()


def test_cycling_module_versions_keeps_memory_and_disk_bounded(tmp_path: Path) -> None:
    versions = [guests.jobicolet(guests.ECHO_BODY, data=f'(data (i32.const 256) "v{i}")') for i in range(50)]
    with Sandbox(tmp_path, max_modules=8, max_artifacts=10) as sandbox:
        for module in versions:
            loaded = sandbox.load(module, guests.sha256(module))
            assert sandbox.run(loaded, ITEM).result == ITEM.decode()
            assert len(sandbox.modules) <= 8
            assert len(list(tmp_path.glob("*.cwasm"))) <= 10
        assert sandbox.modules == [guests.sha256(m) for m in versions[-8:]]  # least recently used went
        assert sandbox.compiles == 50
    kept = {p.name.split("-")[0] for p in tmp_path.glob("*.cwasm")}
    assert kept == {guests.sha256(m) for m in versions[-10:]}


def test_an_artifact_in_use_stays_while_others_come_and_go(tmp_path: Path) -> None:
    versions = [guests.jobicolet(guests.ECHO_BODY, data=f'(data (i32.const 256) "w{i}")') for i in range(6)]
    with Sandbox(tmp_path, max_modules=2, max_artifacts=3) as sandbox:
        for module in versions:
            sandbox.load(module, guests.sha256(module))
            sandbox.load(guests.ECHO, guests.sha256(guests.ECHO))  # used all the time
        assert guests.sha256(guests.ECHO) in sandbox.modules
    assert len(list(tmp_path.glob("*.cwasm"))) <= 3
