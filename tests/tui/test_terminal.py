"""The dashboard in a real terminal (tmux): what a user sees, not what Pilot simulates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@contextmanager
def terminal(command: list[str]) -> Iterator[str]:
    """Run ``command`` in a detached 120x36 tmux session on a private server; yields its name."""
    server = f"jobico-tui-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", server]
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "120", "-y", "36",
                    "-c", str(ROOT), *command], check=True, env=env, timeout=10)
    try:
        yield server
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, timeout=10)


def screen_shows(server: str, *texts: str) -> str:
    """Poll the pane until every text is on it (bounded); returns what was last seen."""
    deadline = time.monotonic() + WAIT_S
    seen = ""
    while time.monotonic() < deadline:
        seen = subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "t"],
                              capture_output=True, text=True, timeout=10).stdout
        if all(t in seen for t in texts):
            return seen
        time.sleep(0.2)
    return seen


def test_tenant_names_are_on_screen() -> None:
    with terminal([sys.executable, "tests/tui/fixed_app.py"]) as server:
        seen = screen_shows(server, "acme", "globex")
        assert "acme" in seen and "globex" in seen, seen


def test_an_idle_home_says_nothing_runs_there_and_how_to_start_it(tmp_path: Path) -> None:
    (tmp_path / "jobico.toml").write_text("")
    with terminal([sys.executable, "-m", "tui", str(tmp_path)]) as server:
        seen = screen_shows(server, "jobico up", "Nothing is running")
        words = " ".join(seen.replace("\u2588", " ").split())  # unwrap the dialog box
        assert f"Nothing is running in {tmp_path}: run `jobico up` there." in words, seen
