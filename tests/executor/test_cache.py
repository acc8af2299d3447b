from __future__ import annotations

from pathlib import Path

from jobico.executor.cache import MAGIC
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
