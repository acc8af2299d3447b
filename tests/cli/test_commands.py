"""Issue 16, without a running home: help, version, usage errors, completion, run-guest, send input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobico.cli.app import PANELS, app, order_panels
from jobico.cli.events import read_items
from jobico.cli.main import main  # noqa: F401 - registers every command
from jobico.errors import UserError
from tests.executor import guests

JOBICO = [sys.executable, "-m", "jobico.cli.main"]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOBICO, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, **(env or {})}, input=input)


def commands() -> list[str]:
    order_panels()
    return [c.name or c.callback.__name__ for c in app.registered_commands]


def test_version_and_short_help() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "jobico 0.1.0"
    assert run("-h").returncode == 0


@pytest.mark.parametrize("name", commands())
def test_every_command_has_a_panel_an_example_and_short_help(name: str) -> None:
    command = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == name)
    assert command.rich_help_panel in PANELS
    shown = CliRunner().invoke(app, [name, "-h"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert f"Example: jobico {name}" in shown.output


def test_help_lists_commands_grouped_by_panel_in_order() -> None:
    shown = CliRunner().invoke(app, ["-h"], terminal_width=200).output
    positions = [shown.index(panel) for panel in PANELS]
    assert positions == sorted(positions)
    assert shown.index("send") > shown.index(PANELS[1]) > shown.index("logs")


@pytest.mark.parametrize(
    "args",
    [
        ["executions", "--status", "bogus"],  # choices are enums: a usage error
        ["run-guest", "x.wasm", "--abi", "emscripten"],
        ["purge"],  # neither an id nor --all
        ["replay", "--all"],  # --all without --tenant
        ["up", "--role", "nobody"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "jobico.toml").write_text("")
    done = run(*args, "--home", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr


def _complete(home: Path, line: str) -> list[str]:
    words = line.split(" ")
    done = run(env={"_JOBICO_COMPLETE": "complete_bash", "COMP_WORDS": line,
                    "COMP_CWORD": str(len(words) - 1)}, cwd=home)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_of_tenants_events_and_components(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    for tenant in ("acme", "beta", "Bad Name"):
        (tenants / tenant).mkdir(parents=True)
    (tmp_path / "jobico.toml").write_text("")
    (tenants / "acme" / "signup.toml").write_text(
        '[[jobs]]\nevent = "signup"\nwasm = "a.wasm"\n[[jobs]]\nevent = "sign-off"\nwasm = "a.wasm"\n')
    (tenants / "acme" / "broken.toml").write_text("[[jobs\n")
    logs = tmp_path / ".jobico" / "logs"
    logs.mkdir(parents=True)
    for name in ("queue.log", "queue.log.1", "executor-1.log", "recorder.log"):
        (logs / name).write_text("")
    assert _complete(tmp_path, "jobico send ") == ["acme", "beta"]
    assert _complete(tmp_path, "jobico send a") == ["acme"]
    assert _complete(tmp_path, "jobico send acme sig") == ["sign-off", "signup"]
    assert _complete(tmp_path, "jobico executions --tenant b") == ["beta"]
    assert _complete(tmp_path, "jobico logs ") == ["executor-1", "queue", "recorder"]
    assert _complete(tmp_path, "jobico restart q") == ["queue"]


def test_run_guest_passes_the_item_as_the_webhook_does(tmp_path: Path) -> None:
    """One encoding: compact raw UTF-8 (listener.body.encode), never \\u-escaped."""
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(guests.ECHO)
    done = run("run-guest", str(wasm), "--input", '{"name": "Zoë", "city": "Köln"}', "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == '{"name":"Zoë","city":"Köln"}'


def test_run_guest_failed_run_has_its_own_exit_code(tmp_path: Path) -> None:
    wasm = tmp_path / "fail.wasm"
    wasm.write_bytes(guests.FAIL)
    done = run("run-guest", str(wasm))
    assert done.returncode == 4, done.stderr  # not 2, which is a usage error
    assert "error" in done.stderr


def test_send_reads_json_or_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"a": 1}\n\n{"a": 2}\n[3]\n'))
    assert read_items("@-") == [{"a": 1}, {"a": 2}, [3]]
    monkeypatch.setattr(sys, "stdin", io.StringIO('{\n  "a": [1,\n 2]\n}\n'))
    assert read_items("@-") == [{"a": [1, 2]}]  # one JSON value over several lines
    lines = tmp_path / "items.jsonl"
    lines.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(UserError, match=r"items\.jsonl:2: not valid JSON"):
        read_items(f"@{lines}")
    with pytest.raises(UserError, match=r"argument: not valid JSON"):
        read_items("{nope")
    assert read_items('"x"') == ["x"]

