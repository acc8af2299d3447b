from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.errors import NotFound, UserError
from jobico.repo import files as files_module
from jobico.repo.files import (
    FileInfo,
    UnusableFile,
    check_id,
    clean_relpath,
    file_info,
    is_ignored,
    list_files,
    read_file,
    resolve,
    sha256_bytes,
    write_file,
)
from jobico.storage.files import atomic_write
from tests.repo.hostile import HUGE, call_within, fifos_released, plant


@pytest.mark.parametrize("good", ["acme", "a", "t-1_x", "0abc", "a" * 63])
def test_valid_tenant_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", "Acme", "-acme", "_a", "a" * 64, "a/b", "a b", "..", 7])
def test_invalid_tenant_ids_name_the_value(bad: object) -> None:
    with pytest.raises(UserError, match=r"tenant .* is not a valid id"):
        check_id(bad)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x.json", r"'\.\.'"),
        ("a/../../x", r"'\.\.'"),
        ("/etc/passwd", "relative"),
        ("a\0b", "NUL"),
        ("", "non-empty"),
        ("a\\b", "'/'"),
    ],
)
def test_paths_that_could_escape_are_rejected(path: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        clean_relpath(path)


def test_clean_relpath_normalises() -> None:
    assert clean_relpath("./sub//x.wasm") == "sub/x.wasm"


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".hidden", True),
        ("sub/.x.swp", True),
        (".git/config", True),
        ("x.toml~", True),
        ("#x.toml#", True),
        ("4913", True),
        ("x.json.tmp", True),
        ("x.toml.swp", True),
        ("x.toml.swx", True),
        ("download.wasm.part", True),
        ("sub/x.wasm", False),
        ("x.toml", False),
    ],
)
def test_editor_and_hidden_files_are_ignored(path: str, ignored: bool) -> None:
    assert is_ignored(path) is ignored


def test_symlink_escaping_the_tenant_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret.json").write_text("{}")
    (tmp_path / "acme" / "link.json").symlink_to(tmp_path / "other" / "secret.json")
    (tmp_path / "acme" / "inside.json").write_text("{}")
    (tmp_path / "acme" / "ok.json").symlink_to("inside.json")
    with pytest.raises(UserError, match=r"'link\.json' of tenant 'acme' escapes"):
        resolve(tmp_path, "acme", "link.json")
    with pytest.raises(UserError, match=r"'link\.json' of tenant 'acme' escapes"):
        read_file(tmp_path, "acme", "link.json")
    assert resolve(tmp_path, "acme", "ok.json") == tmp_path / "acme" / "inside.json"
    listed = {f.path: (f.sha256, f.error) for f in list_files(tmp_path, "acme")}
    assert listed == {  # listed, so a package naming it is told why it cannot be used
        "inside.json": (sha256_bytes(b"{}"), None),
        "link.json": (None, "escapes the tenant folder"),
        "ok.json": (sha256_bytes(b"{}"), None),
    }


def test_write_then_read_round_trips_and_leaves_no_temp(tmp_path: Path) -> None:
    sha = write_file(tmp_path, "acme", "sub/x.wasm", b"one")
    assert sha == sha256_bytes(b"one")
    write_file(tmp_path, "acme", "sub/x.wasm", b"two")
    assert read_file(tmp_path, "acme", "sub/x.wasm") == b"two"
    assert os.listdir(tmp_path / "acme" / "sub") == ["x.wasm"]


def test_write_refuses_names_the_watcher_ignores(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="hidden or temporary"):
        write_file(tmp_path, "acme", ".secret", b"x")


def test_read_missing_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    with pytest.raises(NotFound, match=r"'nope\.json' in tenant 'acme'"):
        read_file(tmp_path, "acme", "nope.json")


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.json"]


