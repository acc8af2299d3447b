"""A home's state is its owner's only: 0700 folders and 0600 files, whatever the umask."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from jobico.errors import UserError
from jobico.home import CONFIG_NAME, Home
from jobico.rpc import trio_shell
from tests.ctl.guests import SCHEMA, jobicolet, package, write_tenant

LOOSE_UMASK = 0o002  # a user who shares files with their group


def exposed(root: Path) -> list[str]:
    """Everything under ``root`` that its group or the world can read, write or enter."""
    paths = [root, *(Path(d, n) for d, dirs, files in os.walk(root) for n in (*dirs, *files))]
    return [
        f"{path.relative_to(root)} {stat.filemode(mode)}"
        for path in paths
        if not stat.S_ISLNK(mode := os.lstat(path).st_mode) and mode & 0o077
    ]


def start(home: Path, component: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JOBICO_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", f"jobico.{component}"], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(LOOSE_UMASK),
    )


def test_components_keep_their_state_private_under_a_loose_umask(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text("")
    write_tenant(tmp_path / "tenants/acme", {"g.wasm": jobicolet(), "s.json": SCHEMA,
                                             "signup.toml": package("signup")})
    home = Home(tmp_path)
    names = ("repo", "ctl", "queue", "recorder")
    processes = [start(tmp_path, name) for name in names]
    try:
        deadline = time.monotonic() + 60
        while not all(home.socket(n).exists() for n in names):
            assert all(p.poll() is None for p in processes), [p.stderr.read() for p in processes if p.stderr]
            assert time.monotonic() < deadline, "components did not start"
            time.sleep(0.05)
        item = {"tenant": "acme", "event": "signup", "items": [b'{"name": "a"}'], "key": "k"}
        trio.run(trio_shell.call, home.socket("queue"), "enqueue", item)
        assert os.listdir(home.blobs)  # ctl wrote the module it publishes
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        for p in processes:
            p.wait(30)
    assert exposed(home.state) == []


def test_ensure_makes_an_older_home_private(tmp_path: Path) -> None:
    old = os.umask(LOOSE_UMASK)
    try:
        for folder in ("logs", "cache/deep", "queue/log"):
            (tmp_path / ".jobico" / folder).mkdir(parents=True)
        (tmp_path / ".jobico/cache/deep/m.artefact").write_bytes(b"native code")
        (tmp_path / ".jobico/logs/ctl.log").write_text("log")
        (tmp_path / "shared.txt").write_text("not Jobico's")
        (tmp_path / ".jobico/logs/link").symlink_to(tmp_path / "shared.txt")
    finally:
        os.umask(old)
    assert len(exposed(tmp_path / ".jobico")) == 8  # 6 folders, 2 files
    Home(tmp_path).ensure()
    assert exposed(tmp_path / ".jobico") == []
    assert stat.S_IMODE(os.stat(tmp_path / ".jobico/cache/deep/m.artefact").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "shared.txt").st_mode) == 0o664  # through a link: untouched
    assert {p.name for p in (tmp_path / ".jobico").iterdir()} >= {"run", "blobs", "recorder"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_state_folder_of_another_user_is_an_error(tmp_path: Path) -> None:
    Home(tmp_path).ensure()
    planted = tmp_path / ".jobico/cache/m.artefact"
    planted.write_bytes(b"native code")
    os.chown(planted, 65534, 65534)  # a file is left to its reader (the cache ignores it)
    Home(tmp_path).ensure()
    os.chown(tmp_path / ".jobico/cache", 65534, 65534)
    with pytest.raises(UserError, match=r"\.jobico/cache belongs to uid 65534, not to you"):
        Home(tmp_path).ensure()
