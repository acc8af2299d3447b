"""The blob collector's rule, on a real folder with a clock the test moves."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobico.ctl.api import Catalog, Job, TenantCatalog
from jobico.ctl.blobs import Blobs
from jobico.repo.files import sha256_bytes

GRACE = 60.0


class Clock:
    """Wall-clock time that only moves when the test says (files get real mtimes)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def catalog(*modules: bytes) -> Catalog:
    """A catalog whose one tenant runs ``modules``."""
    jobs = {f"e{i}": Job("acme", "p", f"e{i}", module_sha256=sha256_bytes(m)) for i, m in enumerate(modules)}
    return Catalog(1, {"acme": TenantCatalog(jobs, {})})


def module(i: int) -> bytes:
    return b"\0asm" + str(i).encode()


def on_disk(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def name(i: int) -> str:
    return f"{sha256_bytes(module(i))}.wasm"


def age(folder: Path, clock: Clock) -> None:
    """Make every file look written long before ``clock.now``."""
    for entry in os.listdir(folder):
        os.utime(folder / entry, (clock.now - 10 * GRACE, clock.now - 10 * GRACE), follow_symlinks=False)


def test_cycling_versions_keeps_the_live_and_recent_ones_only(tmp_path: Path) -> None:
    clock = Clock()
    blobs = Blobs(tmp_path / "blobs", keep_versions=2, grace_s=GRACE, clock=clock)
    for i in range(30):
        blobs.store({sha256_bytes(module(i)): module(i)})
        blobs.published(catalog(module(i)))
        age(tmp_path / "blobs", clock)
        clock.now += GRACE + 1  # every earlier version is past its grace
        blobs.collect()
        assert name(i) in on_disk(tmp_path / "blobs")  # the live one, always
    assert on_disk(tmp_path / "blobs") == {name(27), name(28), name(29)}  # live + the 2 before it


def test_a_blob_stays_for_the_grace_period_after_it_was_last_named(tmp_path: Path) -> None:
    clock = Clock()
    blobs = Blobs(tmp_path / "blobs", keep_versions=0, grace_s=GRACE, clock=clock)
    blobs.store({sha256_bytes(module(1)): module(1)})
    blobs.published(catalog(module(1)))
    age(tmp_path / "blobs", clock)
    for i in range(2, 10):  # many versions in quick succession: an executor may be behind
        clock.now += 1
        blobs.store({sha256_bytes(module(i)): module(i)})
        blobs.published(catalog(module(i)))
        assert blobs.collect() == []
    clock.now += GRACE - 8  # module 1 was last named GRACE s ago: now it may go
    assert blobs.collect() == [name(1)]
    assert name(9) in on_disk(tmp_path / "blobs")


def test_blobs_of_before_a_restart_get_the_grace_from_the_start(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "blobs"
    folder.mkdir()
    (folder / name(1)).write_bytes(module(1))
    (folder / f".{name(2)}.abc.tmp").write_bytes(b"half a write, before a crash")
    (folder / "notes.txt").write_text("not ours")
    age(folder, clock)
    blobs = Blobs(folder, keep_versions=0, grace_s=GRACE, clock=clock)
    blobs.published(catalog(module(3)))
    assert blobs.collect() == []
    clock.now += GRACE + 1
    assert blobs.collect() == [f".{name(2)}.abc.tmp", name(1)]
    assert on_disk(folder) == {"notes.txt"}


def test_stored_blobs_are_private(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        Blobs(tmp_path / "blobs").store({sha256_bytes(module(1)): module(1)})
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "blobs").st_mode & 0o777) == oct(0o700)
    assert oct(os.stat(tmp_path / "blobs" / name(1)).st_mode & 0o777) == oct(0o600)
