from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobico.executor import wasi
from jobico.executor.wasi import FloodGuard


def test_flood_guard_cuts_a_capture_past_twice_its_cap(tmp_path: Path) -> None:
    guard = FloodGuard()
    big, small = tmp_path / "big", tmp_path / "small"
    big.write_bytes(b"a" * 100)
    small.write_bytes(b"b" * 20)
    guard.watch([str(big)], 10)
    guard.watch([str(small)], 10)
    guard.check()
    assert big.read_bytes() == b"a" * 11  # the cap and one byte to show there was more
    assert small.read_bytes() == b"b" * 20


def test_a_released_capture_is_left_alone(tmp_path: Path) -> None:
    guard = FloodGuard()
    path = tmp_path / "out"
    path.write_bytes(b"a" * 100)
    guard.watch([str(path)], 10)
    guard.release([str(path)])
    guard.check()
    assert path.stat().st_size == 100


def test_captures_left_by_a_dead_process_are_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(wasi, "SHM", tmp_path)
    stale = tmp_path / f"{wasi.PREFIX}999999999-abc"  # above any pid_max
    stale.mkdir()
    live = tmp_path / f"{wasi.PREFIX}{os.getpid()}-abc"
    live.mkdir()
    root = wasi.scratch_root()
    assert not stale.exists() and live.exists() and root.parent == tmp_path