def test_listing_skips_invalid_tenant_folders_and_hidden_files(tmp_path: Path) -> None:
    for rel in ("acme/a.toml", "acme/.a.toml.swp", "acme/sub/s.json", "Bad Tenant/x.toml", "b/y"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    listed = [(f.tenant, f.path, f.size) for f in list_files(tmp_path)]
    assert listed == [("acme", "a.toml", 11), ("acme", "sub/s.json", 15), ("b", "y", 3)]


def test_hostile_files_are_listed_with_their_reason_and_never_read(tmp_path: Path) -> None:
    reasons = plant(tmp_path / "acme")
    (tmp_path / "acme" / "ok.json").write_text("{}")
    with fifos_released(tmp_path):
        listed = call_within(10, list_files, tmp_path, "acme")
    by_path = {f.path: f for f in listed}
    assert sorted(by_path) == sorted([*reasons, "ok.json"])  # nothing under the folder loop
    assert by_path["ok.json"].sha256 == sha256_bytes(b"{}") and by_path["ok.json"].error is None
    for path, reason in reasons.items():
        assert by_path[path].sha256 is None and reason in (by_path[path].error or ""), path
        with pytest.raises(UnusableFile, match=re.escape(f"'{path}' of tenant 'acme' {reason}")):
            read_file(tmp_path, "acme", path)


def test_the_cap_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(tmp_path / "acme")
    (tmp_path / "acme" / "small.json").write_bytes(b"x" * 11)
    read: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    with pytest.raises(UnusableFile, match=r"is 21474836480 bytes \(20\.0 GiB\), over the limit of 67108864"):
        read_file(tmp_path, "acme", "huge.wasm")
    with pytest.raises(UnusableFile, match=r"is 11 bytes .* over the limit of 10 bytes"):
        read_file(tmp_path, "acme", "small.json", cap=10)
    assert read == []
    reason = f"is {HUGE} bytes (20.0 GiB), over the limit of 67108864 bytes (64.0 MiB)"
    assert file_info(tmp_path, "acme", "huge.wasm") == FileInfo("acme", "huge.wasm", None, 0, reason)
    assert read == []


def test_a_file_growing_while_read_stops_one_byte_past_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "acme" / "grows.wasm"
    target.parent.mkdir()
    target.write_bytes(b"x" * 8)
    monkeypatch.setattr(files_module, "CHUNK_BYTES", 4)
    read: list[bytes] = []
    real_read = os.read

    def read_while_it_grows(fd: int, n: int) -> bytes:
        with open(target, "ab") as out:  # another process appending as we read
            out.write(b"y" * 64)
        read.append(real_read(fd, n))
        return read[-1]

    monkeypatch.setattr(os, "read", read_while_it_grows)
    with pytest.raises(UnusableFile, match="grew over the limit of 10 bytes while being read"):
        read_file(tmp_path, "acme", "grows.wasm", cap=10)
    assert sum(map(len, read)) == 11


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask of a user sharing files with their group (002): Jobico must not rely on it."""
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_written_files_are_0600_in_0700_folders(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    write_file(tenants, "new", "sub/p.toml", b'[webhook]\nsecret = "whsec_c2VjcmV0"\n')
    assert mode(tenants) == 0o700  # created by Jobico
    assert [mode(tenants / p) for p in ("new", "new/sub", "new/sub/p.toml")] == [0o700, 0o700, 0o600]
    (tenants / "acme" / "sub").mkdir(parents=True)  # made by the user: 0775 under this umask
    (tenants / "acme" / "x.json").write_text("{}")
    tenants.chmod(0o775)
    write_file(tenants, "acme", "x.json", b"{}")  # replaced: its old mode does not survive
    write_file(tenants, "acme", "sub/y.json", b"{}")
    assert [mode(tenants / "acme" / p) for p in (".", "sub", "x.json", "sub/y.json")] == [
        0o700, 0o700, 0o600, 0o600
    ]
    assert mode(tenants) == 0o775  # the drop zone's root stays as the user made it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_tenant_folder_of_another_user_is_not_written_into(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    os.chown(tmp_path / "acme", 65534, 65534)
    with pytest.raises(UserError, match=r"acme belongs to uid 65534, not to you"):
        write_file(tmp_path, "acme", "x.json", b"{}")
    assert not (tmp_path / "acme" / "x.json").exists()
