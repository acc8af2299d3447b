from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobico.errors import NotFound, UserError
from jobico.repo.files import (
    atomic_write,
    check_id,
    clean_relpath,
    is_ignored,
    list_files,
    read_file,
    resolve,
    sha256_bytes,
    write_file,
)


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
