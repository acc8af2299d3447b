"""Issue 13 through a real `jobico up`: hostile tenant files stay one package's load error,
and the files Jobico writes for a tenant are its owner's only."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.e2e.test_catalog import LIVE_S, errors_of, install, run_one
from tests.executor.guests import ECHO, nested_blocks
from tests.repo.hostile import REASONS, fifos_released, plant

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    return module_platform_factory()


def test_a_symlink_loop_and_a_fifo_break_one_package_and_hot_reload_goes_on(home: Platform) -> None:
    evil = home.root / "tenants/evil"
    with fifos_released(evil):
        plant(evil)
        for path in REASONS:
            event = path.removesuffix(".wasm")
            home.write(f"evil/{event}.toml", package({"event": event, "wasm": path}))
        expected = {f"tenants/evil/{path}": reason for path, reason in REASONS.items()}

        def reported() -> dict[str, str]:
            return {e["file"]: e["message"] for e in errors_of(home, "evil")}

        wait_until(lambda: reported().keys() == expected.keys(), 10, "a load error per hostile file")
        for file, message in reported().items():
            assert expected[file] in message, (file, message)

        install(home, "quiet")  # another tenant goes live, as fast as ever
        home.wait_for_event("quiet", "ping", timeout=LIVE_S)
        assert run_one(home, "quiet", "ping", {"name": "Ada"})["result"] == '{"name":"Ada"}'
        install(home, "evil", event="fine")  # and so do the hostile tenant's other packages
        home.wait_for_event("evil", "fine", timeout=LIVE_S)
        (evil / "fifo.wasm").unlink()  # a FIFO replaced by a real module loads
        home.write("evil/fifo.wasm", ECHO)
        home.wait_for_event("evil", "fifo", timeout=LIVE_S)
        assert run_one(home, "evil", "fifo", {"x": 1})["result"] == '{"x":1}'
    assert [home.component(c)["restarts"] for c in ("repo", "ctl")] == [0, 0]


def peak_rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) // 1024


def test_a_module_too_costly_to_compile_is_a_load_error_and_ctl_stays_small(home: Platform) -> None:
    # 6 MB of nested blocks: more than 4 GB to compile, past the default 1024 MB.
    home.write("greedy/blocks.wasm", nested_blocks(2_000_000))
    home.write("greedy/blocks.toml", package({"event": "blocks", "wasm": "blocks.wasm"}))
    wasm = "tenants/greedy/blocks.wasm"  # (the package may first see it missing, while it is written)
    error = wait_until(lambda: next((e for e in errors_of(home, "greedy") if e["file"] == wasm), None),
                       30, f"a load error for {wasm}")
    assert "compiling it needs more than 1024 MB (executor.compile_memory_mb)" in error["message"]
    install(home, "patient")  # another tenant goes live
    home.wait_for_event("patient", "ping", timeout=LIVE_S)
    ctl = home.component("ctl")
    assert ctl["restarts"] == 0 and peak_rss_mb(ctl["pid"]) < 300


def test_a_tenant_whose_module_compiles_slowly_delays_no_other_tenants_reload(
    platform_factory: Factory,
) -> None:
    # Limits raised so that 6 MB of nested blocks compiles for ~10 s (1.7 GB) in ctl's child.
    home = platform_factory(config="[executor]\ncompile_memory_mb = 16384\ncompile_timeout_ms = 60000\n")
    home.write("slow/blocks.wasm", nested_blocks(2_000_000))
    home.write("slow/blocks.toml", package({"event": "blocks", "wasm": "blocks.wasm"}))
    time.sleep(1.0)  # ctl is compiling it now
    install(home, "quick")
    home.wait_for_event("quick", "ping", timeout=5 * LIVE_S)
    assert run_one(home, "quick", "ping", {"name": "Ada"})["result"] == '{"name":"Ada"}'
    slow = home.cli_json("packages", "--tenant", "slow")
    assert not any(doc["version"] for doc in slow), "the quick tenant waited for the slow build"


def modes(folder: Path) -> dict[str, int]:
    """Mode of the folder and of everything under it, by path relative to it."""
    paths = [folder, *folder.rglob("*")]
    return {str(p.relative_to(folder)): stat.S_IMODE(os.stat(p).st_mode) for p in paths}


SECRET_PACKAGE = package({"event": "hook", "wasm": "hook.wasm"},
                         webhook={"secret": "whsec_c2VjcmV0LWtleS1vZi10aGlzLXRlbmFudA=="})


def test_files_the_cli_writes_are_0600_in_0700_folders(home: Platform, tmp_path: Path) -> None:
    (tmp_path / "svc.toml").write_text(SECRET_PACKAGE)
    (tmp_path / "hook.wasm").write_bytes(ECHO)
    home.cli("upload", str(tmp_path / "hook.wasm"), "--tenant", "secretive", "--as", "sub/hook.wasm")
    home.cli("deploy", str(tmp_path / "svc.toml"), "--tenant", "secretive", check=False)
    assert modes(home.root / "tenants/secretive") == {".": 0o700, "sub": 0o700, "sub/hook.wasm": 0o600,
                                                      "svc.toml": 0o600}


def test_files_the_cli_writes_while_the_platform_is_down_are_private_too(
    platform_factory: Factory, tmp_path: Path
) -> None:
    down = platform_factory(name="down", start=False)
    (tmp_path / "svc.toml").write_text(SECRET_PACKAGE)
    down.cli("deploy", str(tmp_path / "svc.toml"), "--tenant", "secretive")
    assert modes(down.root / "tenants/secretive") == {".": 0o700, "svc.toml": 0o600}
