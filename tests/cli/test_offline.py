"""Commands that must behave well with nothing running: the first things a new user types."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

JOBICO = [sys.executable, "-m", "jobico.cli.main"]


def ctrl_c_restored() -> None:
    """``preexec_fn`` of a command the test stops with SIGINT (Ctrl-C): a suite run as a
    background job (``make test &``) starts with SIGINT ignored, and Python keeps an
    inherited ignore, so the command would never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOBICO, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_init_makes_a_home_with_a_ready_tenant(tmp_path: Path) -> None:
    done = run("init", str(tmp_path / "h"))
    assert done.returncode == 0, done.stderr
    home = tmp_path / "h"
    assert (home / "jobico.toml").is_file()
    packages = list((home / "tenants").glob("*/*.toml"))
    assert packages, "init must create one ready tenant with a package"
    again = run("init", str(home))
    assert again.returncode != 0
    assert "already a Jobico home" in again.stderr


def test_config_json_reports_values_and_sources(tmp_path: Path) -> None:
    (tmp_path / "jobico.toml").write_text("[listener]\nport = 9123\n")
    done = run("config", "--json", "--home", str(tmp_path), "--set", "executor.workers=3")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["listener"]["port"] == 9123
    assert doc["executor"]["workers"] == 3
    assert doc["sources"]["listener.port"] == str(tmp_path / "jobico.toml")
    assert doc["sources"]["executor.workers"] == "command-line flag executor.workers"


def test_config_error_names_key_and_source(tmp_path: Path) -> None:
    (tmp_path / "jobico.toml").write_text("[executor]\nworkers = 'many'\n")
    done = run("config", "--home", str(tmp_path))
    assert done.returncode == 1
    assert "executor.workers" in done.stderr and "jobico.toml" in done.stderr


def test_home_is_found_upward(tmp_path: Path) -> None:
    (tmp_path / "jobico.toml").write_text("")
    (tmp_path / "a" / "b").mkdir(parents=True)
    done = run("config", "--json", cwd=tmp_path / "a" / "b")
    assert done.returncode == 0, done.stderr


def test_commands_say_plainly_when_nothing_runs(tmp_path: Path) -> None:
    (tmp_path / "jobico.toml").write_text("")
    status = run("status", "--json", "--home", str(tmp_path))
    assert status.returncode == 3
    assert json.loads(status.stdout)["state"] == "stopped"
    for args in (["executions"], ["dead"], ["packages"], ["send", "demo", "greet"], ["pause", "demo"],
                 ["restart", "queue"], ["executions", "--all", "--json"]):
        done = run(*args, "--home", str(tmp_path))
        assert done.returncode == 3, (args, done.stderr)  # SPEC §6: 3 when the home is not running
        assert "not running" in done.stderr and "jobico up" in done.stderr
    down = run("down", "--home", str(tmp_path))
    assert down.returncode == 0 and "not running" in down.stderr


def test_missing_home_is_a_clear_error(tmp_path: Path) -> None:
    done = run("status", "--home", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "not a Jobico home" in done.stderr
